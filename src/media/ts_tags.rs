//! What an FLV tag body (legacy or E-RTMP) is to the MPEG-TS writer: a codec configuration, a
//! coded frame, nothing for the file, or a codec TS does not carry here (AV1, VP9, FLAC…). Borrows
//! the body: the writer runs once per frame per SRT player, so nothing is copied to classify it.

use super::ertmp::{self, AudioPacketType, FourCc, VideoPacketType};
use super::tag_class::{self, VideoClass};

/// Legacy FLV codec ids: AVC, and the HEVC id SRS and Chinese CDNs used before E-RTMP.
const LEGACY_AVC: u8 = 7;
const LEGACY_HEVC: u8 = 12;
/// Legacy FLV sound format of AAC.
const SOUND_AAC: u8 = 10;

/// Video codecs MPEG-TS carries here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoKind {
    Avc,
    Hevc,
}

/// Audio codecs MPEG-TS carries here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioKind {
    Aac,
    Opus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoTag<'a> {
    /// avcC or hvcC.
    Config(VideoKind, &'a [u8]),
    Frame {
        kind: VideoKind,
        /// Length-prefixed NAL units.
        data: &'a [u8],
        composition_ms: i32,
        keyframe: bool,
    },
    Skip,
    /// Malformed, or a codec TS does not carry here.
    Unusable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioTag<'a> {
    /// AudioSpecificConfig or OpusHead.
    Config(AudioKind, &'a [u8]),
    /// A raw AAC frame or an Opus packet.
    Frame(AudioKind, &'a [u8]),
    Skip,
    Unusable,
}

/// Reads a video tag body.
pub fn video(payload: &[u8]) -> VideoTag<'_> {
    let Some(&first) = payload.first() else {
        return VideoTag::Unusable;
    };
    if !ertmp::is_ex_video(payload) {
        let kind = match first & 0x0f {
            LEGACY_AVC => VideoKind::Avc,
            LEGACY_HEVC => VideoKind::Hevc,
            _ => return VideoTag::Unusable,
        };
        if payload.len() < 5 {
            return VideoTag::Unusable;
        }
        let body = &payload[5..];
        return match payload[1] {
            0 => VideoTag::Config(kind, body),
            1 if !body.is_empty() => VideoTag::Frame {
                kind,
                data: body,
                composition_ms: (i32::from(payload[2]) << 24
                    | i32::from(payload[3]) << 16
                    | i32::from(payload[4]) << 8)
                    >> 8,
                keyframe: (first >> 4) & 0x07 == ertmp::FRAME_TYPE_KEY,
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
    let kind = match header.fourcc {
        FourCc::AVC1 => VideoKind::Avc,
        FourCc::HVC1 => VideoKind::Hevc,
        _ => return VideoTag::Unusable,
    };
    let body = &payload[header.body.clone()];
    match header.packet_type {
        VideoPacketType::SequenceStart => VideoTag::Config(kind, body),
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX if !body.is_empty() => {
            VideoTag::Frame {
                kind,
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
pub fn audio(payload: &[u8]) -> AudioTag<'_> {
    let Some(&first) = payload.first() else {
        return AudioTag::Unusable;
    };
    if first >> 4 == SOUND_AAC {
        return match payload.get(1) {
            Some(0) => AudioTag::Config(AudioKind::Aac, &payload[2..]),
            Some(_) if payload.len() > 2 => AudioTag::Frame(AudioKind::Aac, &payload[2..]),
            _ => AudioTag::Unusable,
        };
    }
    if !ertmp::is_ex_audio(payload) {
        return AudioTag::Unusable;
    }
    let Ok(header) = ertmp::parse_audio(payload) else {
        return AudioTag::Unusable;
    };
    let kind = match header.fourcc {
        FourCc::MP4A => AudioKind::Aac,
        FourCc::OPUS => AudioKind::Opus,
        _ => return AudioTag::Unusable,
    };
    let body = &payload[header.body.clone()];
    match header.packet_type {
        AudioPacketType::SequenceStart => AudioTag::Config(kind, body),
        AudioPacketType::CodedFrames if !body.is_empty() => AudioTag::Frame(kind, body),
        AudioPacketType::CodedFrames => AudioTag::Unusable,
        _ => AudioTag::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_legacy_and_enhanced_tags() {
        assert_eq!(
            video(&[0x17, 0, 0, 0, 0, 1, 0x64]),
            VideoTag::Config(VideoKind::Avc, &[1, 0x64])
        );
        assert!(matches!(
            video(&[0x27, 1, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0x41]),
            VideoTag::Frame {
                kind: VideoKind::Avc,
                composition_ms: -2,
                keyframe: false,
                ..
            }
        ));
        assert_eq!(
            video(b"\x90hvc1\x01\x02"),
            VideoTag::Config(VideoKind::Hevc, &[1, 2])
        );
        let mut irap = b"\x91hvc1\x00\x00\x05".to_vec();
        irap.extend_from_slice(&[0, 0, 0, 2, 19 << 1, 1]);
        assert!(matches!(
            video(&irap),
            VideoTag::Frame {
                kind: VideoKind::Hevc,
                composition_ms: 5,
                keyframe: true,
                ..
            }
        ));
        // AV1 is valid E-RTMP but not carried in TS here.
        assert_eq!(video(b"\x91av01\x12\x00"), VideoTag::Unusable);
        assert_eq!(video(&[]), VideoTag::Unusable);
        assert_eq!(
            audio(b"\x90OpusOpusHead"),
            AudioTag::Config(AudioKind::Opus, b"OpusHead")
        );
        assert_eq!(
            audio(b"\x91Opus\xf8"),
            AudioTag::Frame(AudioKind::Opus, b"\xf8")
        );
        assert_eq!(
            audio(&[0xaf, 1, 0x21]),
            AudioTag::Frame(AudioKind::Aac, &[0x21])
        );
        assert_eq!(audio(&[0x2f, 1]), AudioTag::Unusable);
    }
}
