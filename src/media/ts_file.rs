//! An MPEG-TS file from FLV-style frames (kind, millisecond timestamp, payload): PAT/PMT first and
//! again before every keyframe; H.264 or HEVC (legacy or E-RTMP tags) as Annex-B access units
//! (`ts_video`), AAC as ADTS frames, Opus behind its control header (ETSI TS 102 366, as FFmpeg
//! writes and reads it). Codecs TS does not carry here (AV1, VP9) are dropped, so their audio
//! still plays. Sans-IO: bytes out, for SRT players and recordings written as they go.

use super::aac::AudioSpecificConfig;
use super::flv::TagKind;
use super::opus::OpusHead;
use super::ts::{opus_control_header, Tracks, TsAudio, TsMuxer};
use super::ts_tags::{self, AudioKind, AudioTag, VideoTag};
use super::ts_video::TsVideoConfig;

/// The audio configuration: AAC needs its AudioSpecificConfig for ADTS headers.
#[derive(Debug, Clone)]
enum AudioConfig {
    Aac(AudioSpecificConfig),
    Opus { channels: u8 },
}

/// Frames in, TS packets out.
#[derive(Debug, Default)]
pub struct TsFileWriter {
    muxer: TsMuxer,
    video: Option<TsVideoConfig>,
    audio: Option<AudioConfig>,
    started: bool,
    scratch: Vec<u8>,
    dropped: u64,
}

impl TsFileWriter {
    pub fn new() -> TsFileWriter {
        TsFileWriter::default()
    }

    /// Frames dropped: before the first keyframe, without a sequence header, malformed, or of a
    /// codec TS does not carry here.
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

    fn audio_coding(&self) -> TsAudio {
        match self.audio {
            Some(AudioConfig::Opus { channels }) => TsAudio::Opus { channels },
            _ => TsAudio::Aac,
        }
    }

    /// Sets the program from what is configured; the next tables announce it.
    fn announce(&mut self) {
        self.muxer.set_tracks(Tracks {
            video: self.video.is_some(),
            audio: self.audio.is_some(),
        });
        let video = self.video.as_ref().map(|v| v.coding).unwrap_or_default();
        self.muxer.set_codecs(video, self.audio_coding());
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        self.announce();
        self.muxer.write_tables(out);
        self.started = true;
    }

    fn push_video(&mut self, timestamp: u32, payload: &[u8], out: &mut Vec<u8>) {
        let (data, composition, keyframe) = match ts_tags::video(payload) {
            VideoTag::Config(kind, record) => {
                match TsVideoConfig::parse(kind, record) {
                    Some(config) => self.video = Some(config),
                    None => self.dropped += 1,
                }
                return;
            }
            VideoTag::Frame {
                data,
                composition_ms,
                keyframe,
                ..
            } => (data, composition_ms, keyframe),
            VideoTag::Skip => return,
            VideoTag::Unusable => {
                self.dropped += 1;
                return;
            }
        };
        let made = match &self.video {
            Some(config) if self.started || keyframe => {
                config.access_unit(data, keyframe, &mut self.scratch)
            }
            _ => false,
        };
        if !made {
            self.dropped += 1;
            return;
        }
        if !self.started {
            self.start(out);
        } else if keyframe {
            // Tables before every keyframe: a reader can start (or resume after damage) there,
            // and a codec changed by a republish is announced there.
            self.announce();
            self.muxer.write_tables(out);
        }
        if !self.muxer.tracks().video {
            self.dropped += 1;
            return;
        }
        let dts = u64::from(timestamp) * 90;
        let pts = (i64::from(timestamp) + i64::from(composition)).max(0) as u64 * 90;
        self.muxer
            .write_video(out, pts, dts, &self.scratch, keyframe);
    }

    fn push_audio(&mut self, timestamp: u32, payload: &[u8], out: &mut Vec<u8>) {
        let (kind, raw) = match ts_tags::audio(payload) {
            AudioTag::Config(kind, config) => {
                self.configure_audio(kind, config);
                return;
            }
            AudioTag::Frame(kind, raw) => (kind, raw),
            AudioTag::Skip => return,
            AudioTag::Unusable => {
                self.dropped += 1;
                return;
            }
        };
        let mut frame = Vec::with_capacity(raw.len() + 16);
        match (&self.audio, kind) {
            (Some(AudioConfig::Aac(aac)), AudioKind::Aac) => {
                let Ok(header) = aac.adts_header(raw.len()) else {
                    self.dropped += 1;
                    return;
                };
                frame.extend_from_slice(&header);
            }
            (Some(AudioConfig::Opus { .. }), AudioKind::Opus) => {
                opus_control_header(raw.len(), &mut frame);
            }
            _ => {
                self.dropped += 1;
                return;
            }
        }
        frame.extend_from_slice(raw);
        if !self.started {
            // With video announced, the file starts at its first keyframe.
            if self.video.is_some() {
                self.dropped += 1;
                return;
            }
            self.start(out);
        }
        if !self.muxer.tracks().audio || self.muxer.audio() != self.audio_coding() {
            self.dropped += 1;
            return;
        }
        self.muxer
            .write_audio(out, u64::from(timestamp) * 90, &frame);
    }

