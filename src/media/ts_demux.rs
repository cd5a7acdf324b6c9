//! MPEG-TS demuxer for SRT ingest: 188-byte packets in (any split, resynchronised on the sync
//! byte), elementary-stream units out: H.264, HEVC, AAC (ADTS) and Opus PES payloads with their
//! 90 kHz PTS/DTS. Sans-IO. PAT/PMT pick the program's streams; each PID's PES is assembled in a
//! bounded buffer (a PES past [`MAX_PES_BYTES`] is dropped, never grown). `super::ts_frames` turns
//! the units into FLV-style frames.

/// The largest PES kept, and what all streams' unfinished PES may hold together (a 4K intra frame
/// fits several times over).
pub const MAX_PES_BYTES: usize = 8 << 20;
/// At most this many elementary streams are followed (a real program has two or three).
const MAX_STREAMS: usize = 8;
const PACKET_LEN: usize = 188;

/// The codecs the worker takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    Hevc,
    /// AAC in ADTS frames.
    Aac,
    /// Opus (ETSI TS 102 366 style: a control header before each packet), with its channel count.
    Opus {
        channels: u8,
    },
}

/// One PES payload of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsUnit {
    pub codec: Codec,
    /// 33-bit 90 kHz ticks, as sent.
    pub pts: u64,
    /// Equal to `pts` when the PES carries none.
    pub dts: u64,
    pub data: Vec<u8>,
}

#[derive(Debug)]
struct EsStream {
    pid: u16,
    codec: Codec,
    buf: Vec<u8>,
    /// A PES start was seen and is being assembled.
    open: bool,
    /// The PES length the header announced (0: until the next start).
    expected: usize,
}

/// TS bytes in, [`EsUnit`]s out.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    partial: Vec<u8>,
    pmt_pid: Option<u16>,
    streams: Vec<EsStream>,
    /// Damage seen: lost sync, PES over the bound, unreadable PES headers.
    errors: u64,
}

impl TsDemuxer {
    pub fn new() -> TsDemuxer {
        TsDemuxer::default()
    }

