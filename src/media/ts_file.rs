//! An MPEG-TS file from FLV-style frames (kind, millisecond timestamp, payload): PAT/PMT first and
//! again before every keyframe, H.264 as Annex-B access units (AUD, SPS/PPS before keyframes), AAC
//! as ADTS frames. Sans-IO: bytes out, for recordings written as they go.

use super::aac::AudioSpecificConfig;
use super::avc::{self, AvcConfig, NAL_AUD, NAL_SPS};
use super::flv::TagKind;
use super::ts::{Tracks, TsMuxer};

/// The access unit delimiter NAL unit (primary_pic_type 7: any slice type).
const AUD: [u8; 6] = [0, 0, 0, 1, NAL_AUD, 0xf0];

/// Frames in, TS packets out.
#[derive(Debug, Default)]
pub struct TsFileWriter {
    muxer: TsMuxer,
    avc: Option<AvcConfig>,
    aac: Option<AudioSpecificConfig>,
    started: bool,
    scratch: Vec<u8>,
    dropped: u64,
}

impl TsFileWriter {
    pub fn new() -> TsFileWriter {
        TsFileWriter::default()
    }

    /// Frames dropped: before the first keyframe, without a sequence header, malformed.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped
    }

    /// Whether the tables have been written (the first keyframe, or audio of an audio-only stream).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Feeds one frame; the packets it makes are appended to `out`.
    pub fn push(&mut self, kind: TagKind, timestamp: u32, payload: &[u8], out: &mut Vec<u8>) {
        match kind {
            TagKind::Video => self.push_video(timestamp, payload, out),
            TagKind::Audio => self.push_audio(timestamp, payload, out),
            TagKind::Script => {}
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        self.muxer.set_tracks(Tracks {
            video: self.avc.is_some(),
            audio: self.aac.is_some(),
        });
        self.muxer.write_tables(out);
        self.started = true;
    }

    fn push_video(&mut self, timestamp: u32, payload: &[u8], out: &mut Vec<u8>) {
        if payload.len() < 5 || payload[0] & 0x0f != 7 {
            self.dropped += 1;
            return;
        }
        match payload[1] {
            0 => {
                match AvcConfig::parse(&payload[5..]) {
                    Ok(config) => self.avc = Some(config),
                    Err(_) => self.dropped += 1,
                }
                return;
            }
            1 => {}
            _ => return,
        }
        let keyframe = payload[0] >> 4 == 1;
        if self.avc.is_none()
            || (!self.started && !keyframe)
            || !self.access_unit(&payload[5..], keyframe)
        {
            self.dropped += 1;
            return;
        }
        if !self.started {
            self.start(out);
        } else if keyframe {
            // Tables before every keyframe: a reader can start (or resume after damage) there.
            self.muxer.write_tables(out);
        }
        if !self.muxer.tracks().video {
            self.dropped += 1;
            return;
        }
        let composition =
            ((u32::from(payload[2]) << 16 | u32::from(payload[3]) << 8 | u32::from(payload[4]))
                << 8) as i32
                >> 8;
        let dts = u64::from(timestamp) * 90;
        let pts = (i64::from(timestamp) + i64::from(composition)).max(0) as u64 * 90;
        self.muxer
            .write_video(out, pts, dts, &self.scratch, keyframe);
    }

    /// Builds the Annex-B access unit in `scratch`; false when the frame is malformed or empty.
    fn access_unit(&mut self, data: &[u8], keyframe: bool) -> bool {
        let Some(config) = &self.avc else {
            return false;
        };
        let length_size = config.nalu_length_size;
        if avc::nal_units(data, length_size).any(|n| n.is_err()) {
            return false;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&AUD);
        let has_sps = avc::nal_units(data, length_size)
            .flatten()
            .any(|n| n.first().is_some_and(|h| h & 0x1f == NAL_SPS));
        if keyframe && !has_sps {
            for nalu in config.sps.iter().chain(config.pps.iter()) {
                avc::push_annexb(&mut self.scratch, nalu);
            }
        }
        let before = self.scratch.len();
        for nalu in avc::nal_units(data, length_size).flatten() {
            if nalu.first().is_some_and(|h| h & 0x1f != NAL_AUD) {
                avc::push_annexb(&mut self.scratch, nalu);
            }
        }
        self.scratch.len() > before
    }

    fn push_audio(&mut self, timestamp: u32, payload: &[u8], out: &mut Vec<u8>) {
        if payload.len() < 2 || payload[0] >> 4 != 10 {
            self.dropped += 1;
            return;
        }
        if payload[1] == 0 {
            match AudioSpecificConfig::parse(&payload[2..]) {
                Ok(config) => self.aac = Some(config),
                Err(_) => self.dropped += 1,
            }
            return;
        }
        let Some(aac) = &self.aac else {
            self.dropped += 1;
            return;
        };
        let raw = &payload[2..];
        let Ok(header) = aac.adts_header(raw.len()) else {
            self.dropped += 1;
            return;
        };
        if !self.started {
            // With video announced, the file starts at its first keyframe.
            if self.avc.is_some() {
                self.dropped += 1;
                return;
            }
            self.start(out);
        }
        if !self.muxer.tracks().audio {
            self.dropped += 1;
            return;
        }
        let mut frame = Vec::with_capacity(header.len() + raw.len());
        frame.extend_from_slice(&header);
        frame.extend_from_slice(raw);
        self.muxer
            .write_audio(out, u64::from(timestamp) * 90, &frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sample_frames::publish;
    use crate::media::ts::PACKET_LEN;

    #[test]
    fn writes_whole_packets_starting_with_tables() {
        let mut writer = TsFileWriter::new();
        let mut out = Vec::new();
        for (kind, ts, payload) in publish(0, 2, 25) {
            writer.push(kind, ts, &payload, &mut out);
        }
        assert!(writer.started());
        assert_eq!(out.len() % PACKET_LEN, 0);
        assert!(out.chunks(PACKET_LEN).all(|p| p[0] == 0x47));
        // PAT first, then the PMT.
        assert_eq!(&out[1..3], &[0x40, 0x00]);
        assert_eq!(writer.dropped_frames(), 0);
    }

    #[test]
    fn garbage_never_panics() {
        let mut writer = TsFileWriter::new();
        let mut out = Vec::new();
        for payload in [
            &[][..],
            &[0x17],
            &[0x17, 0, 0, 0, 0, 1],
            &[0xaf, 0, 0xff],
            &[0x27, 1, 0, 0, 0, 0, 0, 0, 9],
        ] {
            writer.push(TagKind::Video, 0, payload, &mut out);
            writer.push(TagKind::Audio, 0, payload, &mut out);
        }
        for (kind, ts, payload) in publish(0, 1, 25) {
            writer.push(kind, ts, &payload[..payload.len() / 2], &mut out);
        }
    }
}
