//! The media fuzz targets' entry points on seeded random and mutated inputs (real ffmpeg output as
//! seeds), so `cargo test` exercises them without nightly or cargo-fuzz. Deterministic, seconds long.

use oryx::media::flv::{self, TagKind};
use oryx::media::fuzzing;
use std::process::{Command, Stdio};

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Flips, inserts, deletes and truncates at random.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut out = seed.to_vec();
        for _ in 0..=self.below(8) {
            match self.below(4) {
                0 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] ^= 1 << self.below(8);
                }
                1 => {
                    let i = self.below(out.len() + 1);
                    out.insert(i, self.next() as u8);
                }
                2 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out.remove(i);
                }
                _ => out.truncate(self.below(out.len() + 1)),
            }
        }
        out
    }
}

fn real_flv() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.flv");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "10",
        ])
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(&path)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(path).unwrap()
}

/// The segmenter's frame encoding (see `fuzzing::hls_segmenter`).
fn frames_input(tags: &[flv::FlvTag]) -> Vec<u8> {
    let mut out = Vec::new();
    for tag in tags {
        let kind = match tag.kind {
            TagKind::Audio => 0,
            TagKind::Video => 1,
            TagKind::Script => 2,
        };
        let len = tag.payload.len().min(u16::MAX as usize);
        out.push(kind);
        out.extend_from_slice(&tag.timestamp.to_be_bytes());
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&tag.payload[..len]);
    }
    out
}

#[test]
fn media_parsers_survive_random_and_mutated_input() {
    let file = real_flv();
    let tags = flv::read_all(&file).expect("seed parses");
    let avc_record = tags
        .iter()
        .find(|t| t.kind == TagKind::Video && flv::is_avc_sequence_header(&t.payload))
        .map(|t| t.payload[5..].to_vec())
        .expect("AVC sequence header");
    let asc = tags
        .iter()
        .find(|t| t.kind == TagKind::Audio && flv::is_aac_sequence_header(&t.payload))
        .map(|t| t.payload[2..].to_vec())
        .expect("AAC sequence header");
    let frames = frames_input(&tags);

    // `ORYX_FUZZ_ROUNDS=100000 cargo test --release --test media_fuzz_smoke` for a longer soak.
    let rounds: usize = std::env::var("ORYX_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    fuzzing::flv(&file);
    fuzzing::hls_segmenter(&frames);
    for _ in 0..rounds {
        let len = rng.below(64);
        let random = rng.bytes(len);
        fuzzing::flv(&random);
        fuzzing::avc(&random);
        fuzzing::aac(&random);
        fuzzing::hls_segmenter(&random);
        fuzzing::avc(&rng.mutate(&avc_record));
        fuzzing::avc(&rng.mutate(&avc_record[8..]));
        fuzzing::aac(&rng.mutate(&asc));
    }
    // Whole-file mutations are costlier: fewer rounds, on a prefix of the file.
    let prefix = &file[..file.len().min(20_000)];
    let frame_prefix = &frames[..frames.len().min(20_000)];
    for _ in 0..rounds.div_ceil(8) {
        fuzzing::flv(&rng.mutate(prefix));
        fuzzing::hls_segmenter(&rng.mutate(frame_prefix));
    }
}