    /// Damage seen so far (resyncs, oversized or unreadable PES).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Feeds bytes; every PES completed by them is appended to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<EsUnit>) {
        if !self.partial.is_empty() {
            let need = PACKET_LEN - self.partial.len();
            let take = need.min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < PACKET_LEN {
                return;
            }
            let packet = std::mem::take(&mut self.partial);
            if packet[0] == 0x47 {
                self.packet(&packet, out);
            } else {
                self.errors += 1;
            }
        }
        while !data.is_empty() {
            if data[0] != 0x47 {
                self.errors += 1;
                let skip = data.iter().position(|b| *b == 0x47).unwrap_or(data.len());
                data = &data[skip..];
                continue;
            }
            if data.len() < PACKET_LEN {
                self.partial.extend_from_slice(data);
                return;
            }
            let (packet, rest) = data.split_at(PACKET_LEN);
            self.packet(packet, out);
            data = rest;
        }
    }

    /// Ends the input: the PES being assembled on each stream is complete.
    pub fn flush(&mut self, out: &mut Vec<EsUnit>) {
        for i in 0..self.streams.len() {
            self.finish(i, out);
        }
    }

    fn packet(&mut self, packet: &[u8], out: &mut Vec<EsUnit>) {
        let start = packet[1] & 0x40 != 0;
        let pid = u16::from(packet[1] & 0x1f) << 8 | u16::from(packet[2]);
        let adaptation = (packet[3] >> 4) & 0x03;
        let mut offset = 4;
        if adaptation & 0x02 != 0 {
            offset += 1 + usize::from(packet[4]);
        }
        if adaptation & 0x01 == 0 || offset >= PACKET_LEN {
            return;
        }
        let payload = &packet[offset..];
        if pid == 0 {
            if start {
                self.pat(payload);
            }
        } else if Some(pid) == self.pmt_pid {
            if start {
                self.pmt(payload);
            }
        } else if let Some(i) = self.streams.iter().position(|s| s.pid == pid) {
            self.es_payload(i, start, payload, out);
        }
    }

    /// The PAT: the first program's PMT PID.
    fn pat(&mut self, payload: &[u8]) {
        let Some(section) = section(payload, 0x00) else {
            return;
        };
        for entry in section.chunks_exact(4) {
            let program = u16::from_be_bytes([entry[0], entry[1]]);
            if program != 0 {
                let pid = u16::from(entry[2] & 0x1f) << 8 | u16::from(entry[3]);
                self.pmt_pid = Some(pid);
                return;
            }
        }
    }

    /// The PMT: which PIDs carry which codec; a stream that stays keeps its buffer.
    fn pmt(&mut self, payload: &[u8]) {
        let Some(section) = section(payload, 0x02) else {
            return;
        };
        if section.len() < 4 {
            return;
        }
        let info_len = usize::from(u16::from_be_bytes([section[2], section[3]]) & 0x0fff);
        let mut rest = section.get(4 + info_len..).unwrap_or_default();
        let mut found = Vec::new();
        while rest.len() >= 5 {
            let stream_type = rest[0];
            let pid = u16::from(rest[1] & 0x1f) << 8 | u16::from(rest[2]);
            let es_len = usize::from(u16::from_be_bytes([rest[3], rest[4]]) & 0x0fff);
            let descriptors = rest.get(5..5 + es_len).unwrap_or_default();
            if let Some(codec) = codec_of(stream_type, descriptors) {
                if found.len() < MAX_STREAMS {
                    found.push((pid, codec));
                }
            }
            rest = rest.get(5 + es_len..).unwrap_or_default();
        }
        let mut old = std::mem::take(&mut self.streams);
        for (pid, codec) in found {
            let kept = old
                .iter()
                .position(|s| s.pid == pid && s.codec == codec)
                .map(|i| old.swap_remove(i));
            self.streams.push(kept.unwrap_or(EsStream {
                pid,
                codec,
                buf: Vec::new(),
                open: false,
                expected: 0,
            }));
        }
    }

    fn es_payload(&mut self, i: usize, start: bool, payload: &[u8], out: &mut Vec<EsUnit>) {
        if start {
            self.finish(i, out);
            let stream = &mut self.streams[i];
            stream.open = true;
            stream.expected = 0;
            if payload.len() >= 6 && payload[..3] == [0, 0, 1] {
                let len = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
                stream.expected = if len == 0 { 0 } else { len + 6 };
            }
        }
        if !self.streams[i].open {
            return;
        }
        let held: usize = self.streams.iter().map(|s| s.buf.len()).sum();
        let stream = &mut self.streams[i];
        if held + payload.len() > MAX_PES_BYTES {
            stream.buf = Vec::new();
            stream.open = false;
            self.errors += 1;
            return;
        }
        stream.buf.extend_from_slice(payload);
        if stream.expected != 0 && stream.buf.len() >= stream.expected {
            self.finish(i, out);
        }
    }

    /// The PES assembled on stream `i` is complete: parse its header, hand out its payload.
    fn finish(&mut self, i: usize, out: &mut Vec<EsUnit>) {
        let stream = &mut self.streams[i];
        if !stream.open {
            return;
        }
        stream.open = false;
        let mut pes = std::mem::take(&mut stream.buf);
        if stream.expected != 0 && pes.len() > stream.expected {
            pes.truncate(stream.expected);
        }
        match pes_header(&pes) {
            Some((pts, dts, header_len)) => {
                pes.drain(..header_len);
                if !pes.is_empty() {
                    out.push(EsUnit {
                        codec: stream.codec,
                        pts,
                        dts,
                        data: pes,
                    });
                }
            }
            None => self.errors += 1,
        }
    }
}

/// The section body after the common header, up to the CRC, of a PSI packet's payload.
fn section(payload: &[u8], table_id: u8) -> Option<&[u8]> {
    let pointer = usize::from(*payload.first()?);
    let table = payload.get(1 + pointer..)?;
    if *table.first()? != table_id || table.len() < 8 {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([table[1], table[2]]) & 0x0fff);
    // Header (3) + the 5 bytes of id/version/section numbers, minus the 4-byte CRC.
    let end = (3 + length).checked_sub(4)?;
    table.get(8..end)
}

fn codec_of(stream_type: u8, descriptors: &[u8]) -> Option<Codec> {
    match stream_type {
        0x1b => Some(Codec::H264),
        0x24 => Some(Codec::Hevc),
        0x0f => Some(Codec::Aac),
        0x06 => opus_descriptor(descriptors),
        _ => None,
    }
}

