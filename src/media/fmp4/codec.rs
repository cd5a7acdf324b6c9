//! The tracks an fMP4 file can carry (H.264, HEVC, AV1, VP9 video; AAC, Opus audio), each with the
//! configuration record its sample entry wraps, and their RFC 6381 `CODECS` names for playlists.

use crate::media::aac::AudioSpecificConfig;
use crate::media::av1::Av1Config;
use crate::media::avc::AvcConfig;
use crate::media::hevc::HevcConfig;
use crate::media::opus::{self, OpusHead};
use crate::media::vp9::Vp9Config;
use bytes::Bytes;
use std::fmt::Write;

/// A video codec and the sample entry it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// `avc1` + `avcC`.
    Avc,
    /// `hvc1` + `hvcC` (parameter sets in the record; frames may repeat them in band).
    Hevc,
    /// `av01` + `av1C`.
    Av1,
    /// `vp09` + `vpcC`.
    Vp9,
}

/// An audio codec and the sample entry it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// `mp4a` + `esds` around the AudioSpecificConfig.
    Aac,
    /// `Opus` + `dOps` from the OpusHead.
    Opus,
}

/// A video track: its codec and configuration record as the sequence header carries it (avcC,
/// hvcC, av1C, or vpcC with its version and flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    pub codec: VideoCodec,
    pub config: Bytes,
    pub width: u32,
    pub height: u32,
}

/// An audio track: its codec and configuration (AudioSpecificConfig or OpusHead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    pub codec: AudioCodec,
    pub config: Bytes,
    pub sample_rate: u32,
    pub channels: u16,
}

impl VideoTrack {
    /// The track a configuration record describes; `None` when the record is malformed.
    pub fn from_config(codec: VideoCodec, config: Bytes) -> Option<VideoTrack> {
        let (width, height) = match codec {
            VideoCodec::Avc => {
                let parsed = AvcConfig::parse(&config).ok()?;
                parsed.sps_info().map_or((0, 0), |i| (i.width, i.height))
            }
            VideoCodec::Hevc => HevcConfig::parse(&config)
                .ok()?
                .dimensions()
                .unwrap_or((0, 0)),
            VideoCodec::Av1 => Av1Config::parse(&config)
                .ok()?
                .dimensions()
                .unwrap_or((0, 0)),
            // vpcC has no picture size: the first key frame's header gives it.
            VideoCodec::Vp9 => {
                Vp9Config::parse(&config).ok()?;
                (0, 0)
            }
        };
        Some(VideoTrack {
            codec,
            config,
            width,
            height,
        })
    }

    /// The RFC 6381 name (`avc1.64001f`, `hvc1.1.6.L93.B0`, `av01.0.08M.08`, `vp09.00.31.08`).
    pub fn codec_string(&self) -> String {
        let c = &self.config;
        match self.codec {
            VideoCodec::Avc if c.len() >= 4 => {
                format!("avc1.{:02x}{:02x}{:02x}", c[1], c[2], c[3])
            }
            VideoCodec::Avc => "avc1".into(),
            VideoCodec::Hevc => hevc_codec_string(c),
            VideoCodec::Av1 => match Av1Config::parse(c) {
                Ok(a) => format!(
                    "av01.{}.{:02}{}.{:02}",
                    a.seq_profile,
                    a.seq_level_idx,
                    if a.tier == 0 { 'M' } else { 'H' },
                    a.bit_depth
                ),
                Err(_) => "av01".into(),
            },
            VideoCodec::Vp9 => match Vp9Config::parse(c) {
                Ok(v) => format!("vp09.{:02}.{:02}.{:02}", v.profile, v.level, v.bit_depth),
                Err(_) => "vp09".into(),
            },
        }
    }
}

