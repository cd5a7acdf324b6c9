//! `oryx plan FILE --emit systemd`: one unit per host (`oryx-HOST.service` running `oryx up
//! /etc/oryx/topology.kdl --host HOST`), deterministic, pinned by snapshots, and accepted by
//! `systemd-analyze verify`.

mod common;

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn emit(name: &str) -> String {
    let file = format!("examples/configs/{name}.kdl");
    let (status, stdout, stderr) = common::cli::oryx(root(), &["plan", &file, "--emit", "systemd"]);
    assert_eq!(status, 0, "{name}: {stderr}");
    stdout
}

/// The units of `text`: (file name, unit text), split at the `# file: NAME` lines.
fn units(text: &str) -> Vec<(String, String)> {
    text.split("# file: ")
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (name, unit) = part.split_once('\n').unwrap();
            (name.to_string(), unit.to_string())
        })
        .collect()
}

#[test]
fn one_unit_per_host_deterministic_and_pinned() {
    let text = emit("multi-host");
    assert_eq!(text, emit("multi-host"), "same file, same bytes");
    let names: Vec<String> = units(&text).into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "oryx-lb-1.service",
            "oryx-media-1.service",
            "oryx-media-2.service"
        ]
    );
    for (name, unit) in units(&text) {
        let host = name
            .trim_start_matches("oryx-")
            .trim_end_matches(".service");
        assert!(
            unit.contains(&format!(
                "ExecStart=/usr/local/bin/oryx up /etc/oryx/topology.kdl --run-dir /run/oryx-{host} --host {host}\n"
            )),
            "{unit}"
        );
    }
    insta::assert_snapshot!("systemd_multi_host", text);
    // Without hosts: one unit for the whole topology.
    let single = units(&emit("single"));
    assert_eq!(single.len(), 1);
    assert_eq!(single[0].0, "oryx.service");
    assert!(!single[0].1.contains("--host"), "{}", single[0].1);
}

#[test]
fn systemd_analyze_verify_accepts_every_unit() {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        crate::skipped!("systemd-analyze is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, unit) in units(&emit("multi-host")) {
        // verify checks that ExecStart's binary exists: point it at the one under test.
        let unit = unit.replace("/usr/local/bin/oryx", env!("CARGO_BIN_EXE_oryx"));
        let path = dir.path().join(&name);
        std::fs::write(&path, unit).unwrap();
        paths.push(path);
    }
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .args(&paths)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify reports a unit's own problems with its file name; other units of the machine that
    // it loads as dependencies (network-online.target) are not ours to judge.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("oryx-")).collect();
    assert!(ours.is_empty(), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}
