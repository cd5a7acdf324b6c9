//! Opus in FLV/E-RTMP: the ID header (`OpusHead`, RFC 7845 §5.1) a sequence start carries, for
//! the channel count the API reports.

/// Opus always decodes at 48 kHz whatever rate the source had.
pub const SAMPLE_RATE: u32 = 48_000;

/// What the worker reads from an `OpusHead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    pub channels: u8,
    /// The rate of the source before encoding (informational).
    pub input_sample_rate: u32,
}

impl OpusHead {
    /// Parses an ID header; `None` when it is not one.
    pub fn parse(data: &[u8]) -> Option<OpusHead> {
        if data.len() < 19 || &data[..8] != b"OpusHead" {
            return None;
        }
        Some(OpusHead {
            channels: data[9],
            input_sample_rate: u32::from_le_bytes([data[12], data[13], data[14], data[15]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_id_header() {
        // FFmpeg 9's: version 1, mono, pre-skip 312, 48000 Hz, gain 0, mapping 0.
        let head = b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00";
        let parsed = OpusHead::parse(head).unwrap();
        assert_eq!(parsed.channels, 1);
        assert_eq!(parsed.input_sample_rate, 48_000);
        assert_eq!(
            OpusHead::parse(b"OpusTags\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"),
            None
        );
        assert_eq!(OpusHead::parse(&head[..10]), None);
    }
}
