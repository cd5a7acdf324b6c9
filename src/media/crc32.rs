//! CRC-32/MPEG-2 (polynomial 0x04C11DB7, no reflection, initial value all ones, no final XOR): the
//! checksum closing every PSI section of an MPEG-TS stream.

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut crc = (index as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xffff_ffff, |crc, byte| {
        (crc << 8) ^ TABLE[usize::from((crc >> 24) as u8 ^ byte)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_catalogue_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
        assert_eq!(crc32_mpeg2(b""), 0xffff_ffff);
    }

    #[test]
    fn a_section_followed_by_its_crc_checks_to_zero() {
        let section = [
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00,
        ];
        let crc = crc32_mpeg2(&section);
        let mut whole = section.to_vec();
        whole.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(crc32_mpeg2(&whole), 0);
    }
}