/// `hvc1.[A-C]?PROFILE.COMPAT.{L|H}LEVEL.CONSTRAINTS` from an hvcC (ISO/IEC 14496-15 Annex E):
/// the compatibility flags bit-reversed in hex, the constraint bytes without trailing zeros.
fn hevc_codec_string(c: &[u8]) -> String {
    if c.len() < 13 {
        return "hvc1".into();
    }
    let space = ["", "A", "B", "C"][usize::from(c[1] >> 6)];
    let tier = if c[1] & 0x20 != 0 { 'H' } else { 'L' };
    let profile = c[1] & 0x1f;
    let compat = u32::from_be_bytes([c[2], c[3], c[4], c[5]]).reverse_bits();
    let mut text = format!("hvc1.{space}{profile}.{compat:X}.{tier}{}", c[12]);
    let constraints = &c[6..12];
    let used = constraints
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |i| i + 1);
    for byte in &constraints[..used] {
        let _ = write!(text, ".{byte:X}");
    }
    text
}

impl AudioTrack {
    /// The track an AudioSpecificConfig or OpusHead describes; `None` when it is malformed.
    pub fn from_config(codec: AudioCodec, config: Bytes) -> Option<AudioTrack> {
        let (sample_rate, channels) = match codec {
            AudioCodec::Aac => {
                let asc = AudioSpecificConfig::parse(&config).ok()?;
                (asc.sample_rate, u16::from(asc.channels()))
            }
            AudioCodec::Opus => {
                let head = OpusHead::parse(&config)?;
                (opus::SAMPLE_RATE, u16::from(head.channels))
            }
        };
        Some(AudioTrack {
            codec,
            config,
            sample_rate,
            channels,
        })
    }

    /// The audio timescale: the sample rate (never 0).
    pub fn timescale(&self) -> u32 {
        self.sample_rate.max(1)
    }

    /// The RFC 6381 name (`mp4a.40.2`, `opus`).
    pub fn codec_string(&self) -> String {
        match self.codec {
            AudioCodec::Aac => match AudioSpecificConfig::parse(&self.config) {
                Ok(asc) => format!("mp4a.40.{}", asc.object_type),
                Err(_) => "mp4a.40.2".into(),
            },
            AudioCodec::Opus => "opus".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hevc_names_follow_annex_e() {
        // Main profile, compatibility flags 0x60000000, level 93, progressive + frame-only (0xB0).
        let mut hvcc = vec![1, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93];
        hvcc.extend_from_slice(&[0; 10]);
        assert_eq!(hevc_codec_string(&hvcc), "hvc1.1.6.L93.B0");
        hvcc[1] = 0x22; // high tier, Main 10
        hvcc[2] = 0x20;
        assert_eq!(hevc_codec_string(&hvcc), "hvc1.2.4.H93.B0");
        assert_eq!(hevc_codec_string(&[1, 2]), "hvc1");
    }

    #[test]
    fn av1_vp9_aac_and_opus_names() {
        let av1 = VideoTrack {
            codec: VideoCodec::Av1,
            config: Bytes::from_static(&[0x81, 0x08, 0x0c, 0]),
            width: 0,
            height: 0,
        };
        assert_eq!(av1.codec_string(), "av01.0.08M.08");
        let vp9 = VideoTrack {
            codec: VideoCodec::Vp9,
            config: Bytes::from_static(&[1, 0, 0, 0, 0, 31, 0x82, 0, 0, 0, 0, 0]),
            width: 0,
            height: 0,
        };
        assert_eq!(vp9.codec_string(), "vp09.00.31.08");
        let avc = VideoTrack {
            codec: VideoCodec::Avc,
            config: Bytes::from_static(&[1, 0x64, 0, 0x1f]),
            width: 0,
            height: 0,
        };
        assert_eq!(avc.codec_string(), "avc1.64001f");
        let aac =
            AudioTrack::from_config(AudioCodec::Aac, Bytes::from_static(&[0x12, 0x10])).unwrap();
        assert_eq!(aac.codec_string(), "mp4a.40.2");
        let head = Bytes::from_static(b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00");
        let opus = AudioTrack::from_config(AudioCodec::Opus, head).unwrap();
        assert_eq!(
            (
                opus.codec_string().as_str(),
                opus.sample_rate,
                opus.channels
            ),
            ("opus", 48_000, 2)
        );
    }
}
