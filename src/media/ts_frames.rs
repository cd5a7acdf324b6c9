//! Elementary-stream units from the MPEG-TS demuxer (`super::ts_demux`) → FLV-style frames (tag
//! kind, millisecond timestamp, tag body) for the hub: H.264 Annex-B → AVC sequence header + AVCC
//! frames, HEVC → E-RTMP `hvc1` (hvcC built from VPS/SPS/PPS), ADTS AAC → AudioSpecificConfig + raw
//! frames, Opus → E-RTMP `Opus` (OpusHead + packets). A sequence header goes out first and again
//! whenever the parameter sets change. Timestamps: 33-bit 90 kHz → ms from the first unit,
//! wrap-around unwrapped.

use super::ertmp::{self, AudioPacketType, FourCc, VideoPacketType};
use super::flv::TagKind;
use super::ts_demux::{Codec, EsUnit};
use bytes::Bytes;

/// One frame for the hub: (kind, ms, FLV tag body).
pub type FlvFrame = (TagKind, u32, Bytes);

const WRAP: i64 = 1 << 33;
/// The largest parameter set kept (an SPS is tens of bytes; VUI and scaling lists stay far below).
const MAX_PARAMETER_SET: usize = 1024;

/// Units in, frames out, per publish.
#[derive(Debug, Default)]
pub struct TsFrames {
    clock: Clock,
    avc: ParamSets,
    hevc: ParamSets,
    aac_config: Option<[u8; 2]>,
    opus_started: bool,
    /// Video frames are held back until the first keyframe after a configuration.
    video_key_seen: bool,
    /// Units that could not be turned into frames (no configuration yet, malformed), and audio
    /// frames dropped for stepping back in time.
    dropped: u64,
    /// The last coded audio frame's timestamp: see [`TsFrames::audio_goes_back`].
    last_audio: Option<u32>,
    /// Puts audio bursts and video back on one timeline.
    interleave: super::interleave::Interleaver,
    made: Vec<FlvFrame>,
}

/// Unwraps 33-bit timestamps into one monotonic line from the first DTS seen.
#[derive(Debug, Default)]
struct Clock {
    last_raw: Option<i64>,
    last: i64,
    base: i64,
}

impl Clock {
    fn unwrap(&mut self, raw: u64) -> i64 {
        let raw = (raw & (WRAP as u64 - 1)) as i64;
        match self.last_raw {
            None => {
                self.last_raw = Some(raw);
                self.last = raw;
                self.base = raw;
                raw
            }
            Some(prev) => {
                let mut delta = (raw - prev).rem_euclid(WRAP);
                if delta >= WRAP / 2 {
                    delta -= WRAP;
                }
                // Only forward steps move the reference: audio a little behind video stays
                // behind, it does not drag the line back.
                let value = self.last + delta;
                if delta > 0 {
                    self.last_raw = Some(raw);
                    self.last = value;
                }
                value
            }
        }
    }

    fn ms(&mut self, raw: u64) -> u32 {
        let ticks = self.unwrap(raw) - self.base;
        (ticks.max(0) / 90).min(i64::from(u32::MAX)) as u32
    }
}

/// The parameter sets of one video codec, and whether they changed since the last header.
#[derive(Debug, Default)]
struct ParamSets {
    vps: Option<Vec<u8>>,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    changed: bool,
}

impl ParamSets {
    fn set(slot: &mut Option<Vec<u8>>, nalu: &[u8], changed: &mut bool) {
        if nalu.len() <= MAX_PARAMETER_SET && slot.as_deref() != Some(nalu) {
            *slot = Some(nalu.to_vec());
            *changed = true;
        }
    }
}

impl TsFrames {
    pub fn new() -> TsFrames {
        TsFrames::default()
    }

    /// Units that made no frame.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether video goes out as it comes rather than held for the audio bursts
    /// ([`super::interleave::Interleaver::set_prompt`]).
    pub fn set_prompt(&mut self, prompt: bool) {
        self.interleave.set_prompt(prompt);
    }

