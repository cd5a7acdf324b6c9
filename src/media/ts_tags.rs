//! What an FLV tag body (legacy or E-RTMP) is to the MPEG-TS writer: a codec configuration, a
//! coded frame, nothing for the file, or a codec TS does not carry here (AV1, VP9, FLAC…): the
//! codecs TS carries over `tag_body`'s reader, which borrows the body (the writer runs once per frame
//! per SRT player, so nothing is copied to classify it).

use super::ertmp::FourCc;
use super::tag_body::{self, AudioBody, VideoBody};

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

/// A video tag body as TS takes it: avcC or hvcC, or length-prefixed NAL units.
pub type VideoTag<'a> = VideoBody<'a, VideoKind>;

/// An audio tag body as TS takes it: AudioSpecificConfig or OpusHead, or a raw AAC frame or an
/// Opus packet.
pub type AudioTag<'a> = AudioBody<'a, AudioKind>;

/// Reads a video tag body.
pub fn video(payload: &[u8]) -> VideoTag<'_> {
    tag_body::video(payload, |fourcc| match fourcc {
        FourCc::AVC1 => Some(VideoKind::Avc),
        FourCc::HVC1 => Some(VideoKind::Hevc),
        _ => None,
    })
}

/// Reads an audio tag body.
pub fn audio(payload: &[u8]) -> AudioTag<'_> {
    tag_body::audio(payload, |fourcc| match fourcc {
        FourCc::MP4A => Some(AudioKind::Aac),
        FourCc::OPUS => Some(AudioKind::Opus),
        _ => None,
    })
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
                codec: VideoKind::Avc,
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
                codec: VideoKind::Hevc,
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
