//! The CLI as a new operator meets it: diagnostics that name the real mistake once, `plan` in a
//! pipe, `--old-env`, and `--help` with examples.

mod common;

use common::cli::oryx;
use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn kdl_v1_booleans_get_a_help_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.kdl"),
        "oryx 1\ndefaults {\n    gop-cache true\n}\nworker \"a\"\n",
    )
    .unwrap();
    let (code, err, _) = oryx(dir.path(), &["check", "t.kdl"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("KDL v2 writes booleans and null as `#true`"),
        "{err}"
    );
}

#[test]
fn an_unclosed_string_is_one_error_at_its_opening_quote() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.kdl"),
        "oryx 1\nworker \"a\" {\n    hooks { on-publish \"http://127.0.0.1:8085/auth }\n}\nrtmp-lb listen=\"0.0.0.0:1935\"\n",
    )
    .unwrap();
    let (code, out, _) = oryx(dir.path(), &["check", "t.kdl", "--format", "json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let diagnostics = report["diagnostics"].as_array().unwrap();
    // One error: the braces after it are not reported as unclosed too.
    assert_eq!(diagnostics.len(), 1, "{report}");
    let text = diagnostics[0].to_string();
    assert!(text.contains("unclosed string"), "{text}");
    // Line 3, column 24: the opening quote.
    let (_, human, _) = oryx(dir.path(), &["check", "t.kdl"]);
    assert!(human.contains("t.kdl:3:24"), "{human}");
}

#[test]
fn a_misspelt_worker_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.kdl"),
        "oryx 1\nwroker \"a\"\nrtmp-lb listen=\"0.0.0.0:1935\"\nhttp-lb listen=\"0.0.0.0:8080\"\napi-lb listen=\"127.0.0.1:1985\"\n",
    )
    .unwrap();
    let (code, err, _) = oryx(dir.path(), &["check", "t.kdl"]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean `worker`?"), "{err}");
    assert!(!err.contains("no-workers"), "{err}");
    assert!(err.contains("1 error"), "{err}");
}

#[test]
fn plan_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // Enough workers that the plan is far larger than a pipe's buffer.
    let mut text = String::from("oryx 1\nports from=20000 to=29999\n");
    text.push_str("worker \"w\" count=300\nrtmp-lb listen=\"0.0.0.0:1935\"\n");
    std::fs::write(dir.path().join("t.kdl"), text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["plan", "t.kdl"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 5];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The reader is gone (like `| head -c 5`).
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn plan_diff_takes_the_old_files_own_overlay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("new.kdl"),
        "oryx 1\nworker \"a\"\nrtmp-lb listen=\"0.0.0.0:1935\"\nenv \"dev\" { rtmp-lb listen=\"127.0.0.1:1935\" }\n",
    )
    .unwrap();
    // The old file has no `dev` overlay.
    std::fs::write(
        dir.path().join("old.kdl"),
        "oryx 1\nworker \"a\"\nrtmp-lb listen=\"0.0.0.0:1935\"\n",
    )
    .unwrap();
    let (code, _, err) = oryx(
        dir.path(),
        &["plan", "new.kdl", "--env", "dev", "--diff", "old.kdl"],
    );
    assert_ne!(code, 0, "OLD gets the same --env by default: {err}");
    let (code, out, err) = oryx(
        dir.path(),
        &[
            "plan",
            "new.kdl",
            "--env",
            "dev",
            "--diff",
            "old.kdl",
            "--old-env=",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rtmp-lb"), "{out}");
    let (_, help, _) = oryx(dir.path(), &["plan", "--help"]);
    assert!(help.contains("--old-env"), "{help}");
    assert!(help.contains("Examples:"), "{help}");
}

#[test]
fn every_command_help_has_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        "check",
        "plan",
        "fmt",
        "up",
        "reload",
        "role",
        "completions",
    ] {
        let (code, out, _) = oryx(dir.path(), &[command, "--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("Examples:\n  oryx"), "{command}: {out}");
    }
}
