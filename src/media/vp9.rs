//! VP9 in FLV/E-RTMP: what the worker needs from the VPCodecConfigurationRecord (profile, level,
//! bit depth) and from frames (key frames, whose header also carries the picture size).

use super::bits::BitReader;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Vp9Error {
    #[error("VP9 configuration record is truncated")]
    TruncatedConfig,
}

/// The VPCodecConfigurationRecord (`vpcC`, version 1, with its 4-byte version and flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp9Config {
    pub profile: u8,
    pub level: u8,
    pub bit_depth: u8,
    pub chroma_subsampling: u8,
}

impl Vp9Config {
    /// Parses the record (the E-RTMP SequenceStart body).
    pub fn parse(data: &[u8]) -> Result<Vp9Config, Vp9Error> {
        if data.len() < 8 {
            return Err(Vp9Error::TruncatedConfig);
        }
        Ok(Vp9Config {
            profile: data[4],
            level: data[5],
            bit_depth: data[6] >> 4,
            chroma_subsampling: (data[6] >> 1) & 0x07,
        })
    }

    /// `Profile 0` … `Profile 3`.
    pub fn profile_name(&self) -> String {
        format!("Profile {}", self.profile)
    }

    /// The level (`1`, `3.1`, …): the record stores ten times it.
    pub fn level_name(&self) -> String {
        if self.level.is_multiple_of(10) {
            format!("{}", self.level / 10)
        } else {
            format!("{}.{}", self.level / 10, self.level % 10)
        }
    }
}

/// What the first frame of a VP9 payload says of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub keyframe: bool,
    /// The picture size, read from key frames.
    pub size: Option<(u32, u32)>,
}

/// Reads the uncompressed header of the first frame of a payload (a superframe's index sits at its
/// end, so its first frame starts the payload). `None` when it is not a VP9 frame header.
pub fn frame_info(data: &[u8]) -> Option<FrameInfo> {
    let mut bits = BitReader::new(data);
    if bits.read_bits(2).ok()? != 2 {
        return None;
    }
    let low = bits.read_bit().ok()? as u8;
    let high = bits.read_bit().ok()? as u8;
    let profile = high << 1 | low;
    if profile == 3 && bits.read_bit().ok()? {
        return None;
    }
    if bits.read_bit().ok()? {
        // show_existing_frame: shows an earlier frame, starts nothing.
        return Some(FrameInfo {
            keyframe: false,
            size: None,
        });
    }
    if bits.read_bit().ok()? {
        return Some(FrameInfo {
            keyframe: false,
            size: None,
        });
    }
    let _show_frame = bits.read_bit().ok()?;
    let _error_resilient = bits.read_bit().ok()?;
    let size = key_frame_size(&mut bits, profile);
    Some(FrameInfo {
        keyframe: true,
        size,
    })
}

fn key_frame_size(bits: &mut BitReader<'_>, profile: u8) -> Option<(u32, u32)> {
    if bits.read_bits(24).ok()? != 0x49_83_42 {
        return None;
    }
    if profile >= 2 {
        bits.read_bit().ok()?;
    }
    let color_space = bits.read_bits(3).ok()?;
    if color_space != 7 {
        bits.read_bit().ok()?;
        if profile == 1 || profile == 3 {
            bits.read_bits(3).ok()?;
        }
    } else if profile == 1 || profile == 3 {
        bits.read_bit().ok()?;
    }
    let width = bits.read_bits(16).ok()? + 1;
    let height = bits.read_bits(16).ok()? + 1;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_record() {
        // FFmpeg 9 / libvpx-vp9: profile 0, level 1, 8 bits, 4:2:0.
        let config = Vp9Config::parse(&[1, 0, 0, 0, 0, 10, 0x82, 2, 2, 2, 0, 0]).unwrap();
        assert_eq!(config.profile_name(), "Profile 0");
        assert_eq!(config.level_name(), "1");
        assert_eq!(config.bit_depth, 8);
        assert_eq!(
            Vp9Config {
                level: 31,
                ..config
            }
            .level_name(),
            "3.1"
        );
        assert!(Vp9Config::parse(&[1, 0, 0]).is_err());
    }

    #[test]
    fn tells_key_frames_and_reads_their_size() {
        // Profile 0 key frame, BT.601, 160x96 (frame_width_minus_1 159, height 95).
        let key = [0x82, 0x49, 0x83, 0x42, 0x00, 0x09, 0xf0, 0x05, 0xf0];
        let info = frame_info(&key).unwrap();
        assert!(info.keyframe);
        assert_eq!(info.size, Some((160, 96)));
        // An inter frame (frame_type 1) and a frame that shows an existing one.
        assert!(!frame_info(&[0x86, 0]).unwrap().keyframe);
        assert!(!frame_info(&[0x88]).unwrap().keyframe);
        assert_eq!(frame_info(&[0x00]), None);
        assert_eq!(frame_info(&[]), None);
    }
}