    /// Turns one unit into frames; those whose turn has come (in timestamp order across the
    /// tracks) are appended to `out`.
    pub fn push(&mut self, unit: &EsUnit, out: &mut Vec<FlvFrame>) {
        let dts = self.clock.ms(unit.dts);
        let pts = self.clock.ms(unit.pts).max(dts);
        let cts = (pts - dts).min(0x7f_ffff) as i32;
        let mut made = std::mem::take(&mut self.made);
        match unit.codec {
            Codec::H264 => self.h264(&unit.data, dts, cts, &mut made),
            Codec::Hevc => self.hevc(&unit.data, dts, cts, &mut made),
            Codec::Aac => self.aac(&unit.data, pts, &mut made),
            Codec::Opus { channels } => self.opus(&unit.data, pts, channels, &mut made),
        }
        if made.is_empty() {
            self.dropped += 1;
        }
        for mut frame in made.drain(..) {
            if frame.0 == TagKind::Audio && self.audio_goes_back(&mut frame) {
                self.dropped += 1;
                continue;
            }
            self.interleave.push(frame, out);
        }
        self.made = made;
    }

    /// Whether a coded audio frame steps back in time, so it must be dropped: a PES that lost its
    /// successor's header (SRT drops packets that come too late) carries the next PES's frames
    /// on its own timestamps, which then overlap the next PES, and RTMP/FLV players refuse a
    /// track whose timestamps go back. A configuration record is kept at the last timestamp.
    fn audio_goes_back(&mut self, frame: &mut FlvFrame) -> bool {
        let last = self.last_audio.unwrap_or(0);
        if is_audio_config(&frame.2) {
            frame.1 = frame.1.max(last);
            return false;
        }
        if self.last_audio.is_some() && frame.1 <= last {
            return true;
        }
        self.last_audio = Some(frame.1);
        false
    }

    /// The frames still held for interleaving (the input ended).
    pub fn flush(&mut self, out: &mut Vec<FlvFrame>) {
        self.interleave.flush(out);
    }

    fn h264(&mut self, data: &[u8], dts: u32, cts: i32, out: &mut Vec<FlvFrame>) {
        let mut body = Vec::with_capacity(data.len() + 16);
        let mut key = false;
        for nalu in annexb_units(data) {
            match nalu[0] & 0x1f {
                7 => ParamSets::set(&mut self.avc.sps, nalu, &mut self.avc.changed),
                8 => ParamSets::set(&mut self.avc.pps, nalu, &mut self.avc.changed),
                9 => {}
                t => {
                    key |= t == 5;
                    push_avcc(&mut body, nalu);
                }
            }
        }
        if self.avc.changed {
            if let (Some(sps), Some(pps)) = (&self.avc.sps, &self.avc.pps) {
                if sps.len() >= 4 {
                    out.push((TagKind::Video, dts, avc_sequence_header(sps, pps)));
                    self.avc.changed = false;
                    self.video_key_seen = false;
                }
            }
        }
        if body.is_empty() || self.avc.sps.is_none() || !self.keyframe_gate(key) {
            return;
        }
        let mut tag = Vec::with_capacity(body.len() + 5);
        tag.push(if key { 0x17 } else { 0x27 });
        tag.push(1);
        tag.extend_from_slice(&cts.to_be_bytes()[1..]);
        tag.extend_from_slice(&body);
        out.push((TagKind::Video, dts, Bytes::from(tag)));
    }

