//! An FLV tag body (legacy or E-RTMP) read for a muxer: a codec configuration, a coded frame with
//! its composition offset and whether a decoder can start on it, nothing for the file, or unusable.
//! One reader for the TS and fMP4 writers: generic over the codecs a writer carries (a map from the
//! tag's codec to the writer's own kind; a codec it does not carry is unusable), and borrowed, so
//! the TS writer (once per frame per SRT player) copies nothing and fMP4 slices its `Bytes`.

use super::ertmp::{self, AudioPacketType, FourCc, VideoPacketType};
use super::tag_class::{self, VideoClass};

/// Legacy FLV codec ids: AVC, and the HEVC id SRS and Chinese CDNs used before E-RTMP.
const LEGACY_AVC: u8 = 7;
const LEGACY_HEVC: u8 = 12;
/// Legacy FLV sound format of AAC.
const SOUND_AAC: u8 = 10;

/// What a video tag body is to a writer whose codecs are `K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoBody<'a, K> {
    /// The configuration record (avcC, hvcC, av1C, vpcC).
    Config(K, &'a [u8]),
    Frame {
        codec: K,
        /// The coded frame (length-prefixed NAL units for AVC/HEVC).
        data: &'a [u8],
        composition_ms: i32,
        keyframe: bool,
    },
    /// Nothing for the file (sequence end, metadata, commands).
    Skip,
    /// Malformed, or a codec the writer does not carry.
    Unusable,
}

/// What an audio tag body is to a writer whose codecs are `K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioBody<'a, K> {
    /// AudioSpecificConfig or OpusHead.
    Config(K, &'a [u8]),
    /// A raw AAC frame or an Opus packet.
    Frame(K, &'a [u8]),
    Skip,
    Unusable,
}

/// Reads a video tag body; `carried` names the writer's kind of a codec (legacy AVC and HEVC as
/// `avc1` and `hvc1`), `None` for one it does not carry.
pub fn video<K>(payload: &[u8], carried: impl Fn(FourCc) -> Option<K>) -> VideoBody<'_, K> {
    let Some(&first) = payload.first() else {
        return VideoBody::Unusable;
    };
    if !ertmp::is_ex_video(payload) {
        let fourcc = match first & 0x0f {
            LEGACY_AVC => FourCc::AVC1,
            LEGACY_HEVC => FourCc::HVC1,
            _ => return VideoBody::Unusable,
        };
        let Some(codec) = carried(fourcc) else {
            return VideoBody::Unusable;
        };
        if payload.len() < 5 {
            return VideoBody::Unusable;
        }
        let body = &payload[5..];
        return match payload[1] {
            0 => VideoBody::Config(codec, body),
            1 if !body.is_empty() => VideoBody::Frame {
                codec,
                data: body,
                composition_ms: (i32::from(payload[2]) << 24
                    | i32::from(payload[3]) << 16
                    | i32::from(payload[4]) << 8)
                    >> 8,
                keyframe: (first >> 4) & 0x07 == ertmp::FRAME_TYPE_KEY,
            },
            1 => VideoBody::Unusable,
            _ => VideoBody::Skip,
        };
    }
    let Ok(header) = ertmp::parse_video(payload) else {
        return VideoBody::Unusable;
    };
    if header.command.is_some() {
        return VideoBody::Skip;
    }
    let Some(codec) = carried(header.fourcc) else {
        return VideoBody::Unusable;
    };
    let body = &payload[header.body.clone()];
    match header.packet_type {
        VideoPacketType::SequenceStart => VideoBody::Config(codec, body),
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX if !body.is_empty() => {
            VideoBody::Frame {
                codec,
                data: body,
                composition_ms: header.composition_time,
                keyframe: tag_class::video(payload) == VideoClass::Key,
            }
        }
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => VideoBody::Unusable,
        _ => VideoBody::Skip,
    }
}

/// Reads an audio tag body; `carried` as for [`video`] (legacy AAC as `mp4a`).
pub fn audio<K>(payload: &[u8], carried: impl Fn(FourCc) -> Option<K>) -> AudioBody<'_, K> {
    let Some(&first) = payload.first() else {
        return AudioBody::Unusable;
    };
    if first >> 4 == SOUND_AAC {
        let Some(codec) = carried(FourCc::MP4A) else {
            return AudioBody::Unusable;
        };
        return match payload.get(1) {
            Some(0) => AudioBody::Config(codec, &payload[2..]),
            Some(_) if payload.len() > 2 => AudioBody::Frame(codec, &payload[2..]),
            _ => AudioBody::Unusable,
        };
    }
    if !ertmp::is_ex_audio(payload) {
        return AudioBody::Unusable;
    }
    let Ok(header) = ertmp::parse_audio(payload) else {
        return AudioBody::Unusable;
    };
    let Some(codec) = carried(header.fourcc) else {
        return AudioBody::Unusable;
    };
    let body = &payload[header.body.clone()];
    match header.packet_type {
        AudioPacketType::SequenceStart => AudioBody::Config(codec, body),
        AudioPacketType::CodedFrames if !body.is_empty() => AudioBody::Frame(codec, body),
        AudioPacketType::CodedFrames => AudioBody::Unusable,
        _ => AudioBody::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codec_the_writer_does_not_carry_is_unusable_legacy_or_enhanced() {
        let avc_only = |f: FourCc| (f == FourCc::AVC1).then_some(());
        assert_eq!(
            video(&[0x17, 0, 0, 0, 0, 1], avc_only),
            VideoBody::Config((), &[1][..])
        );
        assert_eq!(video(&[0x1c, 0, 0, 0, 0, 1], avc_only), VideoBody::Unusable);
        assert_eq!(video(b"\x90hvc1\x01\x02", avc_only), VideoBody::Unusable);
        assert_eq!(audio(&[0xaf, 0, 0x12], |_| None::<()>), AudioBody::Unusable);
        assert_eq!(
            audio(b"\x90OpusOpusHead", Some),
            AudioBody::Config(FourCc::OPUS, &b"OpusHead"[..])
        );
    }
}
