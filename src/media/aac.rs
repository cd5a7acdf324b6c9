//! AAC in FLV: the AudioSpecificConfig of the sequence header and the 7-byte ADTS header MPEG-TS
//! needs in front of every raw frame.

use super::bits::{BitReader, EndOfBits};
use thiserror::Error;

/// Sample rates by sampling-frequency index (ISO/IEC 14496-3, 1.6.3.4).
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The largest frame an ADTS header can describe (13-bit length including the header).
pub const MAX_ADTS_FRAME: usize = 0x1fff;
pub const ADTS_HEADER_LEN: usize = 7;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AacError {
    #[error("AudioSpecificConfig is truncated")]
    Truncated,
    #[error("AAC object type {0} is not supported")]
    UnsupportedObjectType(u8),
    #[error("sampling frequency index {0} is reserved")]
    BadSampleRateIndex(u8),
    #[error("an explicit sample rate cannot be carried in ADTS")]
    ExplicitSampleRate,
    #[error("channel configuration {0} cannot be carried in ADTS")]
    BadChannelConfig(u8),
    #[error("AAC frame of {0} bytes is too large for ADTS")]
    FrameTooLarge(usize),
}

impl From<EndOfBits> for AacError {
    fn from(_: EndOfBits) -> Self {
        AacError::Truncated
    }
}

/// The parts of an AudioSpecificConfig that ADTS and the API need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// The signalled object type (2 = AAC LC, 5 = SBR/HE-AAC, 29 = PS/HE-AACv2).
    pub object_type: u8,
    /// The core codec's object type (differs from `object_type` for explicit SBR/PS signalling).
    pub core_object_type: u8,
    /// Sampling-frequency index of the core codec; 15 means `sample_rate` was explicit.
    pub sample_rate_index: u8,
    /// Output sample rate (the SBR rate when present).
    pub sample_rate: u32,
    pub channel_config: u8,
}

impl AudioSpecificConfig {
    /// Parses the config (the FLV audio payload after its 2-byte header).
    pub fn parse(data: &[u8]) -> Result<AudioSpecificConfig, AacError> {
        let mut bits = BitReader::new(data);
        let object_type = read_object_type(&mut bits)?;
        let (sample_rate_index, core_rate) = read_sample_rate(&mut bits)?;
        let channel_config = bits.read_bits(4)? as u8;
        let mut core_object_type = object_type;
        let mut sample_rate = core_rate;
        if object_type == 5 || object_type == 29 {
            let (_, extension_rate) = read_sample_rate(&mut bits)?;
            sample_rate = extension_rate;
            core_object_type = read_object_type(&mut bits)?;
        }
        if core_object_type == 0 {
            return Err(AacError::UnsupportedObjectType(0));
        }
        Ok(AudioSpecificConfig {
            object_type,
            core_object_type,
            sample_rate_index,
            sample_rate,
            channel_config,
        })
    }

    /// Channels as SRS reports them (channel configurations 1–6 are that many channels; 7 is 7.1).
    pub fn channels(&self) -> u8 {
        match self.channel_config {
            7 => 8,
            other => other,
        }
    }

