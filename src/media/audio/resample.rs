//! A streaming windowed-sinc resampler for interleaved f32 (AAC's 44.1 kHz, 32 kHz… to Opus's
//! 48 kHz). Polyphase table, 32 taps: transparent enough for speech and music at WebRTC bitrates,
//! and the state is bounded (one table and a tap window per channel).

use std::f64::consts::PI;

const TAPS: usize = 32;
const PHASES: usize = 256;

pub struct Resampler {
    from: u64,
    to: u64,
    channels: usize,
    /// `PHASES + 1` rows of `TAPS` coefficients (the last row eases interpolation).
    table: Vec<f32>,
    /// Interleaved input not yet consumed, starting `TAPS / 2 - 1` samples before the next output's
    /// centre.
    input: Vec<f32>,
    /// The next output sample's position in input samples, as a fraction `pos / to` past the start
    /// of `input` (exact: no drift however long the stream).
    pos: u64,
}

impl Resampler {
    pub fn new(from: u32, to: u32, channels: usize) -> Resampler {
        let (from, to) = (u64::from(from.max(1)), u64::from(to.max(1)));
        // Below the lower Nyquist frequency, with a little room for the window's transition band.
        let cutoff = (to as f64 / from as f64).min(1.0) * 0.92;
        let mut table = Vec::with_capacity((PHASES + 1) * TAPS);
        for phase in 0..=PHASES {
            let frac = phase as f64 / PHASES as f64;
            let mut row = [0f64; TAPS];
            for (k, c) in row.iter_mut().enumerate() {
                // Tap k sits at input offset k - (TAPS/2 - 1) from the centre's floor.
                let x = k as f64 - (TAPS / 2 - 1) as f64 - frac;
                let sinc = if x == 0.0 {
                    1.0
                } else {
                    (PI * cutoff * x).sin() / (PI * cutoff * x)
                };
                let w = 0.5 + 0.5 * (PI * x / (TAPS / 2) as f64).cos();
                *c = cutoff * sinc * if x.abs() < (TAPS / 2) as f64 { w } else { 0.0 };
            }
            table.extend(row.iter().map(|c| *c as f32));
        }
        let mut input = Vec::new();
        // Start with silence before the first sample so the first output is centred on it.
        input.resize((TAPS / 2 - 1) * channels, 0.0);
        Resampler {
            from,
            to,
            channels,
            table,
            input,
            pos: 0,
        }
    }

    pub fn is_identity(&self) -> bool {
        self.from == self.to
    }

    /// Appends interleaved input and returns the interleaved output it completes.
    pub fn push(&mut self, samples: &[f32]) -> Vec<f32> {
        if self.is_identity() {
            return samples.to_vec();
        }
        let ch = self.channels;
        self.input.extend_from_slice(samples);
        let frames = self.input.len() / ch;
        let mut out =
            Vec::with_capacity(samples.len() * self.to as usize / self.from as usize + ch);
        loop {
            let base = (self.pos / self.to) as usize;
            if base + TAPS > frames {
                break;
            }
            let frac = (self.pos % self.to) as f64 / self.to as f64 * PHASES as f64;
            let phase = frac as usize;
            let t = (frac - phase as f64) as f32;
            let (a, b) = (
                &self.table[phase * TAPS..][..TAPS],
                &self.table[(phase + 1) * TAPS..][..TAPS],
            );
            for c in 0..ch {
                let mut acc = 0f32;
                for k in 0..TAPS {
                    let coef = a[k] + (b[k] - a[k]) * t;
                    acc += coef * self.input[(base + k) * ch + c];
                }
                out.push(acc);
            }
            self.pos += self.from;
        }
        // Drop what no later output needs; the position moves back by as many input samples.
        let used = ((self.pos / self.to) as usize).min(frames);
        self.input.drain(..used * ch);
        self.pos -= used as u64 * self.to;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: f64, freq: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (2.0 * PI * freq * i as f64 / rate).sin()) as f32)
            .collect()
    }

    /// Counts upward zero crossings per second.
    pub(crate) fn frequency(samples: &[f32], rate: f64) -> f64 {
        let ups = samples
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        ups as f64 * rate / samples.len() as f64
    }

    #[test]
    fn keeps_the_frequency_and_the_length() {
        let input = sine(44_100.0, 1_000.0, 44_100);
        let mut r = Resampler::new(44_100, 48_000, 1);
        let mut out = Vec::new();
        for chunk in input.chunks(1024) {
            out.extend(r.push(chunk));
        }
        assert!(
            (out.len() as i64 - 48_000).abs() < 64,
            "{} samples",
            out.len()
        );
        let f = frequency(&out[1000..], 48_000.0);
        assert!((f - 1_000.0).abs() < 5.0, "{f} Hz");
        let peak = out[1000..].iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.03, "peak {peak}");
    }

    #[test]
    fn stereo_channels_stay_apart() {
        let left = sine(32_000.0, 500.0, 32_000);
        let right = sine(32_000.0, 2_000.0, 32_000);
        let inter: Vec<f32> = left
            .iter()
            .zip(&right)
            .flat_map(|(l, r)| [*l, *r])
            .collect();
        let mut r = Resampler::new(32_000, 48_000, 2);
        let out = r.push(&inter);
        let l: Vec<f32> = out.iter().step_by(2).copied().collect();
        let rr: Vec<f32> = out.iter().skip(1).step_by(2).copied().collect();
        assert!((frequency(&l[100..], 48_000.0) - 500.0).abs() < 5.0);
        assert!((frequency(&rr[100..], 48_000.0) - 2_000.0).abs() < 5.0);
    }
}
