//! The media fuzz targets' entry points on seeded random and mutated inputs (real ffmpeg output as
//! seeds), so `cargo test` exercises them without nightly or cargo-fuzz. Deterministic, seconds long.

mod common;

use common::fuzz::Rng;
use common::media::make_flv;
use oryx::media::flv::{self, TagKind};
use oryx::media::fuzzing;

fn real_flv() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.flv");
    make_flv(&path, "160x120", 2, 10);
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
    fuzzing::record_muxers(&frames);
    for _ in 0..rounds {
        let len = rng.below(64);
        let random = rng.bytes(len);
        fuzzing::flv(&random);
        fuzzing::avc(&random);
        fuzzing::aac(&random);
        fuzzing::hls_segmenter(&random);
        fuzzing::record_muxers(&random);
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
        fuzzing::record_muxers(&rng.mutate(frame_prefix));
    }
}
