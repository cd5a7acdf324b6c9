//! What an audio or video tag body is to a live server, legacy FLV and E-RTMP alike: a codec
//! configuration (kept and sent first to every new player), a key frame (where a decoder can join),
//! or anything else. Key frames are told by the codec's own data (HEVC IRAP, AV1 shown key frame, VP9
//! key frame), falling back to the tag's frame type when the data cannot tell;
//! legacy tags keep their frame type's word.

use super::ertmp::{self, AudioPacketType, FourCc, VideoPacketType};

/// Legacy FLV video codec ids with an AVC-style packet type byte.
const CODEC_AVC: u8 = 7;
/// The HEVC codec id Chinese CDNs (and SRS) used before E-RTMP.
const CODEC_HEVC_LEGACY: u8 = 12;
/// Legacy FLV sound format of AAC.
const SOUND_AAC: u8 = 10;

/// The role of a video tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoClass {
    /// Decoder configuration (AVC/HEVC sequence header, E-RTMP SequenceStart).
    Config,
    /// Facts for the following frames (E-RTMP Metadata such as `colorInfo`).
    ConfigExtra,
    /// A frame a decoder can start on.
    Key,
    /// Any other frame (inter frames, sequence end, commands, unparsable data).
    Other,
}

/// The role of an audio tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioClass {
    /// Decoder configuration (AAC AudioSpecificConfig, E-RTMP SequenceStart).
    Config,
    /// E-RTMP MultichannelConfig: the channel layout, for codecs that do not describe it.
    ConfigExtra,
    Other,
}

/// Classifies a video tag body.
pub fn video(payload: &[u8]) -> VideoClass {
    let Some(&first) = payload.first() else {
        return VideoClass::Other;
    };
    let frame_type = (first >> 4) & 0x07;
    if first & ertmp::VIDEO_EX_HEADER_FLAG == 0 {
        // Legacy tags keep the flag's word, as they always had here (x264's intra refresh and
        // open GOPs flag frames without an IDR that players do start on).
        let codec = first & 0x0f;
        if matches!(codec, CODEC_AVC | CODEC_HEVC_LEGACY) && payload.get(1) == Some(&0) {
            return VideoClass::Config;
        }
        return keyed(frame_type == ertmp::FRAME_TYPE_KEY);
    }
    let Ok(header) = ertmp::parse_video(payload) else {
        return VideoClass::Other;
    };
    if header.command.is_some() {
        return VideoClass::Other;
    }
    let body = &payload[header.body];
    match header.packet_type {
        VideoPacketType::SequenceStart | VideoPacketType::Mpeg2TsSequenceStart => {
            VideoClass::Config
        }
        VideoPacketType::Metadata => VideoClass::ConfigExtra,
        VideoPacketType::SequenceEnd => VideoClass::Other,
        VideoPacketType::CodedFrames | VideoPacketType::CodedFramesX => {
            let by_data = match header.fourcc {
                FourCc::HVC1 => super::hevc::has_irap(body, 4),
                FourCc::AV01 => super::av1::is_key_temporal_unit(body),
                FourCc::VP09 => super::vp9::frame_info(body).map(|f| f.keyframe),
                _ => None,
            };
            keyed(by_data.unwrap_or(header.frame_type == ertmp::FRAME_TYPE_KEY))
        }
    }
}

fn keyed(key: bool) -> VideoClass {
    if key {
        VideoClass::Key
    } else {
        VideoClass::Other
    }
}

/// Classifies an audio tag body.
pub fn audio(payload: &[u8]) -> AudioClass {
    let Some(&first) = payload.first() else {
        return AudioClass::Other;
    };
    if first >> 4 == SOUND_AAC {
        return if payload.get(1) == Some(&0) {
            AudioClass::Config
        } else {
            AudioClass::Other
        };
    }
    if first >> 4 != ertmp::AUDIO_EX_HEADER_FORMAT {
        return AudioClass::Other;
    }
    match ertmp::parse_audio(payload).map(|h| h.packet_type) {
        Ok(AudioPacketType::SequenceStart) => AudioClass::Config,
        Ok(AudioPacketType::MultichannelConfig) => AudioClass::ConfigExtra,
        _ => AudioClass::Other,
    }
}

