//! Entry points for the E-RTMP header and codec-record fuzz targets (`fuzz/fuzz_targets/
//! media_ertmp.rs`, `media_codecs.rs`), also driven by `tests/ertmp_fuzz_smoke.rs` on stable. Each
//! must never panic, whatever the bytes.

use super::av1::{self, Av1Config, SequenceHeader};
use super::ertmp::{self, MultitrackType};
use super::hevc::{self, HevcConfig};
use super::opus::OpusHead;
use super::tag_class;
use super::vp9::{self, Vp9Config};

/// The E-RTMP header parsers and the tag classification; a single-track header that parses is
/// written back to the same bytes.
pub fn ertmp(data: &[u8]) {
    let _ = tag_class::video(data);
    let _ = tag_class::audio(data);
    let _ = tag_class::video_codec(data);
    let _ = tag_class::enhanced_audio_codec(data);
    if let Ok(h) = ertmp::parse_video(data) {
        assert!(h.body.start <= h.body.end && h.body.end <= data.len());
        let plain = data[0] & 0x0f != 7 && h.multitrack.is_none() && h.command.is_none();
        if plain {
            let mut out = Vec::new();
            let body = &data[h.body.clone()];
            ertmp::write_video(
                &mut out,
                h.frame_type,
                h.packet_type,
                h.fourcc,
                h.composition_time,
                body,
            );
            assert_eq!(
                ertmp::parse_video(&out)
                    .as_ref()
                    .map(|p| &out[p.body.clone()]),
                Ok(body)
            );
        }
        if h.multitrack == Some(MultitrackType::OneTrack) {
            assert_eq!(h.body.end, data.len());
        }
    }
    if let Ok(h) = ertmp::parse_audio(data) {
        assert!(h.body.start <= h.body.end && h.body.end <= data.len());
        if data[0] & 0x0f != 7 && h.multitrack.is_none() {
            let mut out = Vec::new();
            ertmp::write_audio(&mut out, h.packet_type, h.fourcc, &data[h.body.clone()]);
            assert_eq!(&out[..], data);
        }
    }
}

/// The HEVC, AV1, VP9 and Opus configuration records and frame readers, and the fMP4 tracks and
/// RFC 6381 names made of them.
pub fn codecs(data: &[u8]) {
    use super::fmp4::{AudioCodec, AudioTrack, VideoCodec, VideoTrack};
    let bytes = bytes::Bytes::copy_from_slice(data);
    let _ = super::fmp4::read_video(&bytes);
    let _ = super::fmp4::read_audio(&bytes);
    // An AV1 temporal unit as a sample: never longer than what came.
    assert!(super::fmp4::without_temporal_delimiters(bytes.clone()).len() <= bytes.len());
    for codec in [
        VideoCodec::Avc,
        VideoCodec::Hevc,
        VideoCodec::Av1,
        VideoCodec::Vp9,
    ] {
        if let Some(track) = VideoTrack::from_config(codec, bytes.clone()) {
            let _ = track.codec_string();
            let _ = super::fmp4::init_segment(Some(&track), None);
        }
    }
    for codec in [AudioCodec::Aac, AudioCodec::Opus] {
        if let Some(track) = AudioTrack::from_config(codec, bytes.clone()) {
            let _ = track.codec_string();
            let _ = super::fmp4::init_segment(None, Some(&track));
        }
    }
    if let Ok(config) = HevcConfig::parse(data) {
        let _ = config.profile_name();
        let _ = config.level_name();
        if let Ok((w, h)) = config.dimensions() {
            assert!(w > 0 && h > 0);
        }
    }
    let _ = hevc::sps_dimensions(data);
    for length_size in 1..=4 {
        let _ = hevc::has_irap(data, length_size);
    }
    if let Ok(config) = Av1Config::parse(data) {
        let _ = config.level_name();
        let _ = config.dimensions();
    }
    let _ = SequenceHeader::parse(data);
    let _ = av1::is_key_temporal_unit(data);
    for (_, payload) in av1::obus(data).flatten() {
        assert!(payload.len() <= data.len());
    }
    if let Ok(config) = Vp9Config::parse(data) {
        let _ = config.level_name();
    }
    let _ = vp9::frame_info(data);
    let _ = OpusHead::parse(data);
}
