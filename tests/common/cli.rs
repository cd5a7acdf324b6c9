//! The `oryx` binary run as a command-line tool, the way a user runs `check`, `plan` and `fmt`.

use std::path::Path;
use std::process::Command;

/// `oryx ARGS…` in `dir` without colours: (exit code, stdout, stderr); -1 when killed by a signal.
pub fn oryx(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run oryx");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
