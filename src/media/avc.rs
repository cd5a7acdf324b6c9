//! H.264 in FLV: the AVCDecoderConfigurationRecord, SPS fields (profile, level, size) and the
//! length-prefixed (AVCC) to Annex-B conversion MPEG-TS needs.

use super::bits::{BitReader, EndOfBits};
use bytes::Bytes;
use thiserror::Error;

/// NAL unit types this crate cares about.
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

/// The largest picture side accepted from an SPS (H.264 level 6.2 tops out at 8192×4320).
const MAX_DIMENSION: u64 = 16_384;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AvcError {
    #[error("AVC configuration record is truncated")]
    TruncatedConfig,
    #[error("AVC configuration record version {0} is not 1")]
    BadConfigVersion(u8),
    #[error("AVC configuration record has no SPS")]
    NoSps,
    #[error("NAL unit length size {0} is not 1, 2, 3 or 4")]
    BadLengthSize(u8),
    #[error("NAL unit length {declared} exceeds the {available} bytes left in the frame")]
    NaluOverrun { declared: usize, available: usize },
    #[error("not an SPS NAL unit (type {0})")]
    NotSps(u8),
    #[error("SPS is truncated")]
    TruncatedSps,
    #[error("SPS field {0} is out of range")]
    SpsOutOfRange(&'static str),
}

impl From<EndOfBits> for AvcError {
    fn from(_: EndOfBits) -> Self {
        AvcError::TruncatedSps
    }
}

/// The AVCDecoderConfigurationRecord carried by the FLV AVC sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    pub profile_indication: u8,
    pub profile_compatibility: u8,
    pub level_indication: u8,
    /// Bytes of the big-endian length before each NAL unit in frames (1, 2 or 4).
    pub nalu_length_size: u8,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

impl AvcConfig {
    /// Parses the record (the FLV video payload after its 5-byte header).
    pub fn parse(data: &[u8]) -> Result<AvcConfig, AvcError> {
        let mut cursor = Cursor { data, pos: 0 };
        let version = cursor.u8()?;
        if version != 1 {
            return Err(AvcError::BadConfigVersion(version));
        }
        let profile_indication = cursor.u8()?;
        let profile_compatibility = cursor.u8()?;
        let level_indication = cursor.u8()?;
        let nalu_length_size = (cursor.u8()? & 0x03) + 1;
        if nalu_length_size == 3 {
            return Err(AvcError::BadLengthSize(3));
        }
        let sps_count = cursor.u8()? & 0x1f;
        let mut sps = Vec::with_capacity(usize::from(sps_count));
        for _ in 0..sps_count {
            let len = usize::from(cursor.u16()?);
            sps.push(Bytes::copy_from_slice(cursor.take(len)?));
        }
        let pps_count = cursor.u8()?;
        let mut pps = Vec::with_capacity(usize::from(pps_count));
        for _ in 0..pps_count {
            let len = usize::from(cursor.u16()?);
            pps.push(Bytes::copy_from_slice(cursor.take(len)?));
        }
        if sps.is_empty() {
            return Err(AvcError::NoSps);
        }
        Ok(AvcConfig {
            profile_indication,
            profile_compatibility,
            level_indication,
            nalu_length_size,
            sps,
            pps,
        })
    }

    /// The first SPS, parsed.
    pub fn sps_info(&self) -> Result<SpsInfo, AvcError> {
        SpsInfo::parse(self.sps.first().ok_or(AvcError::NoSps)?)
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], AvcError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.data.len())
            .ok_or(AvcError::TruncatedConfig)?;
        let slice = &self.data[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, AvcError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, AvcError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }
}

/// What the API and playlists need from a sequence parameter set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u32,
    pub width: u32,
    pub height: u32,
}

