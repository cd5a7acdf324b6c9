//! The MPEG-TS demuxer's fuzz entry on seeded random and mutated input (ffmpeg's own MPEG-TS of
//! H.264 + AAC as the seed), so `cargo test` exercises it without nightly or cargo-fuzz.

mod common;

use common::fuzz::Rng;
use common::media::make_flv;
use oryx::media::fuzzing_ts;
use std::process::Command;

fn real_ts() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let flv = dir.path().join("seed.flv");
    make_flv(&flv, "160x120", 2, 10);
    let ts = dir.path().join("seed.ts");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&flv)
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&ts)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(ts).unwrap()
}

#[test]
fn the_ts_demuxer_survives_random_and_mutated_input() {
    let file = real_ts();
    fuzzing_ts::ts_demux(&file);
    let rounds: usize = std::env::var("ORYX_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let prefix = &file[..file.len().min(40_000)];
    for _ in 0..rounds {
        let len = rng.below(1024);
        fuzzing_ts::ts_demux(&rng.bytes(len));
        fuzzing_ts::ts_demux(&rng.mutate(prefix));
    }
}
