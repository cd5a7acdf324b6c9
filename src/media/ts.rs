//! MPEG-TS muxer for HLS segments: PAT/PMT with CRC, PES packets with PTS/DTS at 90 kHz, PCR,
//! per-PID continuity counters and adaptation-field stuffing. Input is already in TS form
//! (Annex-B H.264 or HEVC access units, ADTS AAC frames or Opus packets with their control
//! header); the segmenter decides what goes where. H.264/AAC unless [`TsMuxer::set_codecs`] says
//! otherwise.

use super::crc32::crc32_mpeg2;

pub const PACKET_LEN: usize = 188;
const PAYLOAD_LEN: usize = PACKET_LEN - 4;
pub const PAT_PID: u16 = 0x0000;
pub const PMT_PID: u16 = 0x1000;
pub const VIDEO_PID: u16 = 0x0100;
pub const AUDIO_PID: u16 = 0x0101;
pub const STREAM_TYPE_H264: u8 = 0x1b;
pub const STREAM_TYPE_AAC: u8 = 0x0f;
pub const STREAM_TYPE_HEVC: u8 = 0x24;
/// PES private data: Opus, told by its registration descriptor.
pub const STREAM_TYPE_PRIVATE: u8 = 0x06;
const STREAM_ID_VIDEO: u8 = 0xe0;
const STREAM_ID_AUDIO: u8 = 0xc0;
/// private_stream_1, where FFmpeg's muxer puts Opus.
const STREAM_ID_PRIVATE_1: u8 = 0xbd;
const PROGRAM_NUMBER: u16 = 1;
/// PTS, DTS and PCR bases are 33-bit counters that wrap.
const TIMESTAMP_MASK: u64 = (1 << 33) - 1;

/// Which elementary streams the program carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracks {
    pub video: bool,
    pub audio: bool,
}

impl Tracks {
    /// The PID carrying the PCR: video when present, else audio.
    pub fn pcr_pid(&self) -> u16 {
        if self.video || !self.audio {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }
}

/// The video coding of the program's video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TsVideo {
    #[default]
    H264,
    Hevc,
}

/// The audio coding of the program's audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TsAudio {
    #[default]
    Aac,
    /// Opus as DVB/ETSI TS 102 366 carries it (what FFmpeg writes and reads): private data with
    /// a registration descriptor `Opus` and the extension descriptor's channel configuration.
    Opus { channels: u8 },
}

/// Muxes PES packets into 188-byte TS packets, appending to a caller-owned buffer.
#[derive(Debug, Default)]
pub struct TsMuxer {
    tracks: Tracks,
    video_coding: TsVideo,
    audio_coding: TsAudio,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
}

impl TsMuxer {
    pub fn new(tracks: Tracks) -> TsMuxer {
        TsMuxer {
            tracks,
            ..TsMuxer::default()
        }
    }

    pub fn tracks(&self) -> Tracks {
        self.tracks
    }

    /// The audio coding the last tables announced (or will, before any are written).
    pub fn audio(&self) -> TsAudio {
        self.audio_coding
    }

    /// Changes the program's streams; takes effect with the next [`TsMuxer::write_tables`].
    pub fn set_tracks(&mut self, tracks: Tracks) {
        self.tracks = tracks;
    }

    /// Changes the streams' codings; takes effect with the next [`TsMuxer::write_tables`].
    pub fn set_codecs(&mut self, video: TsVideo, audio: TsAudio) {
        self.video_coding = video;
        self.audio_coding = audio;
    }

    /// Writes the PAT and the PMT (each segment starts with them so it decodes on its own).
    pub fn write_tables(&mut self, out: &mut Vec<u8>) {
        let pat = pat_section();
        let cc = next_cc(&mut self.cc_pat);
        write_psi_packet(out, PAT_PID, cc, &pat);
        let pmt = pmt_section(self.tracks, self.video_coding, self.audio_coding);
        let cc = next_cc(&mut self.cc_pmt);
        write_psi_packet(out, PMT_PID, cc, &pmt);
    }