impl SpsInfo {
    /// Parses an SPS NAL unit including its one-byte NAL header.
    ///
    /// Long because it reads the SPS syntax of ITU-T H.264 7.3.2.1.1 in its order, each field after
    /// the previous from the same bit reader; the spec's table is the better map than helpers.
    pub fn parse(nalu: &[u8]) -> Result<SpsInfo, AvcError> {
        let header = *nalu.first().ok_or(AvcError::TruncatedSps)?;
        if header & 0x1f != NAL_SPS {
            return Err(AvcError::NotSps(header & 0x1f));
        }
        let rbsp = remove_emulation_prevention(&nalu[1..]);
        let mut bits = BitReader::new(&rbsp);
        let profile_idc = bits.read_bits(8)? as u8;
        let constraint_flags = bits.read_bits(8)? as u8;
        let level_idc = bits.read_bits(8)? as u8;
        let _sps_id = bits.read_ue()?;

        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        if matches!(
            profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            chroma_format_idc = bits.read_ue()?;
            if chroma_format_idc > 3 {
                return Err(AvcError::SpsOutOfRange("chroma_format_idc"));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = bits.read_bit()?;
            }
            let _bit_depth_luma = bits.read_ue()?;
            let _bit_depth_chroma = bits.read_ue()?;
            let _qpprime_y_zero_transform_bypass = bits.read_bit()?;
            if bits.read_bit()? {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for index in 0..lists {
                    if bits.read_bit()? {
                        skip_scaling_list(&mut bits, if index < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let _log2_max_frame_num = bits.read_ue()?;
        match bits.read_ue()? {
            0 => {
                let _log2_max_poc_lsb = bits.read_ue()?;
            }
            1 => {
                let _delta_pic_order_always_zero = bits.read_bit()?;
                let _offset_for_non_ref_pic = bits.read_se()?;
                let _offset_for_top_to_bottom_field = bits.read_se()?;
                let cycle = bits.read_ue()?;
                if cycle > 255 {
                    return Err(AvcError::SpsOutOfRange(
                        "num_ref_frames_in_pic_order_cnt_cycle",
                    ));
                }
                for _ in 0..cycle {
                    let _offset_for_ref_frame = bits.read_se()?;
                }
            }
            2 => {}
            _ => return Err(AvcError::SpsOutOfRange("pic_order_cnt_type")),
        }
        let _max_num_ref_frames = bits.read_ue()?;
        let _gaps_in_frame_num_allowed = bits.read_bit()?;
        let width_in_mbs = u64::from(bits.read_ue()?) + 1;
        let height_in_map_units = u64::from(bits.read_ue()?) + 1;
        let frame_mbs_only = bits.read_bit()?;
        if !frame_mbs_only {
            let _mb_adaptive_frame_field = bits.read_bit()?;
        }
        let _direct_8x8_inference = bits.read_bit()?;
        let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) =
            (0u64, 0u64, 0u64, 0u64);
        if bits.read_bit()? {
            crop_left = bits.read_ue()?.into();
            crop_right = bits.read_ue()?.into();
            crop_top = bits.read_ue()?.into();
            crop_bottom = bits.read_ue()?.into();
        }

        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_unit_x, crop_unit_y) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let full_width = width_in_mbs * 16;
        let full_height = height_in_map_units * 16 * field_factor;
        let width = full_width
            .checked_sub(crop_unit_x * (crop_left + crop_right))
            .filter(|w| (1..=MAX_DIMENSION).contains(w))
            .ok_or(AvcError::SpsOutOfRange("width"))?;
        let height = full_height
            .checked_sub(crop_unit_y * (crop_top + crop_bottom))
            .filter(|h| (1..=MAX_DIMENSION).contains(h))
            .ok_or(AvcError::SpsOutOfRange("height"))?;
        Ok(SpsInfo {
            profile_idc,
            constraint_flags,
            level_idc,
            chroma_format_idc,
            width: width as u32,
            height: height as u32,
        })
    }

    /// The profile's name as SRS reports it (`Baseline`, `Main`, `High`, …).
    pub fn profile_name(&self) -> &'static str {
        profile_name(self.profile_idc)
    }

    /// The level as SRS reports it (`3.1`, `4`, …).
    pub fn level_name(&self) -> String {
        level_name(self.level_idc)
    }
}

pub fn profile_name(profile_idc: u8) -> &'static str {
    match profile_idc {
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 => "High 10",
        122 => "High 4:2:2",
        244 => "High 4:4:4",
        _ => "Other",
    }
}

pub fn level_name(level_idc: u8) -> String {
    if level_idc.is_multiple_of(10) {
        format!("{}", level_idc / 10)
    } else {
        format!("{}.{}", level_idc / 10, level_idc % 10)
    }
}

fn skip_scaling_list(bits: &mut BitReader<'_>, size: usize) -> Result<(), AvcError> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = bits.read_se()?;
            // The spec bounds delta_scale to -128..=127; anything else is garbage (and could overflow).
            if !(-128..=127).contains(&delta) {
                return Err(AvcError::SpsOutOfRange("delta_scale"));
            }
            next_scale = (last_scale + delta).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

/// Drops the `0x03` of every `00 00 03` sequence (NAL payload → RBSP).
pub fn remove_emulation_prevention(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &byte in data {
        if zeros >= 2 && byte == 0x03 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

/// Iterates the NAL units of a length-prefixed (AVCC) frame, checking each length.
pub fn nal_units(data: &[u8], length_size: u8) -> NalUnits<'_> {
    NalUnits {
        data,
        length_size: usize::from(length_size),
    }
}

pub struct NalUnits<'a> {
    data: &'a [u8],
    length_size: usize,
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Result<&'a [u8], AvcError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        if !(1..=4).contains(&self.length_size) {
            self.data = &[];
            return Some(Err(AvcError::BadLengthSize(self.length_size as u8)));
        }
        if self.data.len() < self.length_size {
            let available = self.data.len();
            self.data = &[];
            return Some(Err(AvcError::NaluOverrun {
                declared: self.length_size,
                available,
            }));
        }
        let (prefix, rest) = self.data.split_at(self.length_size);
        let len = prefix
            .iter()
            .fold(0usize, |acc, byte| (acc << 8) | usize::from(*byte));
        if len > rest.len() {
            self.data = &[];
            return Some(Err(AvcError::NaluOverrun {
                declared: len,
                available: rest.len(),
            }));
        }
        let (nalu, rest) = rest.split_at(len);
        self.data = rest;
        Some(Ok(nalu))
    }
}