    fn hevc(&mut self, data: &[u8], dts: u32, cts: i32, out: &mut Vec<FlvFrame>) {
        let mut body = Vec::with_capacity(data.len() + 16);
        let mut key = false;
        let sets = &mut self.hevc;
        for nalu in annexb_units(data).filter(|n| n.len() >= 2) {
            match (nalu[0] >> 1) & 0x3f {
                32 => ParamSets::set(&mut sets.vps, nalu, &mut sets.changed),
                33 => ParamSets::set(&mut sets.sps, nalu, &mut sets.changed),
                34 => ParamSets::set(&mut sets.pps, nalu, &mut sets.changed),
                35 => {}
                t => {
                    key |= super::hevc::IRAP.contains(&t);
                    push_avcc(&mut body, nalu);
                }
            }
        }
        if sets.changed {
            if let (Some(vps), Some(sps), Some(pps)) = (&sets.vps, &sets.sps, &sets.pps) {
                if let Some(record) = hvcc_record(vps, sps, pps) {
                    let mut tag = Vec::with_capacity(record.len() + 5);
                    ertmp::write_video(
                        &mut tag,
                        ertmp::FRAME_TYPE_KEY,
                        VideoPacketType::SequenceStart,
                        FourCc::HVC1,
                        0,
                        &record,
                    );
                    out.push((TagKind::Video, dts, Bytes::from(tag)));
                    sets.changed = false;
                    self.video_key_seen = false;
                }
            }
        }
        if body.is_empty() || self.hevc.sps.is_none() || !self.keyframe_gate(key) {
            return;
        }
        let frame_type = if key {
            ertmp::FRAME_TYPE_KEY
        } else {
            ertmp::FRAME_TYPE_INTER
        };
        let mut tag = Vec::with_capacity(body.len() + 8);
        ertmp::write_video(
            &mut tag,
            frame_type,
            VideoPacketType::CodedFrames,
            FourCc::HVC1,
            cts,
            &body,
        );
        out.push((TagKind::Video, dts, Bytes::from(tag)));
    }

    /// Whether a video frame may go out: from the first keyframe after a configuration on.
    fn keyframe_gate(&mut self, key: bool) -> bool {
        self.video_key_seen |= key;
        self.video_key_seen
    }

    fn aac(&mut self, mut data: &[u8], pts: u32, out: &mut Vec<FlvFrame>) {
        let mut index = 0u32;
        while let Some(adts) = Adts::parse(data) {
            let config = adts.audio_specific_config();
            if self.aac_config != Some(config) {
                self.aac_config = Some(config);
                let tag = Bytes::from(vec![0xaf, 0, config[0], config[1]]);
                out.push((TagKind::Audio, pts, tag));
            }
            let raw = &data[adts.header_len..adts.frame_len];
            if !raw.is_empty() {
                // 1024 samples a frame.
                let offset = u64::from(index) * 1024 * 1000 / u64::from(adts.sample_rate);
                let mut tag = Vec::with_capacity(raw.len() + 2);
                tag.extend_from_slice(&[0xaf, 1]);
                tag.extend_from_slice(raw);
                out.push((TagKind::Audio, pts + offset as u32, Bytes::from(tag)));
            }
            data = &data[adts.frame_len..];
            index += 1;
        }
    }

    fn opus(&mut self, mut data: &[u8], pts: u32, channels: u8, out: &mut Vec<FlvFrame>) {
        if !self.opus_started {
            self.opus_started = true;
            let mut tag = Vec::with_capacity(24);
            ertmp::write_audio(
                &mut tag,
                AudioPacketType::SequenceStart,
                FourCc::OPUS,
                &opus_head(channels),
            );
            out.push((TagKind::Audio, pts, Bytes::from(tag)));
        }
        let mut offset_us = 0u64;
        while let Some((packet, rest)) = opus_access_unit(data) {
            if !packet.is_empty() {
                let mut tag = Vec::with_capacity(packet.len() + 5);
                ertmp::write_audio(&mut tag, AudioPacketType::CodedFrames, FourCc::OPUS, packet);
                let ts = pts + (offset_us / 1000) as u32;
                out.push((TagKind::Audio, ts, Bytes::from(tag)));
                offset_us += opus_duration_us(packet);
            }
            data = rest;
        }
    }
}

/// The NAL units of an Annex-B byte stream (3- or 4-byte start codes), empty ones skipped.
pub fn annexb_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|s| s - 3)
        .chain(std::iter::once(data.len()))
        .collect();
    starts.into_iter().zip(ends).filter_map(move |(s, e)| {
        // A 4-byte start code leaves its leading zero at the end of the previous unit.
        let mut end = e;
        while end > s && data[end - 1] == 0 {
            end -= 1;
        }
        (end > s).then(|| &data[s..end])
    })
}