/// The video codec of a tag body as a FourCC (legacy AVC and HEVC ids map to theirs); `None` for
/// other legacy codecs and malformed headers.
pub fn video_codec(payload: &[u8]) -> Option<FourCc> {
    let first = *payload.first()?;
    if first & ertmp::VIDEO_EX_HEADER_FLAG != 0 {
        let header = ertmp::parse_video(payload).ok()?;
        return header.command.is_none().then_some(header.fourcc);
    }
    match first & 0x0f {
        CODEC_AVC => Some(FourCc::AVC1),
        CODEC_HEVC_LEGACY => Some(FourCc::HVC1),
        _ => None,
    }
}

/// The audio codec of an E-RTMP audio tag body (legacy tags: `None`, every player reads them).
pub fn enhanced_audio_codec(payload: &[u8]) -> Option<FourCc> {
    ertmp::parse_audio(payload).ok().map(|h| h.fourcc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_legacy_tags() {
        assert_eq!(video(&[0x17, 0, 0, 0, 0, 1]), VideoClass::Config);
        assert_eq!(
            video(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]),
            VideoClass::Key
        );
        // Legacy tags keep the flag's word.
        assert_eq!(
            video(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]),
            VideoClass::Key
        );
        assert_eq!(
            video(&[0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]),
            VideoClass::Other
        );
        assert_eq!(video(&[0x12, 0]), VideoClass::Key);
        assert_eq!(video(&[]), VideoClass::Other);
        assert_eq!(audio(&[0xaf, 0, 0x12, 0x10]), AudioClass::Config);
        assert_eq!(audio(&[0xaf, 1, 0x21]), AudioClass::Other);
        assert_eq!(audio(&[0x2f, 0]), AudioClass::Other);
        assert_eq!(video_codec(&[0x1c, 0]), Some(FourCc::HVC1));
        assert_eq!(video_codec(&[0x12, 0]), None);
    }

    #[test]
    fn classifies_enhanced_tags_by_their_data() {
        let mut irap = b"\x91hvc1\x00\x00\x00".to_vec();
        irap.extend_from_slice(&[0, 0, 0, 2, 19 << 1, 1]);
        assert_eq!(video(&irap), VideoClass::Key);
        let mut trail = b"\x91hvc1\x00\x00\x00".to_vec();
        trail.extend_from_slice(&[0, 0, 0, 2, 1 << 1, 1]);
        assert_eq!(video(&trail), VideoClass::Other);
        assert_eq!(video(b"\x90hvc1\x01"), VideoClass::Config);
        assert_eq!(video(b"\xd4hvc1\x02"), VideoClass::ConfigExtra);
        assert_eq!(video(b"\x92vp09"), VideoClass::Other);
        assert_eq!(
            video(&[0x93, b'v', b'p', b'0', b'9', 0x82, 0x49, 0x83, 0x42]),
            VideoClass::Key
        );
        assert_eq!(
            video(&[0x93, b'v', b'p', b'0', b'9', 0x86]),
            VideoClass::Other
        );
        assert_eq!(video(b"\x91zzzz"), VideoClass::Other);
        assert_eq!(video(&[0xd1, 0]), VideoClass::Other);
        assert_eq!(audio(b"\x90OpusOpusHead"), AudioClass::Config);
        assert_eq!(audio(b"\x94Opus\x01\x01"), AudioClass::ConfigExtra);
        assert_eq!(audio(b"\x91Opus\xf8"), AudioClass::Other);
        assert_eq!(video_codec(b"\x91av01\x12\x00"), Some(FourCc::AV01));
        assert_eq!(enhanced_audio_codec(b"\x91Opus\xf8"), Some(FourCc::OPUS));
    }
}
