//! AV1 in FLV/E-RTMP: what the worker needs from the AV1CodecConfigurationRecord (profile, level,
//! the sequence header's maximum picture size) and from temporal units (a shown key frame is where
//! a decoder can join).

use super::bits::{BitReader, EndOfBits};
use thiserror::Error;

/// OBU types.
pub const OBU_SEQUENCE_HEADER: u8 = 1;
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
pub const OBU_FRAME_HEADER: u8 = 3;
pub const OBU_FRAME: u8 = 6;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Av1Error {
    #[error("AV1 configuration record is truncated")]
    TruncatedConfig,
    #[error("AV1 configuration record marker/version {0:#04x} is not 0x81")]
    BadConfigVersion(u8),
    #[error("AV1 OBU is truncated")]
    TruncatedObu,
    #[error("AV1 sequence header is truncated")]
    TruncatedSequenceHeader,
    #[error("AV1 configuration record has no sequence header")]
    NoSequenceHeader,
}

impl From<EndOfBits> for Av1Error {
    fn from(_: EndOfBits) -> Self {
        Av1Error::TruncatedSequenceHeader
    }
}

/// The AV1CodecConfigurationRecord (`av1C`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    pub seq_profile: u8,
    pub seq_level_idx: u8,
    pub tier: u8,
    pub bit_depth: u8,
    pub monochrome: bool,
    /// The configOBUs after the 4-byte header (normally the sequence header OBU).
    pub config_obus: Vec<u8>,
}

impl Av1Config {
    /// Parses the record (the E-RTMP SequenceStart body).
    pub fn parse(data: &[u8]) -> Result<Av1Config, Av1Error> {
        if data.len() < 4 {
            return Err(Av1Error::TruncatedConfig);
        }
        if data[0] != 0x81 {
            return Err(Av1Error::BadConfigVersion(data[0]));
        }
        let high_bitdepth = data[2] & 0x40 != 0;
        let twelve_bit = data[2] & 0x20 != 0;
        Ok(Av1Config {
            seq_profile: data[1] >> 5,
            seq_level_idx: data[1] & 0x1f,
            tier: data[2] >> 7,
            bit_depth: match (high_bitdepth, twelve_bit) {
                (true, true) => 12,
                (true, false) => 10,
                _ => 8,
            },
            monochrome: data[2] & 0x10 != 0,
            config_obus: data[4..].to_vec(),
        })
    }

    /// The maximum picture size of the sequence header among the config OBUs.
    pub fn dimensions(&self) -> Result<(u32, u32), Av1Error> {
        for obu in obus(&self.config_obus) {
            let (obu_type, payload) = obu?;
            if obu_type == OBU_SEQUENCE_HEADER {
                let header = SequenceHeader::parse(payload)?;
                return Ok((header.max_width, header.max_height));
            }
        }
        Err(Av1Error::NoSequenceHeader)
    }

    /// The profile's name (`Main`, `High`, `Professional`).
    pub fn profile_name(&self) -> &'static str {
        match self.seq_profile {
            0 => "Main",
            1 => "High",
            2 => "Professional",
            _ => "Other",
        }
    }

    /// The level (`2.0` … `7.3`) from seq_level_idx; 31 means no level constraint.
    pub fn level_name(&self) -> String {
        if self.seq_level_idx == 31 {
            return "max".into();
        }
        format!(
            "{}.{}",
            2 + (self.seq_level_idx >> 2),
            self.seq_level_idx & 3
        )
    }
}

/// What the worker reads from a sequence header OBU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceHeader {
    pub seq_profile: u8,
    pub reduced_still_picture_header: bool,
    pub max_width: u32,
    pub max_height: u32,
}

impl SequenceHeader {
    /// Parses a sequence header OBU's payload as far as the maximum frame size.
    pub fn parse(payload: &[u8]) -> Result<SequenceHeader, Av1Error> {
        let mut bits = BitReader::new(payload);
        let seq_profile = bits.read_bits(3)? as u8;
        let _still_picture = bits.read_bit()?;
        let reduced = bits.read_bit()?;
        if reduced {
            let _seq_level_idx = bits.read_bits(5)?;
        } else {
            let mut decoder_model_info_present = false;
            let mut buffer_delay_length = 0;
            if bits.read_bit()? {
                // timing_info
                bits.read_bits(32)?;
                bits.read_bits(32)?;
                if bits.read_bit()? {
                    read_uvlc(&mut bits)?;
                }
                decoder_model_info_present = bits.read_bit()?;
                if decoder_model_info_present {
                    buffer_delay_length = bits.read_bits(5)? + 1;
                    bits.read_bits(32)?;
                    bits.read_bits(10)?;
                }
            }
            let initial_display_delay_present = bits.read_bit()?;
            let operating_points = bits.read_bits(5)? + 1;
            for _ in 0..operating_points {
                let _idc = bits.read_bits(12)?;
                let level = bits.read_bits(5)?;
                if level > 7 {
                    let _tier = bits.read_bit()?;
                }
                if decoder_model_info_present && bits.read_bit()? {
                    bits.read_bits(buffer_delay_length)?;
                    bits.read_bits(buffer_delay_length)?;
                    bits.read_bit()?;
                }
                if initial_display_delay_present && bits.read_bit()? {
                    bits.read_bits(4)?;
                }
            }
        }
        let width_bits = bits.read_bits(4)? + 1;
        let height_bits = bits.read_bits(4)? + 1;
        let max_width = u64::from(bits.read_bits(width_bits)?) + 1;
        let max_height = u64::from(bits.read_bits(height_bits)?) + 1;
        Ok(SequenceHeader {
            seq_profile,
            reduced_still_picture_header: reduced,
            max_width: max_width.min(u64::from(u32::MAX)) as u32,
            max_height: max_height.min(u64::from(u32::MAX)) as u32,
        })
    }
}