/// Opus is private data (0x06) with a registration descriptor `Opus`; its channel count is in the
/// DVB extension descriptor (0x7f, tag 0x80), else stereo.
fn opus_descriptor(mut descriptors: &[u8]) -> Option<Codec> {
    let mut opus = false;
    let mut channels = 2;
    while descriptors.len() >= 2 {
        let (tag, len) = (descriptors[0], usize::from(descriptors[1]));
        let body = descriptors.get(2..2 + len)?;
        match tag {
            0x05 if body == b"Opus" => opus = true,
            0x7f if body.len() >= 2 && body[0] == 0x80 && (1..=8).contains(&body[1]) => {
                channels = body[1];
            }
            _ => {}
        }
        descriptors = &descriptors[2 + len..];
    }
    opus.then_some(Codec::Opus { channels })
}

/// (PTS, DTS, header length) of a PES; `None` when it is not one or carries no PTS.
fn pes_header(pes: &[u8]) -> Option<(u64, u64, usize)> {
    if pes.len() < 9 || pes[..3] != [0, 0, 1] {
        return None;
    }
    let flags = pes[7] >> 6;
    let header_len = 9 + usize::from(pes[8]);
    if header_len > pes.len() || flags & 0x02 == 0 {
        return None;
    }
    let pts = timestamp(pes.get(9..14)?);
    let dts = if flags == 0x03 {
        timestamp(pes.get(14..19)?)
    } else {
        pts
    };
    Some((pts, dts, header_len))
}

fn timestamp(b: &[u8]) -> u64 {
    (u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | u64::from(b[2] >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4] >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sample_frames::publish;
    use crate::media::ts_file::TsFileWriter;

    fn muxed() -> Vec<u8> {
        let mut writer = TsFileWriter::new();
        let mut out = Vec::new();
        for (kind, ts, payload) in publish(0, 2, 25) {
            writer.push(kind, ts, &payload, &mut out);
        }
        out
    }

    #[test]
    fn reads_back_what_the_muxer_wrote_in_any_split() {
        let ts = muxed();
        let mut whole = Vec::new();
        let mut demux = TsDemuxer::new();
        demux.push(&ts, &mut whole);
        demux.flush(&mut whole);
        assert!(whole.iter().any(|u| u.codec == Codec::H264));
        assert!(whole.iter().any(|u| u.codec == Codec::Aac));
        assert_eq!(demux.errors(), 0);
        let mut split = Vec::new();
        let mut demux = TsDemuxer::new();
        for piece in ts.chunks(100) {
            demux.push(piece, &mut split);
        }
        demux.flush(&mut split);
        assert_eq!(whole, split);
    }

    #[test]
    fn garbage_resyncs_and_never_panics() {
        let mut ts = vec![1, 2, 3, 0x47, 0, 0];
        ts.extend(muxed());
        let mut out = Vec::new();
        let mut demux = TsDemuxer::new();
        demux.push(&ts, &mut out);
        demux.flush(&mut out);
        assert!(demux.errors() > 0);
        assert!(out.iter().any(|u| u.codec == Codec::H264));
        for len in 0..400 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 71 % 256) as u8 | 0x40).collect();
            demux.push(&junk, &mut out);
        }
    }

    #[test]
    fn an_oversized_pes_is_dropped_not_grown() {
        use crate::media::ts::{Tracks, TsMuxer};
        let mut muxer = TsMuxer::new(Tracks {
            video: true,
            audio: false,
        });
        let mut ts = Vec::new();
        muxer.write_tables(&mut ts);
        muxer.write_video(&mut ts, 0, 0, &vec![7u8; MAX_PES_BYTES + 1000], true);
        muxer.write_video(&mut ts, 3600, 3600, &[0, 0, 1, 0x65, 1], true);
        let mut out = Vec::new();
        let mut demux = TsDemuxer::new();
        demux.push(&ts, &mut out);
        demux.flush(&mut out);
        assert_eq!(demux.errors(), 1);
        assert_eq!(out.len(), 1, "only the small unit");
        assert_eq!(out[0].pts, 3600);
    }

    #[test]
    fn opus_needs_its_registration_descriptor() {
        let descriptors = [0x05, 4, b'O', b'p', b'u', b's', 0x7f, 2, 0x80, 1];
        assert_eq!(
            codec_of(0x06, &descriptors),
            Some(Codec::Opus { channels: 1 })
        );
        assert_eq!(codec_of(0x06, &[]), None);
        assert_eq!(codec_of(0x06, &[0x05, 9, 1]), None);
    }
}
