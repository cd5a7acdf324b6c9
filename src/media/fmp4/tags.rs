//! FLV tag bodies (legacy and E-RTMP) as the muxer needs them: a track's configuration, or one
//! coded frame with its composition offset and whether a decoder can start on it.

use super::codec::{AudioCodec, VideoCodec};
use crate::media::ertmp::{self, AudioPacketType, FourCc, VideoPacketType};
use crate::media::tag_class::{self, VideoClass};
use bytes::Bytes;

/// Legacy FLV codec ids: AVC, and the HEVC id Chinese CDNs used before E-RTMP.
const LEGACY_AVC: u8 = 7;
const LEGACY_HEVC: u8 = 12;
/// Legacy FLV sound format of AAC.
const SOUND_AAC: u8 = 10;

/// What a video tag body is to the muxer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    Config(VideoCodec, Bytes),
    Frame {
        codec: VideoCodec,
        data: Bytes,
        composition_ms: i32,
        keyframe: bool,
    },
    /// Nothing for the file (sequence end, metadata, commands).
    Skip,
    /// Malformed, or a codec fMP4 does not carry here.
    Unusable,
}

/// What an audio tag body is to the muxer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    Config(AudioCodec, Bytes),
    Frame(AudioCodec, Bytes),
    Skip,
    Unusable,
}

/// Reads a video tag body.
pub fn read_video(payload: &Bytes) -> VideoTag {
    let Some(&first) = payload.first() else {
        return VideoTag::Unusable;
    };
    if !ertmp::is_ex_video(payload) {
        let codec = match first & 0x0f {
            LEGACY_AVC => VideoCodec::Avc,
            LEGACY_HEVC => VideoCodec::Hevc,
            _ => return VideoTag::Unusable,
        };
        if payload.len() < 5 {
            return VideoTag::Unusable;
        }
        let body = payload.slice(5..);
        return match payload[1] {
            0 => VideoTag::Config(codec, body),
            1 if !body.is_empty() => VideoTag::Frame {
                codec,
                data: body,
                composition_ms: (i32::from(payload[2]) << 24
                    | i32::from(payload[3]) << 16
                    | i32::from(payload[4]) << 8)
                    >> 8,
                keyframe: first >> 4 == ertmp::FRAME_TYPE_KEY,
            },
            1 => VideoTag::Unusable,
            _ => VideoTag::Skip,
        };
    }
    let Ok(header) = ertmp::parse_video(payload) else {
        return VideoTag::Unusable;
    };
    if header.command.is_some() {
        return VideoTag::Skip;
    }
    let codec = match header.fourcc {
        FourCc::AVC1 => VideoCodec::Avc,
        FourCc::HVC1 => VideoCodec::Hevc,
        FourCc::AV01 => VideoCodec::Av1,
        FourCc::VP09 => VideoCodec::Vp9,
        _ => return VideoTag::Unusable,
    };
    let body = payload.slice(header.body.clone());
    match header.packet_type {
        VideoPacketType::SequenceStart => VideoTag::Config(codec, body),
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX if !body.is_empty() => {
            VideoTag::Frame {
                codec,
                data: body,
                composition_ms: header.composition_time,
                keyframe: tag_class::video(payload) == VideoClass::Key,
            }
        }
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => VideoTag::Unusable,
        _ => VideoTag::Skip,
    }
}

/// Reads an audio tag body.
pub fn read_audio(payload: &Bytes) -> AudioTag {
    let Some(&first) = payload.first() else {
        return AudioTag::Unusable;
    };
    if first >> 4 == SOUND_AAC {
        return match payload.get(1) {
            Some(0) => AudioTag::Config(AudioCodec::Aac, payload.slice(2..)),
            Some(_) if payload.len() > 2 => AudioTag::Frame(AudioCodec::Aac, payload.slice(2..)),
            _ => AudioTag::Unusable,
        };
    }
    if !ertmp::is_ex_audio(payload) {
        return AudioTag::Unusable;
    }
    let Ok(header) = ertmp::parse_audio(payload) else {
        return AudioTag::Unusable;
    };
    let codec = match header.fourcc {
        FourCc::MP4A => AudioCodec::Aac,
        FourCc::OPUS => AudioCodec::Opus,
        _ => return AudioTag::Unusable,
    };
    let body = payload.slice(header.body.clone());
    match header.packet_type {
        AudioPacketType::SequenceStart => AudioTag::Config(codec, body),
        AudioPacketType::CodedFrames if !body.is_empty() => AudioTag::Frame(codec, body),
        AudioPacketType::CodedFrames => AudioTag::Unusable,
        _ => AudioTag::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_legacy_and_enhanced_tags() {
        let config = Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64]);
        assert_eq!(
            read_video(&config),
            VideoTag::Config(VideoCodec::Avc, Bytes::from_static(&[1, 0x64]))
        );
        let frame = Bytes::from_static(&[0x27, 1, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0x41]);
        assert!(matches!(
            read_video(&frame),
            VideoTag::Frame {
                composition_ms: -2,
                keyframe: false,
                ..
            }
        ));
        let hevc = Bytes::from_static(b"\x90hvc1\x01\x02");
        assert_eq!(
            read_video(&hevc),
            VideoTag::Config(VideoCodec::Hevc, Bytes::from_static(&[1, 2]))
        );
        let mut irap = b"\x91hvc1\x00\x00\x05".to_vec();
        irap.extend_from_slice(&[0, 0, 0, 2, 19 << 1, 1]);
        assert!(matches!(
            read_video(&Bytes::from(irap)),
            VideoTag::Frame {
                codec: VideoCodec::Hevc,
                composition_ms: 5,
                keyframe: true,
                ..
            }
        ));
        assert_eq!(
            read_video(&Bytes::from_static(b"\x91zzzz")),
            VideoTag::Unusable
        );
        assert_eq!(read_video(&Bytes::new()), VideoTag::Unusable);
        assert_eq!(
            read_audio(&Bytes::from_static(b"\x90OpusOpusHead")),
            AudioTag::Config(AudioCodec::Opus, Bytes::from_static(b"OpusHead"))
        );
        assert_eq!(
            read_audio(&Bytes::from_static(b"\x91Opus\xf8")),
            AudioTag::Frame(AudioCodec::Opus, Bytes::from_static(b"\xf8"))
        );
        assert_eq!(
            read_audio(&Bytes::from_static(&[0xaf, 1, 0x21])),
            AudioTag::Frame(AudioCodec::Aac, Bytes::from_static(&[0x21]))
        );
        assert_eq!(
            read_audio(&Bytes::from_static(&[0x2f, 1])),
            AudioTag::Unusable
        );
    }
}