fn read_uvlc(bits: &mut BitReader<'_>) -> Result<u32, Av1Error> {
    let mut leading = 0;
    while !bits.read_bit()? {
        leading += 1;
        if leading >= 32 {
            return Ok(u32::MAX);
        }
    }
    Ok(bits.read_bits(leading)?)
}

fn leb128(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..8 {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (i * 7);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Iterates the OBUs of a temporal unit (low-overhead format): `(type, payload)`. An OBU without a
/// size field runs to the end.
pub fn obus(data: &[u8]) -> Obus<'_> {
    Obus { data, pos: 0 }
}

pub struct Obus<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Obus<'a> {
    type Item = Result<(u8, &'a [u8]), Av1Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let header = self.data[self.pos];
        let obu_type = (header >> 3) & 0x0f;
        let mut pos = self.pos + 1 + usize::from(header & 0x04 != 0);
        let end = if header & 0x02 != 0 {
            match leb128(self.data, &mut pos)
                .and_then(|size| pos.checked_add(usize::try_from(size).ok()?))
            {
                Some(end) if end <= self.data.len() => end,
                _ => {
                    self.pos = self.data.len();
                    return Some(Err(Av1Error::TruncatedObu));
                }
            }
        } else {
            self.data.len()
        };
        if pos > end {
            self.pos = self.data.len();
            return Some(Err(Av1Error::TruncatedObu));
        }
        self.pos = end;
        Some(Ok((obu_type, &self.data[pos..end])))
    }
}

/// Whether a temporal unit is a place a decoder can start: a shown key frame. Encoders repeat the
/// sequence header OBU in front of key frames; one that does not still has it in the SequenceStart
/// record every player gets first, so the key frame alone decides (a sequence header in the unit
/// tells how to read its frame header). `None` when its OBUs do not parse.
pub fn is_key_temporal_unit(data: &[u8]) -> Option<bool> {
    let mut reduced_still = None;
    for obu in obus(data) {
        let (obu_type, payload) = obu.ok()?;
        match obu_type {
            OBU_SEQUENCE_HEADER => {
                reduced_still = Some(
                    SequenceHeader::parse(payload)
                        .map(|h| h.reduced_still_picture_header)
                        .unwrap_or(false),
                );
            }
            OBU_FRAME | OBU_FRAME_HEADER => {
                // Live encoders never use the reduced still-picture header without saying so.
                if reduced_still.unwrap_or(false) {
                    return Some(true);
                }
                // show_existing_frame (1 bit) then frame_type (2 bits, 0 = KEY_FRAME).
                let first = *payload.first()?;
                return Some(first & 0x80 == 0 && (first >> 5) & 0x03 == 0);
            }
            _ => {}
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    // FFmpeg 9 / SVT-AV1's av1C for 160x96.
    const AV1C_160X96: [u8; 17] = [
        0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x02, 0x00, 0x00, 0x05, 0x1d, 0xa7, 0xef, 0x80, 0x5f,
        0x00, 0x08,
    ];

    #[test]
    fn parses_the_record_and_its_sequence_header() {
        let config = Av1Config::parse(&AV1C_160X96).unwrap();
        assert_eq!(config.profile_name(), "Main");
        assert_eq!(config.level_name(), "2.0");
        assert_eq!(config.bit_depth, 8);
        assert_eq!(config.dimensions().unwrap(), (160, 96));
        assert_eq!(
            Av1Config::parse(&[0x80, 0, 0, 0]),
            Err(Av1Error::BadConfigVersion(0x80))
        );
        assert!(Av1Config::parse(&AV1C_160X96[..3]).is_err());
        assert!(Av1Config::parse(&AV1C_160X96[..9])
            .unwrap()
            .dimensions()
            .is_err());
    }

    #[test]
    fn finds_key_temporal_units() {
        let seq = &AV1C_160X96[4..];
        // Temporal delimiter, sequence header, a frame OBU whose header says KEY_FRAME and shown.
        let mut key = vec![0x12, 0x00];
        key.extend_from_slice(seq);
        key.extend_from_slice(&[0x32, 0x02, 0x10, 0x00]);
        assert_eq!(is_key_temporal_unit(&key), Some(true));
        // The same frame without the sequence header (it came in SequenceStart) is still a key
        // frame; an inter frame (frame_type 1) is not.
        assert_eq!(
            is_key_temporal_unit(&[0x12, 0x00, 0x32, 0x02, 0x10, 0x00]),
            Some(true)
        );
        let mut inter = vec![0x12, 0x00];
        inter.extend_from_slice(seq);
        inter.extend_from_slice(&[0x32, 0x02, 0x30, 0x00]);
        assert_eq!(is_key_temporal_unit(&inter), Some(false));
        assert_eq!(is_key_temporal_unit(&[0x12, 0x05, 0x00]), None);
    }
}
