//! The E-RTMP fuzz targets' entry points on seeded random and mutated inputs, so `cargo test`
//! exercises them without nightly or cargo-fuzz: seeds are hand-made headers and records plus, with
//! FFmpeg 9 at hand, every tag of real HEVC, AV1 and VP9 clips. Deterministic, seconds long.

mod common;

use common::ffmpeg9::{self, Clip};
use common::fuzz::Rng;
use oryx::media::flv;
use oryx::media::fuzzing_ertmp;

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = vec![
        b"\x90hvc1\x01\x01\x60\x00\x00\x00\x90\x00\x00\x00\x00\x00\x1e\xf0\x00\xfc\xfd\xf8\xf8\x00\x00\x0f\x00".to_vec(),
        b"\x91hvc1\x00\x00\xc8\x00\x00\x00\x02\x26\x01".to_vec(),
        b"\x97\x02\x00\x01\x02\x03vp09\x82\x49\x83\x42\x00\x09\xf0\x05\xf0".to_vec(),
        b"\x96\x11av01\x00\x00\x00\x04\x12\x00\x32\x00\x01\x00\x00\x01\x07".to_vec(),
        b"\x96\x21hvc1\x00\x00\x00\x04\x00\x00\x00\x07".to_vec(),
        b"\x90av01\x81\x00\x0c\x00\x0a\x0b\x02\x00\x00\x05\x1d\xa7\xef\x80\x5f\x00\x08".to_vec(),
        b"\x90vp09\x01\x00\x00\x00\x00\x0a\x82\x02\x02\x02\x00\x00".to_vec(),
        b"\x90OpusOpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00".to_vec(),
        b"\x95\x10Opus\x00\x01\xf8".to_vec(),
        b"\xd4hvc1\x02\x00\x09colorInfo\x03\x00\x00\x09".to_vec(),
        vec![0xd1, 0x00],
    ];
    if let Some(ff) = ffmpeg9::find() {
        let dir = tempfile::tempdir().unwrap();
        for (clip, name) in [
            (Clip::HevcAac, "h"),
            (Clip::Av1Opus, "a"),
            (Clip::Vp9Opus, "v"),
        ] {
            let path = dir.path().join(format!("{name}.flv"));
            ffmpeg9::make_clip(&ff, clip, 1, &path);
            let file = std::fs::read(&path).unwrap();
            for tag in flv::read_all(&file).expect("FFmpeg 9's FLV parses") {
                seeds.push(tag.payload[..tag.payload.len().min(4096)].to_vec());
            }
        }
    }
    seeds
}

#[test]
fn ertmp_parsers_survive_random_and_mutated_input() {
    let seeds = seeds();
    let rounds: usize = std::env::var("ORYX_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for seed in &seeds {
        fuzzing_ertmp::ertmp(seed);
        fuzzing_ertmp::codecs(seed);
        fuzzing_ertmp::codecs(seed.get(5..).unwrap_or(&[]));
    }
    for _ in 0..rounds {
        let len = rng.below(64);
        let random = rng.bytes(len);
        fuzzing_ertmp::ertmp(&random);
        fuzzing_ertmp::codecs(&random);
        let seed = &seeds[rng.below(seeds.len())];
        let mutated = rng.mutate(seed);
        fuzzing_ertmp::ertmp(&mutated);
        fuzzing_ertmp::codecs(mutated.get(5..).unwrap_or(&[]));
    }
}
