//! AAC-LC access units (FLV/RTMP's raw frames) to interleaved f32, with symphonia's pure-Rust
//! decoder. HE-AAC streams decode their AAC-LC core (at half the signalled rate, no SBR): audible,
//! narrower band. A decoder panic on hostile input is caught and the decoder rebuilt.

use std::panic::{catch_unwind, AssertUnwindSafe};

use anyhow::{anyhow, bail, Result};
use symphonia_codec_aac::AacDecoder as Inner;
use symphonia_core::audio::{SampleBuffer, SignalSpec};
use symphonia_core::codecs::{CodecParameters, Decoder, DecoderOptions, CODEC_TYPE_AAC};
use symphonia_core::formats::Packet;

use crate::media::aac::AudioSpecificConfig;

/// An access unit larger than this is not AAC (6144 bits per channel, ISO 14496-3 §4.5.3.2, times
/// 8 channels, with room).
pub const MAX_ACCESS_UNIT: usize = 8 * 1024;

const RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

pub struct AacDecoder {
    params: CodecParameters,
    inner: Inner,
    rate: u32,
    channels: usize,
    samples: Option<SampleBuffer<f32>>,
}

impl AacDecoder {
    pub fn new(asc: &AudioSpecificConfig) -> Result<Self> {
        let channels = match asc.channel_config {
            1 => 1,
            2 => 2,
            c => bail!("aac: channel configuration {c} (mono and stereo are transcoded)"),
        };
        if asc.core_object_type != 2 {
            bail!(
                "aac: object type {} (AAC-LC and its HE-AAC core are decoded)",
                asc.core_object_type
            );
        }
        let rate = core_rate(asc)?;
        let mut params = CodecParameters::new();
        params
            .for_codec(CODEC_TYPE_AAC)
            .with_extra_data(lc_config(asc, rate).into_boxed_slice());
        let inner = Inner::try_new(&params, &DecoderOptions::default())
            .map_err(|e| anyhow!("aac decoder: {e}"))?;
        Ok(AacDecoder {
            params,
            inner,
            rate,
            channels,
            samples: None,
        })
    }

    /// The decoded rate (the core's: half the signalled one for HE-AAC).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one raw access unit to interleaved samples (1024 per channel).
    pub fn decode(&mut self, au: &[u8]) -> Result<&[f32]> {
        if au.is_empty() || au.len() > MAX_ACCESS_UNIT {
            bail!("aac: an access unit of {} bytes", au.len());
        }
        let packet = Packet::new_from_slice(0, 0, 1024, au);
        let inner = &mut self.inner;
        let slot = &mut self.samples;
        let channels = self.channels;
        let result = catch_unwind(AssertUnwindSafe(|| -> Result<()> {
            let decoded = inner.decode(&packet).map_err(|e| anyhow!("aac: {e}"))?;
            let spec = *decoded.spec();
            if spec.channels.count() != channels {
                bail!(
                    "aac: a frame of {} channels in a {channels}-channel stream",
                    spec.channels.count()
                );
            }
            let frames = decoded.frames() as u64;
            let buf = slot.get_or_insert_with(|| SampleBuffer::new(frames.max(1024), spec));
            if (buf.capacity() as u64) < frames * channels as u64 {
                *buf = SampleBuffer::new(frames, SignalSpec::new(spec.rate, spec.channels));
            }
            buf.copy_interleaved_ref(decoded);
            Ok(())
        }));
        match result {
            Ok(Ok(())) => Ok(self.samples.as_ref().map_or(&[][..], |b| b.samples())),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                // The decoder's state is unknown after a panic: start afresh.
                self.inner = Inner::try_new(&self.params, &DecoderOptions::default())
                    .map_err(|e| anyhow!("aac decoder: {e}"))?;
                bail!("aac: the decoder refused a malformed frame")
            }
        }
    }
}

fn core_rate(asc: &AudioSpecificConfig) -> Result<u32> {
    match RATES.get(usize::from(asc.sample_rate_index)) {
        Some(rate) => Ok(*rate),
        // An explicit rate: HE-AAC's `sample_rate` is the extension's, twice the core's.
        None if asc.object_type == 5 || asc.object_type == 29 => Ok(asc.sample_rate / 2),
        None => Ok(asc.sample_rate),
    }
}

/// A plain AAC-LC AudioSpecificConfig for the core (ISO 14496-3 §1.6.2.1): object type 2, the
/// rate (indexed or explicit), the channel configuration, a zero GASpecificConfig.
fn lc_config(asc: &AudioSpecificConfig, rate: u32) -> Vec<u8> {
    let mut bits: Vec<(u32, u32)> = vec![(2, 5)];
    match RATES.iter().position(|r| *r == rate) {
        Some(i) => bits.push((i as u32, 4)),
        None => bits.extend([(15, 4), (rate, 24)]),
    }
    bits.extend([(u32::from(asc.channel_config), 4), (0, 3)]);
    let (mut out, mut acc, mut n) = (Vec::new(), 0u64, 0u32);
    for (value, width) in bits {
        acc = (acc << width) | u64::from(value);
        n += width;
        while n >= 8 {
            out.push((acc >> (n - 8)) as u8);
            n -= 8;
        }
    }
    if n > 0 {
        out.push((acc << (8 - n)) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_the_usual_configs() {
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap(); // LC 44.1 kHz stereo
        assert_eq!(lc_config(&asc, core_rate(&asc).unwrap()), vec![0x12, 0x10]);
        let he = AudioSpecificConfig::parse(&[0x2b, 0x92, 0x08, 0x00]).unwrap(); // HE 22.05→44.1
        assert_eq!(core_rate(&he).unwrap(), 22_050);
        assert_eq!(AacDecoder::new(&he).unwrap().rate(), 22_050);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        let mut dec = AacDecoder::new(&asc).unwrap();
        let mut seed = 7u32;
        for len in 1..400 {
            let au: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = dec.decode(&au);
        }
        assert!(dec.decode(&[]).is_err());
        assert!(dec.decode(&vec![0; MAX_ACCESS_UNIT + 1]).is_err());
    }
}
