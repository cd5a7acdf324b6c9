//! ffmpeg's `-progress` output, sans-IO: blocks of `key=value` lines, each ended by
//! `progress=continue` (or `=end`), twice a second. An ingest's ffmpeg child writes them to a
//! loopback socket of its role, which turns `total_size` (bytes written to the target so far) into
//! the ingest's byte counter and their arrival into its `connected` state.

/// Longest line kept; ffmpeg's are short, so anything longer is garbage and dropped.
const MAX_LINE: usize = 1024;

/// Reads one ffmpeg's progress stream.
#[derive(Debug, Default)]
pub struct ProgressReader {
    line: Vec<u8>,
    /// Dropping the rest of an overlong line.
    skipping: bool,
    /// `total_size` of the block being read.
    block_total: Option<u64>,
    /// `total_size` of the last complete block.
    last_total: u64,
}

impl ProgressReader {
    /// Feed bytes; returns the output bytes the completed blocks add (0 when none completed or
    /// the size did not grow).
    pub fn push(&mut self, data: &[u8]) -> u64 {
        let mut added = 0;
        for &byte in data {
            if byte == b'\n' {
                if !self.skipping {
                    added += self.line_done();
                }
                self.line.clear();
                self.skipping = false;
            } else if self.line.len() >= MAX_LINE {
                self.skipping = true;
            } else if !self.skipping {
                self.line.push(byte);
            }
        }
        added
    }

    fn line_done(&mut self) -> u64 {
        let line = String::from_utf8_lossy(&self.line);
        let Some((key, value)) = line.trim().split_once('=') else {
            return 0;
        };
        match key.trim() {
            // `N/A` before the first write.
            "total_size" => self.block_total = value.trim().parse().ok(),
            "progress" => {
                if let Some(total) = self.block_total.take() {
                    let added = total.saturating_sub(self.last_total);
                    self.last_total = self.last_total.max(total);
                    return added;
                }
            }
            _ => {}
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCKS: &str = "frame=1\nbitrate=N/A\ntotal_size=271\nout_time_us=0\nprogress=continue\n\
                          frame=20\ntotal_size=43283\nspeed=89.9x\nprogress=end\n";

    #[test]
    fn counts_what_each_block_adds() {
        let mut reader = ProgressReader::default();
        assert_eq!(reader.push(BLOCKS.as_bytes()), 43283);
        let mut reader = ProgressReader::default();
        let added: Vec<u64> = BLOCKS
            .as_bytes()
            .iter()
            .map(|b| reader.push(std::slice::from_ref(b)))
            .filter(|n| *n > 0)
            .collect();
        assert_eq!(added, [271, 43283 - 271]);
    }

    #[test]
    fn survives_garbage() {
        let mut reader = ProgressReader::default();
        assert_eq!(reader.push(b"total_size=N/A\nprogress=continue\n"), 0);
        assert_eq!(reader.push(&[0xff; 5000]), 0);
        assert_eq!(reader.push(b"\n=\n==\ntotal_size=-5\nprogress=x\n"), 0);
        assert_eq!(reader.push(b"total_size=10\nprogress=continue\n"), 10);
        // A size that shrinks adds nothing.
        assert_eq!(reader.push(b"total_size=4\nprogress=continue\n"), 0);
        let long = format!("total_size={}\nprogress=continue\n", "9".repeat(4000));
        assert_eq!(reader.push(long.as_bytes()), 0);
    }
}
