//! The topology fast parser against the `kdl` crate on seeded mutations of every topology in the
//! repository (the fuzz target `fast_parse`'s entry point), and its off switch `ORYX_FAST_PARSE=0`
//! end to end. Deterministic, seconds long.

mod common;

use common::cli::oryx;
use common::fuzz::Rng;
use oryx::compile::fast_parse::{compare_with_kdl, parse_fast};
use std::path::Path;

fn topologies() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    for dir in ["examples/configs", "tests/diagnostics"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read(&path).unwrap();
            texts.push((path.display().to_string(), text));
        }
    }
    texts
}

/// Pieces of KDL syntax, so mutations reach the parser's corners instead of dying on the first byte.
const TOKENS: &[&str] = &[
    "{",
    "}",
    ";",
    "\"",
    "=",
    "#true",
    "#false",
    "#null",
    "true",
    "/-",
    "//",
    "/*",
    "*/",
    "\\",
    "\n",
    "\r\n",
    " ",
    "\t",
    "(t)",
    "-",
    "+",
    "0",
    "1.5",
    "0x1f",
    "1_0",
    "#\"r\"#",
    "\"\"\"\n",
    "é",
    "\u{feff}",
    "\u{a0}",
    "\"a\\nb\"",
    "\"\\u{41}\"",
    "key=",
    "=1",
    "#inf",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    if rng.below(3) == 0 {
        return rng.mutate(seed);
    }
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(3) {
            0 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            1 => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at.min(end)..end);
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let end = (at + token.len()).min(out.len());
                out.splice(at.min(end)..end, token.iter().copied());
            }
        }
    }
    out
}

#[test]
fn fast_parse_agrees_with_kdl_on_mutated_topologies() {
    // `ORYX_FUZZ_ROUNDS=200000 cargo test --release --test compile_fuzz_smoke` for a longer soak.
    let rounds: usize = std::env::var("ORYX_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seeds = topologies();
    assert!(seeds.len() > 30, "found {} topologies", seeds.len());
    let mut rng = Rng(0x005e_ed0f_0a57_9a45);
    let mut accepted = 0;
    for (name, seed) in &seeds {
        assert!(
            parse_fast(std::str::from_utf8(seed).unwrap()).is_some() || name.contains("syntax")
        );
        compare_with_kdl(seed);
    }
    for _ in 0..rounds {
        let (_, seed) = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed);
        if std::str::from_utf8(&input).is_ok_and(|text| parse_fast(text).is_some()) {
            accepted += 1;
        }
        compare_with_kdl(&input);
    }
    // The comparison only proves something on inputs the fast path takes: make sure there were many.
    assert!(
        accepted > rounds / 10,
        "fast path took only {accepted} of {rounds} mutations"
    );
}

#[test]
fn the_switch_turns_the_fast_path_off_with_the_same_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |fast: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_oryx"))
            .args(["plan", "--json", "examples/configs/cluster.kdl"])
            .current_dir(root)
            .env("NO_COLOR", "1")
            .env("ORYX_FAST_PARSE", fast)
            .output()
            .expect("run oryx");
        assert!(output.status.success(), "{output:?}");
        output.stdout
    };
    let fast = run("1");
    assert!(!fast.is_empty());
    assert_eq!(fast, run("0"));
    // And the diagnostics of a broken file (the full parser's in both cases).
    let (code_on, _, err_on) = oryx(root, &["check", "tests/diagnostics/unknown-property.kdl"]);
    let slow = std::process::Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["check", "tests/diagnostics/unknown-property.kdl"])
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env("ORYX_FAST_PARSE", "0")
        .output()
        .unwrap();
    assert_eq!(code_on, slow.status.code().unwrap_or(-1));
    assert_eq!(err_on, String::from_utf8_lossy(&slow.stderr));
}
