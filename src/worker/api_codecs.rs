//! The `video` and `audio` objects of `/api/v1/streams` in SRS's shape, read from the stream's
//! sequence headers (legacy FLV and E-RTMP): codec (`H264`, `H265`, `AV1`, `VP9`; `AAC`, `Opus`…),
//! profile, level, size, sample rate, channels. What a codec's header lacks (VP9's picture size)
//! comes from `onMetaData`.

use crate::media::aac::AudioSpecificConfig;
use crate::media::av1::Av1Config;
use crate::media::avc::AvcConfig;
use crate::media::ertmp::{self, FourCc, VideoPacketType};
use crate::media::hevc::HevcConfig;
use crate::media::opus::{self, OpusHead};
use crate::media::vp9::Vp9Config;
use crate::rtmp::amf0::{self, Amf0};
use serde_json::{json, Value};

/// SRS's video object; `None` fields are `null`.
struct Video {
    codec: &'static str,
    profile: Option<String>,
    level: Option<String>,
    size: Option<(u32, u32)>,
}

impl Video {
    fn bare(codec: &'static str) -> Video {
        Video {
            codec,
            profile: None,
            level: None,
            size: None,
        }
    }

    fn json(self) -> Value {
        json!({
            "codec": self.codec,
            "profile": self.profile,
            "level": self.level,
            "width": self.size.map(|s| s.0),
            "height": self.size.map(|s| s.1),
        })
    }
}

/// The `video` object from an FLV video sequence header, `null` when absent or unparsable.
pub fn video_json(sequence_header: Option<&[u8]>) -> Value {
    video_json_with(sequence_header, None)
}

/// [`video_json`], taking the picture size from `onMetaData` when the header has none.
pub fn video_json_with(sequence_header: Option<&[u8]>, metadata: Option<&[u8]>) -> Value {
    let Some(payload) = sequence_header else {
        return Value::Null;
    };
    let Some(mut video) = video_facts(payload) else {
        return Value::Null;
    };
    if video.size.is_none() {
        video.size = metadata.and_then(metadata_size);
    }
    video.json()
}

fn video_facts(payload: &[u8]) -> Option<Video> {
    let first = *payload.first()?;
    if first & ertmp::VIDEO_EX_HEADER_FLAG == 0 {
        return match first & 0x0f {
            7 if payload.len() > 5 => Some(avc(&payload[5..])),
            12 if payload.len() > 5 => Some(hevc(&payload[5..])),
            _ => None,
        };
    }
    // Enhanced RTMP: the FourCC names the codec, the SequenceStart body is its record.
    let header = ertmp::parse_video(payload).ok()?;
    let body = &payload[header.body];
    if header.packet_type != VideoPacketType::SequenceStart {
        return Some(Video::bare("Other"));
    }
    Some(match header.fourcc {
        FourCc::AVC1 => avc(body),
        FourCc::HVC1 => hevc(body),
        FourCc::AV01 => match Av1Config::parse(body) {
            Ok(c) => Video {
                codec: "AV1",
                profile: Some(c.profile_name().into()),
                level: Some(c.level_name()),
                size: c.dimensions().ok(),
            },
            Err(_) => Video::bare("AV1"),
        },
        FourCc::VP09 => match Vp9Config::parse(body) {
            Ok(c) => Video {
                codec: "VP9",
                profile: Some(c.profile_name()),
                level: Some(c.level_name()),
                size: None,
            },
            Err(_) => Video::bare("VP9"),
        },
        FourCc::VP08 => Video::bare("VP8"),
        FourCc::VVC1 => Video::bare("H266"),
        _ => Video::bare("Other"),
    })
}

fn avc(record: &[u8]) -> Video {
    match AvcConfig::parse(record).and_then(|c| c.sps_info()) {
        Ok(sps) => Video {
            codec: "H264",
            profile: Some(sps.profile_name().into()),
            level: Some(sps.level_name()),
            size: Some((sps.width, sps.height)),
        },
        Err(_) => Video::bare("H264"),
    }
}

