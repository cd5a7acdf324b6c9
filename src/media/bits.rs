//! A bounds-checked MSB-first bit reader with exp-Golomb codes, for H.264 SPS and AAC configs.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bitstream ended early")]
pub struct EndOfBits;

/// Reads bits from a byte slice, most significant bit first.
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    pub fn bits_left(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    pub fn read_bit(&mut self) -> Result<bool, EndOfBits> {
        let byte = *self.data.get(self.pos / 8).ok_or(EndOfBits)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `count` (at most 32) bits as an unsigned number.
    pub fn read_bits(&mut self, count: u32) -> Result<u32, EndOfBits> {
        debug_assert!(count <= 32);
        if self.bits_left() < count as usize {
            return Err(EndOfBits);
        }
        let mut value: u64 = 0;
        for _ in 0..count {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        Ok(value as u32)
    }

    /// Unsigned exp-Golomb `ue(v)`. Codes longer than 32 bits are rejected as corrupt.
    pub fn read_ue(&mut self) -> Result<u32, EndOfBits> {
        let mut leading_zeros = 0u32;
        while !self.read_bit()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return Err(EndOfBits);
            }
        }
        let suffix = self.read_bits(leading_zeros)?;
        Ok(((1u64 << leading_zeros) - 1 + u64::from(suffix)).min(u64::from(u32::MAX)) as u32)
    }

    /// Signed exp-Golomb `se(v)`.
    pub fn read_se(&mut self) -> Result<i32, EndOfBits> {
        let code = i64::from(self.read_ue()?);
        let value = if code % 2 == 1 {
            (code + 1) / 2
        } else {
            -(code / 2)
        };
        Ok(value as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixed_width_fields_across_bytes() {
        let mut reader = BitReader::new(&[0b1010_1100, 0b0101_0000]);
        assert_eq!(reader.read_bits(3).unwrap(), 0b101);
        assert_eq!(reader.read_bits(7).unwrap(), 0b0110001);
        assert_eq!(reader.bits_left(), 6);
        assert!(reader.read_bits(7).is_err());
    }

    #[test]
    fn decodes_exp_golomb() {
        // ue: 1 → 0, 010 → 1, 011 → 2, 00100 → 3; se of 00101 (ue 4) → -2.
        let mut reader = BitReader::new(&[0b1010_0110, 0b0100_0010, 0b1000_0000]);
        assert_eq!(reader.read_ue().unwrap(), 0);
        assert_eq!(reader.read_ue().unwrap(), 1);
        assert_eq!(reader.read_ue().unwrap(), 2);
        assert_eq!(reader.read_ue().unwrap(), 3);
        assert_eq!(reader.read_se().unwrap(), -2);
    }

    #[test]
    fn rejects_runaway_exp_golomb() {
        let mut reader = BitReader::new(&[0u8; 8]);
        assert!(reader.read_ue().is_err());
    }
}