    /// Writes one H.264 or HEVC access unit (Annex-B, AUD first). Times are 90 kHz ticks.
    pub fn write_video(
        &mut self,
        out: &mut Vec<u8>,
        pts: u64,
        dts: u64,
        access_unit: &[u8],
        keyframe: bool,
    ) {
        let header = pes_header(STREAM_ID_VIDEO, pts, Some(dts), access_unit.len());
        let pcr = (self.tracks.pcr_pid() == VIDEO_PID).then_some(dts);
        let mut cc = self.cc_video;
        write_pes(out, VIDEO_PID, &mut cc, &header, access_unit, pcr, keyframe);
        self.cc_video = cc;
    }

    /// Writes one audio access unit: an ADTS frame (header included), or an Opus packet behind
    /// its control header ([`opus_control_header`]).
    pub fn write_audio(&mut self, out: &mut Vec<u8>, pts: u64, adts_frame: &[u8]) {
        let stream_id = match self.audio_coding {
            TsAudio::Aac => STREAM_ID_AUDIO,
            TsAudio::Opus { .. } => STREAM_ID_PRIVATE_1,
        };
        let header = pes_header(stream_id, pts, None, adts_frame.len());
        let pcr = (self.tracks.pcr_pid() == AUDIO_PID).then_some(pts);
        // Audio-only segments start at any frame: every audio PES is a random access point there.
        let random_access = !self.tracks.video;
        let mut cc = self.cc_audio;
        write_pes(
            out,
            AUDIO_PID,
            &mut cc,
            &header,
            adts_frame,
            pcr,
            random_access,
        );
        self.cc_audio = cc;
    }
}

fn next_cc(counter: &mut u8) -> u8 {
    let current = *counter;
    *counter = (current + 1) & 0x0f;
    current
}

fn pat_section() -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&1u16.to_be_bytes()); // transport_stream_id
    body.push(0xc1); // version 0, current_next 1
    body.push(0); // section_number
    body.push(0); // last_section_number
    body.extend_from_slice(&PROGRAM_NUMBER.to_be_bytes());
    body.extend_from_slice(&(0xe000 | PMT_PID).to_be_bytes());
    finish_section(0x00, body)
}

/// The `opus_control_header` (ETSI TS 102 366 annex) before an Opus packet of `size` bytes: the
/// 11-bit prefix 0x3ff, no trim or extension, then the size as 255s and a last byte below 255.
pub fn opus_control_header(size: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x7f, 0xe0]);
    let mut left = size;
    while left >= 255 {
        out.push(0xff);
        left -= 255;
    }
    out.push(left as u8);
}

fn pmt_section(tracks: Tracks, video: TsVideo, audio: TsAudio) -> Vec<u8> {
    let mut body = Vec::with_capacity(32);
    body.extend_from_slice(&PROGRAM_NUMBER.to_be_bytes());
    body.push(0xc1);
    body.push(0);
    body.push(0);
    body.extend_from_slice(&(0xe000 | tracks.pcr_pid()).to_be_bytes());
    body.extend_from_slice(&0xf000u16.to_be_bytes()); // program_info_length 0
    let mut streams: Vec<(u8, u16, Vec<u8>)> = Vec::new();
    if tracks.video {
        let stream_type = match video {
            TsVideo::H264 => STREAM_TYPE_H264,
            TsVideo::Hevc => STREAM_TYPE_HEVC,
        };
        streams.push((stream_type, VIDEO_PID, Vec::new()));
    }
    if tracks.audio {
        match audio {
            TsAudio::Aac => streams.push((STREAM_TYPE_AAC, AUDIO_PID, Vec::new())),
            TsAudio::Opus { channels } => {
                // Registration first: FFmpeg reads the extension descriptor only once the
                // stream is known to be Opus. Channel configuration codes 1..=8 are the counts.
                let code = if (1..=8).contains(&channels) {
                    channels
                } else {
                    2
                };
                let descriptors = vec![0x05, 4, b'O', b'p', b'u', b's', 0x7f, 2, 0x80, code];
                streams.push((STREAM_TYPE_PRIVATE, AUDIO_PID, descriptors));
            }
        }
    }
    for (stream_type, pid, descriptors) in streams {
        body.push(stream_type);
        body.extend_from_slice(&(0xe000 | pid).to_be_bytes());
        body.extend_from_slice(&(0xf000 | descriptors.len() as u16).to_be_bytes());
        body.extend_from_slice(&descriptors);
    }
    finish_section(0x02, body)
}

