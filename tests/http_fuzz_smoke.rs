//! The HTTP request-target fuzz entry point on seeded random and mutated inputs, so `cargo test`
//! exercises it without nightly or cargo-fuzz. Deterministic, well under a second.

mod common;

use common::fuzz::Rng;
use oryx::runtime::fuzzing;

const SEEDS: [&[u8]; 7] = [
    b"127.0.0.1:8080\n/live/cam.flv",
    b"\n/live/cam.flv?vhost=v.example&token=1",
    b"live.example.com\n/live/cam.m3u8",
    b"\n/live/cam-1-17.ts",
    b"x\nhttp://h.example:8080/app/s.flv?vhost=",
    b"\n/a/b/c.flv",
    b"[::1]:80\n/%2e%2e/live/%00.flv?vhost=%ff&vhost=a",
];

#[test]
fn http_request_parsing_survives_random_and_mutated_input() {
    // `ORYX_FUZZ_ROUNDS=100000 cargo test --release --test http_fuzz_smoke` for a longer soak.
    let rounds: usize = std::env::var("ORYX_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for seed in SEEDS {
        fuzzing::http_request_target(seed);
    }
    for round in 0..rounds {
        let len = rng.below(96);
        fuzzing::http_request_target(&rng.bytes(len));
        let seed = SEEDS[round % SEEDS.len()];
        fuzzing::http_request_target(&rng.mutate(seed));
    }
}
