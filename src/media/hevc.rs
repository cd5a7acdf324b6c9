//! HEVC (H.265) in FLV/E-RTMP: what the worker needs from the HEVCDecoderConfigurationRecord
//! (profile, level, NAL length size, the SPS's picture size) and from frames (IRAP pictures start a
//! GOP a decoder can join).

use super::avc::{nal_units, remove_emulation_prevention};
use super::bits::{BitReader, EndOfBits};
use thiserror::Error;

/// NAL unit types.
pub const NAL_VPS: u8 = 32;
pub const NAL_SPS: u8 = 33;
pub const NAL_PPS: u8 = 34;
/// Intra random access point pictures (BLA, IDR, CRA and the reserved IRAP types) are 16..=23.
pub const IRAP: std::ops::RangeInclusive<u8> = 16..=23;

/// The largest picture side accepted from an SPS (HEVC level 6.2 tops out at 8192×4320).
const MAX_DIMENSION: u32 = 16_384;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HevcError {
    #[error("HEVC configuration record is truncated")]
    TruncatedConfig,
    #[error("HEVC configuration record version {0} is not 1")]
    BadConfigVersion(u8),
    #[error("HEVC configuration record has no SPS")]
    NoSps,
    #[error("HEVC SPS is truncated")]
    TruncatedSps,
    #[error("HEVC SPS field {0} is out of range")]
    SpsOutOfRange(&'static str),
}

impl From<EndOfBits> for HevcError {
    fn from(_: EndOfBits) -> Self {
        HevcError::TruncatedSps
    }
}

/// The HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    pub profile_idc: u8,
    pub tier: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u8,
    /// Bytes of the length before each NAL unit in frames (1, 2 or 4).
    pub nalu_length_size: u8,
    /// The first SPS NAL unit (with its 2-byte header), if any.
    pub sps: Option<Vec<u8>>,
}

impl HevcConfig {
    /// Parses the record (the E-RTMP SequenceStart body).
    pub fn parse(data: &[u8]) -> Result<HevcConfig, HevcError> {
        if data.len() < 23 {
            return Err(HevcError::TruncatedConfig);
        }
        if data[0] != 1 {
            return Err(HevcError::BadConfigVersion(data[0]));
        }
        let mut config = HevcConfig {
            tier: (data[1] >> 5) & 1,
            profile_idc: data[1] & 0x1f,
            level_idc: data[12],
            chroma_format_idc: data[16] & 0x03,
            nalu_length_size: (data[21] & 0x03) + 1,
            sps: None,
        };
        let arrays = data[22];
        let mut pos: usize = 23;
        let mut take = |len: usize| -> Result<&[u8], HevcError> {
            let end = pos
                .checked_add(len)
                .filter(|end| *end <= data.len())
                .ok_or(HevcError::TruncatedConfig)?;
            let slice = &data[pos..end];
            pos = end;
            Ok(slice)
        };
        for _ in 0..arrays {
            let nal_type = take(1)?[0] & 0x3f;
            let count = take(2)?;
            let count = u16::from_be_bytes([count[0], count[1]]);
            for _ in 0..count {
                let len = take(2)?;
                let nalu = take(usize::from(u16::from_be_bytes([len[0], len[1]])))?;
                if nal_type == NAL_SPS && config.sps.is_none() {
                    config.sps = Some(nalu.to_vec());
                }
            }
        }
        Ok(config)
    }

    /// The first SPS's picture size.
    pub fn dimensions(&self) -> Result<(u32, u32), HevcError> {
        sps_dimensions(self.sps.as_deref().ok_or(HevcError::NoSps)?)
    }

    /// The profile as SRS names it (`Main`, `Main10`, …).
    pub fn profile_name(&self) -> &'static str {
        match self.profile_idc {
            1 => "Main",
            2 => "Main10",
            3 => "Main Still Picture",
            4 => "RExt",
            _ => "Other",
        }
    }

    /// The level as SRS names it (`3.1`, `4`, …): general_level_idc is 30 × the level.
    pub fn level_name(&self) -> String {
        let major = self.level_idc / 30;
        let minor = (self.level_idc % 30) / 3;
        if minor == 0 {
            format!("{major}")
        } else {
            format!("{major}.{minor}")
        }
    }
}