/// Prefixes table id and section length, appends the CRC.
fn finish_section(table_id: u8, body: Vec<u8>) -> Vec<u8> {
    let section_length = (body.len() + 4) as u16; // + CRC
    let mut section = Vec::with_capacity(3 + body.len() + 4);
    section.push(table_id);
    section.extend_from_slice(&(0xb000 | section_length).to_be_bytes());
    section.extend_from_slice(&body);
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    section
}

fn write_psi_packet(out: &mut Vec<u8>, pid: u16, cc: u8, section: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc, 0x00]);
    out.extend_from_slice(section);
    out.resize(start + PACKET_LEN, 0xff);
}

/// The five-byte PTS/DTS field: 4-bit prefix, then 3+15+15 bits, each run followed by a marker bit.
pub fn encode_timestamp(prefix: u8, ticks: u64) -> [u8; 5] {
    let ts = ticks & TIMESTAMP_MASK;
    [
        (prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1,
        (ts >> 22) as u8,
        (((ts >> 15) as u8 & 0x7f) << 1) | 1,
        (ts >> 7) as u8,
        ((ts as u8 & 0x7f) << 1) | 1,
    ]
}

/// Decodes [`encode_timestamp`]'s output (tests and diagnostics).
pub fn decode_timestamp(field: &[u8; 5]) -> u64 {
    (u64::from(field[0] >> 1 & 0x07) << 30)
        | (u64::from(field[1]) << 22)
        | (u64::from(field[2] >> 1) << 15)
        | (u64::from(field[3]) << 7)
        | u64::from(field[4] >> 1)
}

fn pes_header(stream_id: u8, pts: u64, dts: Option<u64>, payload_len: usize) -> Vec<u8> {
    let dts = dts.filter(|dts| *dts != pts);
    let header_data_len: u8 = if dts.is_some() { 10 } else { 5 };
    // Video PES may be unbounded (length 0); audio frames always fit.
    let packet_len = payload_len + 3 + usize::from(header_data_len);
    let packet_len = if stream_id == STREAM_ID_VIDEO || packet_len > 0xffff {
        0
    } else {
        packet_len as u16
    };
    let mut header = Vec::with_capacity(19);
    header.extend_from_slice(&[0, 0, 1, stream_id]);
    header.extend_from_slice(&packet_len.to_be_bytes());
    header.push(0x80); // marker bits '10', no scrambling, no priority
    match dts {
        Some(dts) => {
            header.push(0xc0);
            header.push(header_data_len);
            header.extend_from_slice(&encode_timestamp(0x3, pts));
            header.extend_from_slice(&encode_timestamp(0x1, dts));
        }
        None => {
            header.push(0x80);
            header.push(header_data_len);
            header.extend_from_slice(&encode_timestamp(0x2, pts));
        }
    }
    header
}

fn encode_pcr(base: u64) -> [u8; 6] {
    let base = base & TIMESTAMP_MASK;
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base as u8 & 1) << 7) | 0x7e, // 6 reserved bits, extension high bit 0
        0,
    ]
}

