//! AAC (RTMP/SRT publishers) to Opus (WebRTC players): decode, resample to 48 kHz, cut 20 ms
//! frames, encode. One per stream while a WebRTC player watches it, not one per player.

use anyhow::Result;
use bytes::Bytes;

use super::aac_decode::AacDecoder;
use super::clock::FrameClock;
use super::libopus::{OpusEncoder, FRAME_20MS, RATE};
use super::resample::Resampler;
use crate::media::aac::AudioSpecificConfig;

/// One Opus packet: 20 ms at 48 kHz.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusFrame {
    pub data: Bytes,
    pub ts_ms: u64,
    pub duration_ms: u32,
}

pub struct AacToOpus {
    decoder: AacDecoder,
    resampler: Resampler,
    encoder: OpusEncoder,
    channels: usize,
    /// Interleaved 48 kHz samples short of a whole frame (less than 20 ms: bounded).
    pending: Vec<f32>,
    clock: FrameClock,
}

impl AacToOpus {
    /// Fails on a config it cannot decode (not AAC-LC/HE-AAC, more than two channels) or when
    /// libopus is missing.
    pub fn new(asc: &AudioSpecificConfig) -> Result<Self> {
        let decoder = AacDecoder::new(asc)?;
        let channels = decoder.channels();
        let encoder = OpusEncoder::new(channels, 48_000 * channels as i32)?;
        Ok(AacToOpus {
            resampler: Resampler::new(decoder.rate(), RATE, channels),
            clock: FrameClock::new(RATE),
            decoder,
            encoder,
            channels,
            pending: Vec::new(),
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Takes one raw AAC frame (an FLV audio tag's payload after its two header bytes) at its
    /// timestamp; returns the Opus frames it completes. A malformed frame is an error and leaves
    /// the transcoder usable for the next.
    pub fn push(&mut self, raw_aac: &[u8], ts_ms: u64) -> Result<Vec<OpusFrame>> {
        let pcm = self.decoder.decode(raw_aac)?;
        if self.clock.input(ts_ms, self.pending.len() / self.channels) {
            // A jump in the publisher's timestamps (a republish, a gap): start the frames afresh.
            self.pending.clear();
        }
        let resampled = self.resampler.push(pcm);
        self.pending
            .extend(resampled.iter().map(|s| s.clamp(-1.0, 1.0)));
        let step = FRAME_20MS * self.channels;
        let mut out = Vec::with_capacity(self.pending.len() / step);
        let mut start = 0;
        while self.pending.len() - start >= step {
            let data = self.encoder.encode(&self.pending[start..start + step])?;
            out.push(OpusFrame {
                data: Bytes::from(data),
                ts_ms: self.clock.next(FRAME_20MS),
                duration_ms: 20,
            });
            start += step;
        }
        self.pending.drain(..start);
        Ok(out)
    }
}