/// Appends `nalu` to `out` behind a 4-byte Annex-B start code.
pub fn push_annexb(out: &mut Vec<u8>, nalu: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(nalu);
}

/// Converts a length-prefixed frame to Annex-B, appending to `out`.
pub fn avcc_to_annexb(data: &[u8], length_size: u8, out: &mut Vec<u8>) -> Result<(), AvcError> {
    for nalu in nal_units(data, length_size) {
        push_annexb(out, nalu?);
    }
    Ok(())
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

    // SPS NAL units produced by ffmpeg/libx264 for these sizes.
    const SPS_320X240_BASELINE: &str = "6742c00dda0507ec0440000003004000000c83c50aa8";
    const SPS_1280X720_HIGH: &str = "6764001facd9405005bb011000000300100000030320f1831960";
    const SPS_1920X1080_HIGH: &str = "67640028acd940780227e5c044000003000400000300c83c60c658";
    const SPS_330X250_BASELINE: &str = "6742c00dda05421e493011000003000100000300320f142aa0";
    const SPS_640X360_HIGH444: &str = "67f4001e919680a02ff89c0440000003004000000c83c58ba8";

    #[test]
    fn rejects_out_of_range_scaling_list_delta() {
        // Found by the media_avc fuzz target: a High-profile SPS whose scaling list delta_scale is
        // near i32::MAX overflowed `last_scale + delta`.
        let sps = hex("677600ffffffff030000fe000000002f00000000000000ffffffea8d");
        assert_eq!(
            SpsInfo::parse(&sps),
            Err(AvcError::SpsOutOfRange("delta_scale"))
        );
    }

    #[test]
    fn parses_baseline_320x240() {
        let info = SpsInfo::parse(&hex(SPS_320X240_BASELINE)).unwrap();
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.profile_name(), "Baseline");
        assert_eq!(info.level_name(), "1.3");
    }

    #[test]
    fn parses_high_profile_1280x720() {
        let info = SpsInfo::parse(&hex(SPS_1280X720_HIGH)).unwrap();
        assert_eq!((info.width, info.height), (1280, 720));
        assert_eq!(info.profile_name(), "High");
        assert_eq!(info.level_name(), "3.1");
        assert_eq!(info.chroma_format_idc, 1);
    }

    #[test]
    fn applies_cropping_to_1920x1080() {
        // 1080 is not a multiple of 16: the SPS codes 1088 lines and crops 8.
        let info = SpsInfo::parse(&hex(SPS_1920X1080_HIGH)).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.level_name(), "4");
    }

    #[test]
    fn applies_cropping_on_both_axes() {
        let info = SpsInfo::parse(&hex(SPS_330X250_BASELINE)).unwrap();
        assert_eq!((info.width, info.height), (330, 250));
    }

    #[test]
    fn parses_high_444_chroma_format() {
        let info = SpsInfo::parse(&hex(SPS_640X360_HIGH444)).unwrap();
        assert_eq!(info.chroma_format_idc, 3);
        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.profile_name(), "High 4:4:4");
    }

    #[test]
    fn rejects_truncated_and_foreign_nal_units() {
        let sps = hex(SPS_1280X720_HIGH);
        for len in 0..8 {
            assert!(SpsInfo::parse(&sps[..len]).is_err(), "prefix {len}");
        }
        assert_eq!(SpsInfo::parse(&[0x68, 0xee]), Err(AvcError::NotSps(8)));
    }

    fn config_record(sps: &[u8], pps: &[u8]) -> Vec<u8> {
        let mut record = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        record.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        record.extend_from_slice(sps);
        record.push(1);
        record.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        record.extend_from_slice(pps);
        record
    }

    #[test]
    fn parses_configuration_record() {
        let sps = hex(SPS_1280X720_HIGH);
        let pps = hex("68eae3cb22c0");
        let config = AvcConfig::parse(&config_record(&sps, &pps)).unwrap();
        assert_eq!(config.nalu_length_size, 4);
        assert_eq!(config.profile_indication, 100);
        assert_eq!(config.sps[0].as_ref(), &sps[..]);
        assert_eq!(config.pps[0].as_ref(), &pps[..]);
        assert_eq!(config.sps_info().unwrap().width, 1280);
    }

    #[test]
    fn rejects_truncated_configuration_record() {
        let record = config_record(&hex(SPS_320X240_BASELINE), &hex("68ce3c80"));
        for len in 0..record.len() {
            assert!(AvcConfig::parse(&record[..len]).is_err(), "prefix {len}");
        }
        let mut bad_version = record.clone();
        bad_version[0] = 2;
        assert_eq!(
            AvcConfig::parse(&bad_version),
            Err(AvcError::BadConfigVersion(2))
        );
    }

    #[test]
    fn converts_length_prefixed_to_annexb() {
        let frame = [0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x06];
        let mut out = Vec::new();
        avcc_to_annexb(&frame, 4, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 1, 0x06]);
        let short = [0, 0, 0, 9, 0x65];
        assert!(matches!(
            avcc_to_annexb(&short, 4, &mut Vec::new()),
            Err(AvcError::NaluOverrun {
                declared: 9,
                available: 1
            })
        ));
        let two_byte = [0, 1, 0x41];
        assert_eq!(
            nal_units(&two_byte, 2)
                .collect::<Result<Vec<_>, _>>()
                .unwrap(),
            vec![&[0x41][..]]
        );
    }

    #[test]
    fn strips_emulation_prevention_bytes() {
        assert_eq!(
            remove_emulation_prevention(&[1, 0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![1, 0, 0, 1, 0, 0, 0, 3]
        );
    }
}