/// Splits header + payload into TS packets. The first packet carries the PCR and random-access flag
/// when asked; the last is padded with adaptation-field stuffing.
fn write_pes(
    out: &mut Vec<u8>,
    pid: u16,
    cc: &mut u8,
    header: &[u8],
    payload: &[u8],
    pcr: Option<u64>,
    random_access: bool,
) {
    let total = header.len() + payload.len();
    out.reserve(total.div_ceil(PAYLOAD_LEN - 8) * PACKET_LEN + PACKET_LEN);
    let mut written = 0;
    let mut first = true;
    while written < total {
        let mut adaptation: Vec<u8> = Vec::new();
        if first && (pcr.is_some() || random_access) {
            let mut flags = 0u8;
            if random_access {
                flags |= 0x40;
            }
            adaptation.push(0); // length, filled below
            if let Some(pcr) = pcr {
                flags |= 0x10;
                adaptation.push(flags);
                adaptation.extend_from_slice(&encode_pcr(pcr));
            } else {
                adaptation.push(flags);
            }
        }
        let room = PAYLOAD_LEN - adaptation.len();
        let remaining = total - written;
        if remaining < room {
            let stuffing = room - remaining;
            if adaptation.is_empty() {
                adaptation.push(0);
                if stuffing > 1 {
                    adaptation.push(0); // no flags
                    adaptation.resize(stuffing, 0xff);
                }
            } else {
                adaptation.resize(adaptation.len() + stuffing, 0xff);
            }
        }
        if !adaptation.is_empty() {
            adaptation[0] = (adaptation.len() - 1) as u8;
        }
        let chunk = PAYLOAD_LEN - adaptation.len();
        let control = if adaptation.is_empty() { 0x10 } else { 0x30 };
        out.push(0x47);
        out.push((u8::from(first) << 6) | ((pid >> 8) as u8 & 0x1f));
        out.push(pid as u8);
        out.push(control | next_cc(cc));
        out.extend_from_slice(&adaptation);
        copy_range(out, header, payload, written, chunk);
        written += chunk;
        first = false;
    }
}

