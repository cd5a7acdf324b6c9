//! Opus (WHIP publishers) to AAC-LC (legacy RTMP/HLS players): libopus decodes at 48 kHz, syom's
//! pure-Rust AAC-LC encoder makes raw frames of 1024 samples. One per stream, not per player.

use anyhow::{anyhow, Result};
use bytes::Bytes;

use super::clock::FrameClock;
use super::libopus::{OpusDecoder, RATE};

/// AAC frames carry 1024 samples per channel.
const AAC_FRAME: usize = 1024;

/// One raw AAC-LC frame (what an FLV AAC tag carries after its two header bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacFrame {
    pub data: Bytes,
    pub ts_ms: u64,
}

pub struct OpusToAac {
    decoder: OpusDecoder,
    encoder: syom::Encoder,
    asc: Bytes,
    channels: usize,
    planes: Vec<Vec<f32>>,
    clock: FrameClock,
}

impl OpusToAac {
    /// `channels` as the Opus stream announced it (1 or 2); `bitrate` of the AAC in bits/s.
    pub fn new(channels: u8, bitrate: u32) -> Result<Self> {
        let channels = usize::from(channels);
        let decoder = OpusDecoder::new(channels)?;
        let options = syom::EncodeOptions::raw().with_bitrate_bps(bitrate);
        let encoder = syom::Encoder::new(RATE, channels, &options)
            .map_err(|e| anyhow!("aac encoder: {e}"))?;
        let asc = Bytes::copy_from_slice(encoder.asc());
        Ok(OpusToAac {
            decoder,
            encoder,
            asc,
            channels,
            planes: vec![Vec::new(); channels],
            clock: FrameClock::new(RATE),
        })
    }

    /// The AudioSpecificConfig of the AAC produced (an FLV AAC sequence header's payload).
    pub fn audio_specific_config(&self) -> Bytes {
        self.asc.clone()
    }

    /// Takes one Opus packet at its timestamp; returns the AAC frames it completes. A malformed
    /// packet is an error and leaves the transcoder usable.
    pub fn push(&mut self, opus: &[u8], ts_ms: u64) -> Result<Vec<AacFrame>> {
        let pcm = self.decoder.decode(opus)?;
        let ch = self.channels;
        if self.clock.input(ts_ms, 0) {
            // The encoder keeps at most one frame; its timestamps restart from the jump.
            self.encoder
                .reset()
                .map_err(|e| anyhow!("aac encoder: {e}"))?;
        }
        for (plane_index, plane) in self.planes.iter_mut().enumerate() {
            plane.clear();
            plane.extend(pcm.iter().skip(plane_index).step_by(ch).map(|s| {
                if s.is_finite() {
                    s.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }));
        }
        let planes: Vec<&[f32]> = self.planes.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        let clock = &mut self.clock;
        let fed = self.encoder.feed(&planes, |frame| {
            out.push(AacFrame {
                data: Bytes::copy_from_slice(frame.payload),
                ts_ms: clock.next(AAC_FRAME),
            });
            Ok(())
        });
        if let Err(e) = fed {
            // A failed encoder refuses every later call: start it afresh.
            let _ = self.encoder.reset();
            return Err(anyhow!("aac encoder: {e}"));
        }
        Ok(out)
    }
}
