//! FLV tag bodies (legacy and E-RTMP) as the muxer needs them: a track's configuration, or one
//! coded frame with its composition offset and whether a decoder can start on it.

use super::codec::{AudioCodec, VideoCodec};
use crate::media::ertmp::FourCc;
use crate::media::tag_body::{self, AudioBody, VideoBody};
use bytes::Bytes;

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

/// Reads a video tag body (`tag_body`'s reader, the frame sliced out of `payload`).
pub fn read_video(payload: &Bytes) -> VideoTag {
    let carried = |fourcc| match fourcc {
        FourCc::AVC1 => Some(VideoCodec::Avc),
        FourCc::HVC1 => Some(VideoCodec::Hevc),
        FourCc::AV01 => Some(VideoCodec::Av1),
        FourCc::VP09 => Some(VideoCodec::Vp9),
        _ => None,
    };
    match tag_body::video(payload, carried) {
        VideoBody::Config(codec, record) => VideoTag::Config(codec, payload.slice_ref(record)),
        VideoBody::Frame {
            codec,
            data,
            composition_ms,
            keyframe,
        } => VideoTag::Frame {
            codec,
            data: payload.slice_ref(data),
            composition_ms,
            keyframe,
        },
        VideoBody::Skip => VideoTag::Skip,
        VideoBody::Unusable => VideoTag::Unusable,
    }
}

/// Reads an audio tag body.
pub fn read_audio(payload: &Bytes) -> AudioTag {
    let carried = |fourcc| match fourcc {
        FourCc::MP4A => Some(AudioCodec::Aac),
        FourCc::OPUS => Some(AudioCodec::Opus),
        _ => None,
    };
    match tag_body::audio(payload, carried) {
        AudioBody::Config(codec, config) => AudioTag::Config(codec, payload.slice_ref(config)),
        AudioBody::Frame(codec, data) => AudioTag::Frame(codec, payload.slice_ref(data)),
        AudioBody::Skip => AudioTag::Skip,
        AudioBody::Unusable => AudioTag::Unusable,
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