fn push_avcc(out: &mut Vec<u8>, nalu: &[u8]) {
    out.extend_from_slice(&(nalu.len() as u32).to_be_bytes());
    out.extend_from_slice(nalu);
}

/// The FLV AVC sequence header: an AVCDecoderConfigurationRecord with one SPS and one PPS.
fn avc_sequence_header(sps: &[u8], pps: &[u8]) -> Bytes {
    let mut tag = vec![0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    tag.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    tag.extend_from_slice(sps);
    tag.push(1);
    tag.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    tag.extend_from_slice(pps);
    Bytes::from(tag)
}

/// The HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3) from one VPS, SPS and PPS; the
/// profile, tier and level come from the SPS's profile_tier_level.
fn hvcc_record(vps: &[u8], sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    let rbsp = super::avc::remove_emulation_prevention(sps.get(2..)?);
    // sps_video_parameter_set_id(4) max_sub_layers(3) nesting(1), then 12 bytes of general PTL.
    let ptl = rbsp.get(1..13)?;
    let mut record = Vec::with_capacity(23 + vps.len() + sps.len() + pps.len() + 15);
    record.push(1);
    record.extend_from_slice(ptl);
    record.extend_from_slice(&[0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0]);
    // constantFrameRate 0, one temporal layer, nested, 4-byte NAL lengths.
    record.push(0x0f);
    record.push(3);
    for (nal_type, nalu) in [(32u8, vps), (33, sps), (34, pps)] {
        record.push(0x80 | nal_type);
        record.extend_from_slice(&1u16.to_be_bytes());
        record.extend_from_slice(&(nalu.len() as u16).to_be_bytes());
        record.extend_from_slice(nalu);
    }
    Some(record)
}

/// One ADTS frame header.
struct Adts {
    header_len: usize,
    frame_len: usize,
    profile: u8,
    rate_index: u8,
    sample_rate: u32,
    channels: u8,
}

const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

impl Adts {
    fn parse(data: &[u8]) -> Option<Adts> {
        if data.len() < 7 || data[0] != 0xff || data[1] & 0xf0 != 0xf0 {
            return None;
        }
        let header_len = if data[1] & 0x01 == 0 { 9 } else { 7 };
        let rate_index = (data[2] >> 2) & 0x0f;
        let frame_len = usize::from(data[3] & 0x03) << 11
            | usize::from(data[4]) << 3
            | usize::from(data[5] >> 5);
        if frame_len < header_len || frame_len > data.len() {
            return None;
        }
        Some(Adts {
            header_len,
            frame_len,
            profile: data[2] >> 6,
            rate_index,
            sample_rate: *AAC_RATES.get(usize::from(rate_index))?,
            channels: (data[2] & 0x01) << 2 | data[3] >> 6,
        })
    }

    /// The 2-byte AudioSpecificConfig: object type (profile + 1), rate index, channels.
    fn audio_specific_config(&self) -> [u8; 2] {
        let object = self.profile + 1;
        [
            object << 3 | self.rate_index >> 1,
            (self.rate_index & 1) << 7 | self.channels << 3,
        ]
    }
}

/// Whether an FLV audio tag body is a configuration record: AAC's sequence header (format 10,
/// packet type 0) or E-RTMP's sequence start (format 9, packet type 0).
fn is_audio_config(body: &[u8]) -> bool {
    match body.first() {
        Some(b) if b >> 4 == 10 => body.get(1) == Some(&0),
        Some(b) if b >> 4 == 9 => b & 0x0f == 0,
        _ => false,
    }
}

/// The OpusHead (RFC 7845 §5.1) for `channels`, mapping family 0, 48 kHz, the usual pre-skip.
fn opus_head(channels: u8) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(channels);
    head.extend_from_slice(&3840u16.to_le_bytes());
    head.extend_from_slice(&48000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

/// One Opus access unit of a PES (ETSI TS 102 366 annex: `0x7fe` control header, size bytes, the
/// optional trim and extension fields) and what follows it.
fn opus_access_unit(data: &[u8]) -> Option<(&[u8], &[u8])> {
    if data.len() < 2 || data[0] != 0x7f || data[1] & 0xe0 != 0xe0 {
        return None;
    }
    let (start_trim, end_trim, extension) = (
        data[1] & 0x10 != 0,
        data[1] & 0x08 != 0,
        data[1] & 0x04 != 0,
    );
    let mut pos = 2;
    let mut size = 0usize;
    loop {
        let b = *data.get(pos)?;
        pos += 1;
        size += usize::from(b);
        if b != 0xff {
            break;
        }
    }
    pos += 2 * usize::from(start_trim) + 2 * usize::from(end_trim);
    if extension {
        pos += 1 + usize::from(*data.get(pos)?);
    }
    let end = pos.checked_add(size)?;
    Some((data.get(pos..end)?, &data[end..]))
}

/// An Opus packet's duration from its TOC byte (RFC 6716 §3.1).
fn opus_duration_us(packet: &[u8]) -> u64 {
    let Some(toc) = packet.first() else {
        return 0;
    };
    let config = toc >> 3;
    let frame_us: u64 = match config {
        0..=11 => [10_000, 20_000, 40_000, 60_000][usize::from(config % 4)],
        12..=15 => [10_000, 20_000][usize::from(config % 2)],
        _ => [2_500, 5_000, 10_000, 20_000][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => packet.get(1).map_or(1, |b| u64::from(b & 0x3f)),
    };
    frame_us * frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sample_frames::publish;
    use crate::media::ts_demux::TsDemuxer;
    use crate::media::ts_file::TsFileWriter;

    #[test]
    fn an_flv_publish_survives_a_ts_round_trip() {
        let frames = publish(0, 2, 25);
        let mut writer = TsFileWriter::new();
        let mut ts = Vec::new();
        for (kind, t, payload) in &frames {
            writer.push(*kind, *t, payload, &mut ts);
        }
        let mut units = Vec::new();
        let mut demux = TsDemuxer::new();
        demux.push(&ts, &mut units);
        demux.flush(&mut units);
        let mut out = Vec::new();
        let mut conv = TsFrames::new();
        for unit in &units {
            conv.push(unit, &mut out);
        }
        conv.flush(&mut out);
        let video: Vec<_> = out.iter().filter(|f| f.0 == TagKind::Video).collect();
        let original: Vec<_> = frames.iter().filter(|f| f.0 == TagKind::Video).collect();
        assert_eq!(video.len(), original.len());
        assert_eq!(video[0].2, original[0].2, "the same sequence header");
        assert_eq!(video[1].2, original[1].2, "the same keyframe");
        assert_eq!(video.last().unwrap().1, original.last().unwrap().1);
        let audio = out.iter().filter(|f| f.0 == TagKind::Audio).count();
        let original_audio = frames.iter().filter(|f| f.0 == TagKind::Audio).count();
        assert_eq!(audio, original_audio);
        assert_eq!(
            out.iter().find(|f| f.0 == TagKind::Audio).unwrap().2[..],
            [0xaf, 0, 0x12, 0x10]
        );
    }

    #[test]
    fn timestamps_unwrap_across_33_bits() {
        let mut clock = Clock::default();
        let near_end = (1u64 << 33) - 90 * 40;
        assert_eq!(clock.ms(near_end), 0);
        assert_eq!(clock.ms(near_end + 90 * 20), 20);
        assert_eq!(clock.ms(90 * 60 - 90 * 40), 60);
        // A unit a little behind (audio before video) stays behind, clamped at the start.
        assert_eq!(clock.ms(90 * 10), 50);
        assert_eq!(clock.ms(near_end - 90 * 1000), 0);
    }

    #[test]
    fn opus_units_and_durations() {
        let mut pes = vec![0x7f, 0xe0, 3, 0xfc, 1, 2];
        pes.extend_from_slice(&[0x7f, 0xe0, 1, 0xfc]);
        let (first, rest) = opus_access_unit(&pes).unwrap();
        assert_eq!(first, [0xfc, 1, 2]);
        assert_eq!(opus_duration_us(first), 20_000);
        let mut frames = TsFrames::new();
        let mut out = Vec::new();
        frames.opus(&pes, 100, 2, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].1, 120);
        assert!(opus_access_unit(rest).is_some());
        assert!(opus_access_unit(&[0x7f, 0xe0, 0xff]).is_none());
    }

    #[test]
    fn hevc_parameter_sets_make_a_record_the_worker_reads() {
        // VPS/SPS/PPS headers with a plausible profile_tier_level (Main, level 3.1).
        let vps = [0x40, 0x01, 0x0c, 0x01, 0xff, 0xff];
        let mut sps = vec![
            0x42, 0x01, 0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d,
        ];
        sps.extend_from_slice(&[0xa0, 0x02, 0x80, 0x80, 0x2d]);
        let pps = [0x44, 0x01, 0xc1, 0x72];
        let record = hvcc_record(&vps, &sps, &pps).unwrap();
        let config = crate::media::hevc::HevcConfig::parse(&record).unwrap();
        assert_eq!(config.profile_idc, 1);
        assert_eq!(config.level_idc, 0x5d);
        assert_eq!(config.nalu_length_size, 4);
        assert_eq!(config.sps.as_deref(), Some(&sps[..]));
    }

    /// ADTS frames of AAC-LC, 48 kHz stereo, with `len` payload bytes each.
    fn adts(frames: usize, len: usize) -> Vec<u8> {
        let total = len + 7;
        let mut out = Vec::new();
        for _ in 0..frames {
            out.extend_from_slice(&[
                0xff,
                0xf1,
                (1 << 6) | (3 << 2),
                (2 << 6) | ((total >> 11) as u8 & 0x03),
                (total >> 3) as u8,
                ((total & 7) as u8) << 5 | 0x1f,
                0xfc,
            ]);
            out.extend(std::iter::repeat_n(0x21, len));
        }
        out
    }

    #[test]
    fn audio_that_would_step_back_is_dropped() {
        let mut frames = TsFrames::new();
        let mut out = Vec::new();
        let unit = |pts_ms: u64, n| EsUnit {
            codec: Codec::Aac,
            pts: pts_ms * 90,
            dts: pts_ms * 90,
            data: adts(n, 8),
        };
        // Ten frames (213 ms) at 0, then a PES at 100 ms: its first frames overlap the first PES.
        frames.push(&unit(0, 10), &mut out);
        frames.push(&unit(100, 10), &mut out);
        frames.flush(&mut out);
        let coded: Vec<u32> = out
            .iter()
            .filter(|f| f.0 == TagKind::Audio && !is_audio_config(&f.2))
            .map(|f| f.1)
            .collect();
        assert!(coded.windows(2).all(|w| w[0] < w[1]), "{coded:?}");
        assert_eq!(coded.len(), 10 + 5, "{coded:?}");
        assert!(frames.dropped() >= 5);
    }

    #[test]
    fn garbage_makes_no_frames_and_no_panic() {
        let mut frames = TsFrames::new();
        let mut out = Vec::new();
        for codec in [
            Codec::H264,
            Codec::Hevc,
            Codec::Aac,
            Codec::Opus { channels: 2 },
        ] {
            for data in [
                &[][..],
                &[0, 0, 1],
                &[0, 0, 1, 0x67],
                &[0xff, 0xf1, 0, 0, 0, 0, 0],
            ] {
                let unit = EsUnit {
                    codec,
                    pts: 5,
                    dts: 1 << 40,
                    data: data.to_vec(),
                };
                frames.push(&unit, &mut out);
            }
        }
        frames.flush(&mut out);
        assert!(out.iter().all(|f| f.0 != TagKind::Video));
    }
}