/// Appends `len` bytes starting at `offset` of the concatenation `first ++ second`.
fn copy_range(out: &mut Vec<u8>, first: &[u8], second: &[u8], offset: usize, len: usize) {
    let end = offset + len;
    if offset < first.len() {
        out.extend_from_slice(&first[offset..end.min(first.len())]);
    }
    if end > first.len() {
        out.extend_from_slice(&second[offset.max(first.len()) - first.len()..end - first.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(data: &[u8]) -> Vec<&[u8]> {
        assert_eq!(data.len() % PACKET_LEN, 0);
        data.chunks(PACKET_LEN).collect()
    }

    fn pid_of(packet: &[u8]) -> u16 {
        (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2])
    }

    /// Reassembles the PES bytes of one PID from whole packets.
    fn payload_of(packets: &[&[u8]], pid: u16) -> Vec<u8> {
        let mut out = Vec::new();
        for packet in packets.iter().filter(|p| pid_of(p) == pid) {
            let start = if packet[3] & 0x20 != 0 {
                5 + usize::from(packet[4])
            } else {
                4
            };
            out.extend_from_slice(&packet[start..]);
        }
        out
    }

    #[test]
    fn pat_matches_the_well_known_bytes() {
        let mut out = Vec::new();
        TsMuxer::new(Tracks {
            video: true,
            audio: true,
        })
        .write_tables(&mut out);
        let packets = packets(&out);
        assert_eq!(packets.len(), 2);
        assert_eq!(
            &packets[0][..21],
            &[
                0x47, 0x40, 0x00, 0x10, 0x00, 0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00,
                0x01, 0xf0, 0x00, 0x2a, 0xb1, 0x04, 0xb2
            ]
        );
        assert!(packets[0][21..].iter().all(|byte| *byte == 0xff));
    }

    #[test]
    fn pmt_lists_streams_and_checks() {
        let mut out = Vec::new();
        TsMuxer::new(Tracks {
            video: true,
            audio: true,
        })
        .write_tables(&mut out);
        let pmt = &out[PACKET_LEN..];
        assert_eq!(pid_of(pmt), PMT_PID);
        let section_len = usize::from(u16::from_be_bytes([pmt[6], pmt[7]]) & 0x0fff);
        let section = &pmt[5..8 + section_len];
        assert_eq!(crc32_mpeg2(section), 0);
        // PCR PID, then H.264 on 0x100 and AAC on 0x101.
        assert_eq!(&section[8..10], &[0xe1, 0x00]);
        assert_eq!(
            &section[12..17],
            &[STREAM_TYPE_H264, 0xe1, 0x00, 0xf0, 0x00]
        );
        assert_eq!(&section[17..22], &[STREAM_TYPE_AAC, 0xe1, 0x01, 0xf0, 0x00]);

        let mut audio_only = Vec::new();
        TsMuxer::new(Tracks {
            video: false,
            audio: true,
        })
        .write_tables(&mut audio_only);
        assert_eq!(&audio_only[PACKET_LEN + 13..PACKET_LEN + 15], &[0xe1, 0x01]);
    }

    #[test]
    fn timestamps_round_trip_with_markers() {
        for ticks in [0u64, 1, 90_000, 0x1_2345_6789, TIMESTAMP_MASK] {
            let field = encode_timestamp(0x2, ticks);
            assert_eq!(field[0] >> 4, 0x2);
            assert_eq!(field[0] & 1, 1);
            assert_eq!(field[2] & 1, 1);
            assert_eq!(field[4] & 1, 1);
            assert_eq!(decode_timestamp(&field), ticks);
        }
        // Past 33 bits the counter wraps.
        assert_eq!(
            decode_timestamp(&encode_timestamp(0x2, TIMESTAMP_MASK + 5)),
            4
        );
        assert_eq!(
            encode_timestamp(0x2, 90_000),
            [0x21, 0x00, 0x05, 0xbf, 0x21]
        );
    }

    #[test]
    fn pes_split_keeps_payload_and_counters() {
        let mut muxer = TsMuxer::new(Tracks {
            video: true,
            audio: true,
        });
        for size in [1usize, 150, 165, 166, 167, 183, 184, 400, 5000] {
            let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
            let mut out = Vec::new();
            muxer.write_video(&mut out, 3600 + 3000, 3600, &payload, true);
            let packets = packets(&out);
            // First packet: payload_unit_start, PCR and random access flags.
            assert_eq!(packets[0][1] & 0x40, 0x40);
            assert_eq!(packets[0][5] & 0x50, 0x50);
            let pes = payload_of(&packets, VIDEO_PID);
            assert_eq!(&pes[..4], &[0, 0, 1, 0xe0]);
            assert_eq!(&pes[19..], &payload[..], "size {size}");
            let pts: [u8; 5] = pes[9..14].try_into().unwrap();
            let dts: [u8; 5] = pes[14..19].try_into().unwrap();
            assert_eq!(decode_timestamp(&pts), 6600);
            assert_eq!(decode_timestamp(&dts), 3600);
        }
        let mut out = Vec::new();
        muxer.write_audio(&mut out, 100, &[0xff; 300]);
        muxer.write_audio(&mut out, 200, &[0xff; 300]);
        let counters: Vec<u8> = packets(&out).iter().map(|p| p[3] & 0x0f).collect();
        assert_eq!(counters, vec![0, 1, 2, 3]);
        // Audio PES without DTS carries its exact length.
        let pes = payload_of(&packets(&out)[..2], AUDIO_PID);
        assert_eq!(u16::from_be_bytes([pes[4], pes[5]]), 300 + 8);
    }

    #[test]
    fn audio_only_puts_pcr_on_audio() {
        let mut muxer = TsMuxer::new(Tracks {
            video: false,
            audio: true,
        });
        let mut out = Vec::new();
        muxer.write_audio(&mut out, 90_000, &[0xff; 10]);
        let packet = packets(&out)[0];
        assert_eq!(pid_of(packet), AUDIO_PID);
        assert_eq!(packet[5] & 0x10, 0x10);
    }
}