/// The picture size an SPS NAL unit (with its 2-byte header) declares, after the conformance window.
pub fn sps_dimensions(nalu: &[u8]) -> Result<(u32, u32), HevcError> {
    if nalu.len() < 3 || (nalu[0] >> 1) & 0x3f != NAL_SPS {
        return Err(HevcError::TruncatedSps);
    }
    let rbsp = remove_emulation_prevention(&nalu[2..]);
    let mut bits = BitReader::new(&rbsp);
    let _vps_id = bits.read_bits(4)?;
    let max_sub_layers_minus1 = bits.read_bits(3)?;
    let _temporal_id_nesting = bits.read_bit()?;
    skip_profile_tier_level(&mut bits, max_sub_layers_minus1)?;
    let _sps_id = bits.read_ue()?;
    let chroma_format_idc = bits.read_ue()?;
    if chroma_format_idc > 3 {
        return Err(HevcError::SpsOutOfRange("chroma_format_idc"));
    }
    let separate_colour_plane = chroma_format_idc == 3 && bits.read_bit()?;
    let width = bits.read_ue()?;
    let height = bits.read_ue()?;
    let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
    if bits.read_bit()? {
        left = bits.read_ue()?.into();
        right = bits.read_ue()?.into();
        top = bits.read_ue()?.into();
        bottom = bits.read_ue()?.into();
    }
    let chroma = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (unit_x, unit_y) = match chroma {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop = |full: u32, a: u64, b: u64, unit: u64, what| {
        u64::from(full)
            .checked_sub(unit * (a + b))
            .filter(|v| (1..=u64::from(MAX_DIMENSION)).contains(v))
            .map(|v| v as u32)
            .ok_or(HevcError::SpsOutOfRange(what))
    };
    Ok((
        crop(width, left, right, unit_x, "width")?,
        crop(height, top, bottom, unit_y, "height")?,
    ))
}

fn skip_profile_tier_level(
    bits: &mut BitReader<'_>,
    max_sub_layers_minus1: u32,
) -> Result<(), HevcError> {
    // General profile: space, tier, idc (8), compatibility flags (32), 48 bits of constraint
    // flags; then the general level (8).
    for _ in 0..3 {
        bits.read_bits(32)?;
    }
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..max_sub_layers_minus1 as usize {
        profile_present[i] = bits.read_bit()?;
        level_present[i] = bits.read_bit()?;
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            bits.read_bits(2)?;
        }
    }
    for i in 0..max_sub_layers_minus1 as usize {
        if profile_present[i] {
            bits.read_bits(32)?;
            bits.read_bits(32)?;
            bits.read_bits(24)?;
        }
        if level_present[i] {
            bits.read_bits(8)?;
        }
    }
    Ok(())
}

/// Whether a frame (length-prefixed NAL units) holds an IRAP picture: `None` when its NAL units do
/// not parse with `length_size`.
pub fn has_irap(frame: &[u8], length_size: u8) -> Option<bool> {
    let mut irap = false;
    for nalu in nal_units(frame, length_size) {
        let nalu = nalu.ok()?;
        let nal_type = (nalu.first()? >> 1) & 0x3f;
        irap |= IRAP.contains(&nal_type);
    }
    Some(irap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    // libx265's SPS for 160x96 (Main, level 1), as FFmpeg 9 put it in hvcC.
    const SPS_160X96: &str =
        "42010101600000030090000003000003001ea01420616595952930bc05a0200000030020000003014122";

    #[test]
    fn reads_the_sps_size() {
        let (w, h) = sps_dimensions(&hex(SPS_160X96)).unwrap();
        assert_eq!((w, h), (160, 96));
    }

    #[test]
    fn parses_a_record_and_names_it() {
        let sps = hex(SPS_160X96);
        let mut record = vec![
            1, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 30, 0xf0, 0, 0xfc, 0xfd,
        ];
        record.extend_from_slice(&[0xf8, 0xf8, 0, 0, 0x0f, 1, 0x21, 0, 1]);
        record.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        record.extend_from_slice(&sps);
        let config = HevcConfig::parse(&record).unwrap();
        assert_eq!(config.profile_name(), "Main");
        assert_eq!(config.level_name(), "1");
        assert_eq!(config.nalu_length_size, 4);
        assert_eq!(config.dimensions().unwrap(), (160, 96));
        assert_eq!(
            HevcConfig {
                level_idc: 93,
                ..config
            }
            .level_name(),
            "3.1"
        );
        assert!(HevcConfig::parse(&record[..30]).is_err());
        assert_eq!(
            HevcConfig::parse(&[2; 23]),
            Err(HevcError::BadConfigVersion(2))
        );
    }

    #[test]
    fn finds_irap_pictures() {
        // IDR_W_RADL (19), then a TRAIL_R (1) frame, then a CRA (21) after an AUD (35).
        assert_eq!(has_irap(&[0, 0, 0, 2, 19 << 1, 1], 4), Some(true));
        assert_eq!(has_irap(&[0, 0, 0, 2, 1 << 1, 1], 4), Some(false));
        assert_eq!(
            has_irap(&[0, 0, 0, 1, 35 << 1, 0, 0, 0, 1, 21 << 1], 4),
            Some(true)
        );
        assert_eq!(has_irap(&[0, 0, 0, 9, 19 << 1], 4), None);
    }
}