fn hevc(record: &[u8]) -> Video {
    match HevcConfig::parse(record) {
        Ok(c) => Video {
            codec: "H265",
            profile: Some(c.profile_name().into()),
            level: Some(c.level_name()),
            size: c.dimensions().ok(),
        },
        Err(_) => Video::bare("H265"),
    }
}

/// `width` and `height` of an `onMetaData` body.
fn metadata_size(metadata: &[u8]) -> Option<(u32, u32)> {
    let values = amf0::decode_all(metadata).ok()?;
    let props = values.get(1)?;
    let number = |key| {
        props
            .get(key)
            .and_then(Amf0::as_number)
            .filter(|n| *n >= 1.0 && *n <= 65_535.0)
            .map(|n| n as u32)
    };
    Some((number("width")?, number("height")?))
}

/// The `audio` object from an FLV audio sequence header, `null` when absent or unparsable.
pub fn audio_json(sequence_header: Option<&[u8]>) -> Value {
    let Some(payload) = sequence_header else {
        return Value::Null;
    };
    let aac = |config: &[u8]| match AudioSpecificConfig::parse(config) {
        Ok(config) => json!({
            "codec": "AAC",
            "sample_rate": config.sample_rate,
            "channel": config.channels(),
            "profile": config.profile_name(),
        }),
        Err(_) => json!({"codec": "AAC", "sample_rate": null, "channel": null, "profile": null}),
    };
    if payload.len() >= 2 && payload[0] >> 4 == 10 {
        return aac(&payload[2..]);
    }
    let Ok(header) = ertmp::parse_audio(payload) else {
        return Value::Null;
    };
    let body = &payload[header.body];
    let bare = |codec: &str| json!({"codec": codec, "sample_rate": null, "channel": null, "profile": null});
    match header.fourcc {
        FourCc::MP4A => aac(body),
        FourCc::OPUS => match OpusHead::parse(body) {
            Some(head) => json!({
                "codec": "Opus",
                "sample_rate": opus::SAMPLE_RATE,
                "channel": head.channels,
                "profile": null,
            }),
            None => bare("Opus"),
        },
        FourCc::AC3 => bare("AC3"),
        FourCc::EC3 => bare("EAC3"),
        FourCc::FLAC => bare("FLAC"),
        FourCc::MP3 => bare("MP3"),
        _ => bare("Other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_enhanced_rtmp_codecs() {
        let mut av1 = b"\x90av01".to_vec();
        av1.extend_from_slice(&[
            0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x1d, 0xa7, 0xef, 0x80,
            0x5f, 0x00, 0x08,
        ]);
        assert_eq!(
            video_json(Some(&av1)),
            json!({"codec": "AV1", "profile": "Main", "level": "2.0", "width": 160, "height": 96})
        );
        let vp9 = b"\x90vp09\x01\x00\x00\x00\x00\x0a\x82\x02\x02\x02\x00\x00";
        let meta = amf0::encode_all(&[
            Amf0::str("onMetaData"),
            Amf0::EcmaArray(vec![
                ("width".into(), Amf0::Number(160.0)),
                ("height".into(), Amf0::Number(96.0)),
            ]),
        ]);
        assert_eq!(
            video_json_with(Some(vp9), Some(&meta)),
            json!({"codec": "VP9", "profile": "Profile 0", "level": "1", "width": 160, "height": 96})
        );
        assert_eq!(video_json(Some(b"\x90hvc1\x01"))["codec"], "H265");
        assert_eq!(video_json(Some(b"\x90zzzz")), Value::Null);
        let opus = b"\x90OpusOpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        assert_eq!(
            audio_json(Some(opus)),
            json!({"codec": "Opus", "sample_rate": 48000, "channel": 2, "profile": null})
        );
        assert_eq!(audio_json(Some(b"\x90mp4a\x12\x10"))["profile"], "LC");
        assert_eq!(audio_json(Some(b"\x90fLaC"))["codec"], "FLAC");
    }
}
