//! One small bad topology per diagnostic code, with snapshots of `oryx check` human and JSON output.
//!
//! A file may start with `// args: …` to pass extra arguments (e.g. `--env prd`). Review changed
//! snapshots as you would code: the message must help a person fix the file.

use oryx::compile::diagnostic::ALL_CODES;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics")
}

/// Run `oryx check` on `file` (relative to this directory) and return (exit code, stdout).
fn check(file: &str, format: &str) -> (i32, String) {
    let text = std::fs::read_to_string(dir().join(file)).expect("read example");
    let mut args = vec!["check".to_string(), "--format".into(), format.into()];
    if let Some(extra) = text.lines().next().and_then(|l| l.strip_prefix("// args:")) {
        args.extend(extra.split_whitespace().map(str::to_string));
    }
    args.push(file.to_string());
    let output = Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(&args)
        .current_dir(dir())
        .env("NO_COLOR", "1")
        .output()
        .expect("run oryx");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn every_code_has_an_example_that_triggers_it() {
    for code in ALL_CODES {
        let file = format!("{}.kdl", code.trim_start_matches("oryx::"));
        assert!(
            dir().join(&file).is_file(),
            "missing tests/diagnostics/{file}"
        );
        let (status, stdout) = check(&file, "json");
        let report: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
        let codes: Vec<&str> = report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .filter_map(|d| d["code"].as_str())
            .collect();
        assert!(codes.contains(code), "{file} reports {codes:?}, not {code}");
        let errors = report["error_count"].as_u64().unwrap_or(0);
        assert_eq!(status, if errors > 0 { 1 } else { 0 }, "{file}");
        assert!(
            report["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["help"].is_string()),
            "{file}: every diagnostic has a help line"
        );
    }
}

#[test]
fn snapshots() {
    insta::glob!("*.kdl", |path| {
        let file = path.file_name().unwrap().to_str().unwrap();
        let (status, human) = check(file, "human");
        insta::assert_snapshot!("human", format!("exit {status}\n{human}"));
        let (_, json) = check(file, "json");
        insta::assert_snapshot!("json", json);
    });
}