    /// The profile name as SRS reports it.
    pub fn profile_name(&self) -> &'static str {
        match self.object_type {
            1 => "Main",
            2 => "LC",
            3 => "SSR",
            4 => "LTP",
            5 => "HE",
            29 => "HEv2",
            _ => "Other",
        }
    }

    /// The 7-byte ADTS header (no CRC) for a raw frame of `payload_len` bytes.
    pub fn adts_header(&self, payload_len: usize) -> Result<[u8; ADTS_HEADER_LEN], AacError> {
        let frame_len = payload_len + ADTS_HEADER_LEN;
        if frame_len > MAX_ADTS_FRAME {
            return Err(AacError::FrameTooLarge(payload_len));
        }
        if self.sample_rate_index >= 13 {
            return Err(AacError::ExplicitSampleRate);
        }
        if self.channel_config == 0 || self.channel_config > 7 {
            return Err(AacError::BadChannelConfig(self.channel_config));
        }
        // ADTS has two profile bits (object types 1–4); SBR/PS ride on an AAC LC core implicitly.
        let profile = match self.core_object_type {
            1..=4 => self.core_object_type - 1,
            _ => 1,
        };
        let frame_len = frame_len as u16;
        let channels = self.channel_config;
        Ok([
            0xff,
            0xf1, // MPEG-4, layer 0, no CRC
            (profile << 6) | (self.sample_rate_index << 2) | (channels >> 2),
            ((channels & 0x03) << 6) | ((frame_len >> 11) as u8 & 0x03),
            (frame_len >> 3) as u8,
            (((frame_len & 0x07) as u8) << 5) | 0x1f, // buffer fullness 0x7ff: variable rate
            0xfc,
        ])
    }
}

fn read_object_type(bits: &mut BitReader<'_>) -> Result<u8, AacError> {
    let object_type = bits.read_bits(5)? as u8;
    if object_type == 31 {
        Ok(32 + bits.read_bits(6)? as u8)
    } else {
        Ok(object_type)
    }
}

fn read_sample_rate(bits: &mut BitReader<'_>) -> Result<(u8, u32), AacError> {
    let index = bits.read_bits(4)? as u8;
    match index {
        0..=12 => Ok((index, SAMPLE_RATES[usize::from(index)])),
        15 => Ok((index, bits.read_bits(24)?)),
        other => Err(AacError::BadSampleRateIndex(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lc_stereo_44100() {
        let config = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(config.object_type, 2);
        assert_eq!(config.sample_rate_index, 4);
        assert_eq!(config.sample_rate, 44100);
        assert_eq!(config.channels(), 2);
        assert_eq!(config.profile_name(), "LC");
    }

    #[test]
    fn parses_explicit_he_aac() {
        // Object type 5, core rate 24 kHz (index 6), stereo, SBR rate 48 kHz (index 3), core LC.
        // 00101 0110 0010 0011 00010 …
        let config = AudioSpecificConfig::parse(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!(config.object_type, 5);
        assert_eq!(config.core_object_type, 2);
        assert_eq!(config.sample_rate, 48000);
        assert_eq!(config.sample_rate_index, 6);
        assert_eq!(config.profile_name(), "HE");
    }

    #[test]
    fn rejects_bad_configs() {
        assert_eq!(AudioSpecificConfig::parse(&[]), Err(AacError::Truncated));
        assert_eq!(
            AudioSpecificConfig::parse(&[0x12]),
            Err(AacError::Truncated)
        );
        // Sample-rate index 13 is reserved.
        assert_eq!(
            AudioSpecificConfig::parse(&[0x16, 0x90]),
            Err(AacError::BadSampleRateIndex(13))
        );
    }

    #[test]
    fn builds_adts_header() {
        let config = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        let header = config.adts_header(371).unwrap();
        // Frame length 378 = 0b001_0111_1010.
        assert_eq!(header, [0xff, 0xf1, 0x50, 0x80, 0x2f, 0x5f, 0xfc]);
        let frame_len = (usize::from(header[3] & 0x03) << 11)
            | (usize::from(header[4]) << 3)
            | usize::from(header[5] >> 5);
        assert_eq!(frame_len, 378);
    }

    #[test]
    fn adts_rejects_oversized_frames_and_pce_layouts() {
        let config = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert!(config.adts_header(MAX_ADTS_FRAME - ADTS_HEADER_LEN).is_ok());
        assert_eq!(
            config.adts_header(MAX_ADTS_FRAME),
            Err(AacError::FrameTooLarge(MAX_ADTS_FRAME))
        );
        let pce = AudioSpecificConfig::parse(&[0x12, 0x00]).unwrap();
        assert_eq!(pce.adts_header(10), Err(AacError::BadChannelConfig(0)));
    }
}