    fn configure_audio(&mut self, kind: AudioKind, config: &[u8]) {
        let parsed = match kind {
            AudioKind::Aac => AudioSpecificConfig::parse(config)
                .ok()
                .map(AudioConfig::Aac),
            // An OpusHead, else stereo (the DVB default) for a publisher that sent none.
            AudioKind::Opus => Some(AudioConfig::Opus {
                channels: OpusHead::parse(config).map_or(2, |h| h.channels),
            }),
        };
        match parsed {
            Some(parsed) => self.audio = Some(parsed),
            None => self.dropped += 1,
        }
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

    /// E-RTMP HEVC (hvcC with VPS/SPS/PPS, then an IDR and an inter frame) and Opus.
    fn hevc_opus_frames() -> Vec<(TagKind, u32, Vec<u8>)> {
        let mut hvcc = vec![1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93, 0xf0, 0, 0xfc];
        hvcc.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 3]);
        for (nal_type, body) in [
            (32u8, &[0x40, 1, 0xc][..]),
            (33, &[0x42, 1, 1]),
            (34, &[0x44, 1]),
        ] {
            hvcc.push(0x80 | nal_type);
            hvcc.extend_from_slice(&1u16.to_be_bytes());
            hvcc.extend_from_slice(&(body.len() as u16).to_be_bytes());
            hvcc.extend_from_slice(body);
        }
        let tag = |prefix: &[u8], body: &[u8]| [prefix, body].concat();
        let mut head = b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00".to_vec();
        head.truncate(19);
        vec![
            (TagKind::Video, 0, tag(b"\x90hvc1", &hvcc)),
            (TagKind::Audio, 0, tag(b"\x90Opus", &head)),
            (
                TagKind::Video,
                0,
                tag(b"\x91hvc1\0\0\0", &[0, 0, 0, 3, 19 << 1, 1, 0xaf]),
            ),
            (TagKind::Audio, 0, tag(b"\x91Opus", &[0x08; 300])),
            (
                TagKind::Video,
                40,
                tag(b"\x91hvc1\0\0\0", &[0, 0, 0, 3, 1 << 1, 1, 0xbf]),
            ),
            (TagKind::Audio, 20, tag(b"\x91Opus", &[0x08, 1, 2])),
        ]
    }

    #[test]
    fn hevc_and_opus_round_trip_through_the_demuxer() {
        use crate::media::ts_demux::{Codec, TsDemuxer};
        let mut writer = TsFileWriter::new();
        let mut out = Vec::new();
        for (kind, ts, payload) in hevc_opus_frames() {
            writer.push(kind, ts, &payload, &mut out);
        }
        assert_eq!(writer.dropped_frames(), 0);
        // The PMT: HEVC (0x24), and private data with the Opus registration and extension
        // descriptors (mono).
        let pmt = &out[PACKET_LEN..2 * PACKET_LEN];
        let find = |needle: &[u8]| pmt.windows(needle.len()).any(|w| w == needle);
        assert!(find(&[0x24, 0xe1, 0x00, 0xf0, 0x00]));
        assert!(find(&[
            0x06, 0xe1, 0x01, 0xf0, 10, 0x05, 4, b'O', b'p', b'u', b's', 0x7f, 2, 0x80, 1
        ]));
        let mut demux = TsDemuxer::new();
        let mut units = Vec::new();
        demux.push(&out, &mut units);
        demux.flush(&mut units);
        assert_eq!(demux.errors(), 0);
        let hevc: Vec<_> = units.iter().filter(|u| u.codec == Codec::Hevc).collect();
        assert_eq!(hevc.len(), 2);
        assert!(hevc[0]
            .data
            .starts_with(&[0, 0, 0, 1, 0x46, 1, 0x50, 0, 0, 0, 1, 0x40]));
        let opus: Vec<_> = units
            .iter()
            .filter(|u| u.codec == Codec::Opus { channels: 1 })
            .collect();
        assert_eq!(opus.len(), 2);
        // A 300-byte packet: the size as 255 + 45 after the 0x7fe0 prefix.
        assert_eq!(&opus[0].data[..4], &[0x7f, 0xe0, 0xff, 45]);
        assert_eq!(opus[0].data.len(), 4 + 300);
        assert_eq!(opus[1].pts, 20 * 90);
    }

    #[test]
    fn av1_video_is_dropped_and_its_audio_plays() {
        let mut writer = TsFileWriter::new();
        let mut out = Vec::new();
        writer.push(TagKind::Video, 0, b"\x90av01\x81\x00\x0c\x00", &mut out);
        for (kind, ts, payload) in hevc_opus_frames() {
            if kind == TagKind::Audio {
                writer.push(kind, ts, &payload, &mut out);
            }
        }
        assert!(writer.started());
        assert!(!out.is_empty());
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
