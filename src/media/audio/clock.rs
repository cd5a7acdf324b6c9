//! Timestamps of transcoded frames: counted in samples from the first input's timestamp, so they
//! never drift, and re-based when the input jumps (a republish, a gap) so they follow the source.

/// Input timestamps this far from the count (ms) re-base the clock.
const JUMP_MS: i64 = 500;

pub struct FrameClock {
    rate: u64,
    base_ms: Option<u64>,
    samples: u64,
}

impl FrameClock {
    pub fn new(rate: u32) -> FrameClock {
        FrameClock {
            rate: u64::from(rate.max(1)),
            base_ms: None,
            samples: 0,
        }
    }

    /// Notes an input frame at `ts_ms` arriving while `buffered` output samples wait for a whole
    /// frame. True when the clock was re-based (the caller drops what it buffered).
    pub fn input(&mut self, ts_ms: u64, buffered: usize) -> bool {
        let Some(base) = self.base_ms else {
            self.base_ms = Some(ts_ms);
            return false;
        };
        let expected = base + (self.samples + buffered as u64) * 1000 / self.rate;
        if (ts_ms as i64 - expected as i64).abs() > JUMP_MS {
            self.base_ms = Some(ts_ms);
            self.samples = 0;
            return true;
        }
        false
    }

    /// The timestamp of the next output frame of `len` samples.
    pub fn next(&mut self, len: usize) -> u64 {
        let ts = self.base_ms.unwrap_or(0) + self.samples * 1000 / self.rate;
        self.samples += len as u64;
        ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rebases() {
        let mut c = FrameClock::new(48_000);
        assert!(!c.input(1_000, 0));
        assert_eq!(c.next(960), 1_000);
        assert_eq!(c.next(960), 1_020);
        assert!(!c.input(1_043, 0));
        assert!(c.input(9_000, 100));
        assert_eq!(c.next(960), 9_000);
    }
}
