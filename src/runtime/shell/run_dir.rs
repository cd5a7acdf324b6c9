//! What the shell keeps in its run directory: `shell.json` (where `oryx reload` finds it) and the
//! plan file each role reads when it (re)starts.

use super::roles::{plan_file, role_defs};
use crate::compile::plan::Plan;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file in the run directory that tells `oryx reload` where the shell listens.
pub const SHELL_FILE: &str = "shell.json";

/// What `RUN_DIR/shell.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShellFile {
    pub pid: u32,
    pub control: SocketAddr,
    pub digest: String,
    pub file: Option<PathBuf>,
}

/// Write `RUN_DIR/shell.json` for the shell running `plan` (from `file`) with its control API on
/// `control`.
pub fn write_shell_file(
    run_dir: &Path,
    plan: &Plan,
    file: Option<&Path>,
    control: SocketAddr,
) -> anyhow::Result<()> {
    let shell = ShellFile {
        pid: std::process::id(),
        control,
        digest: plan.digest(),
        file: file.map(Path::to_path_buf),
    };
    let path = run_dir.join(SHELL_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&shell)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Remove `RUN_DIR/shell.json` as the shell stops: no `oryx reload` should find it any more.
pub fn remove_shell_file(run_dir: &Path) {
    let _ = std::fs::remove_file(run_dir.join(SHELL_FILE));
}

/// Write the plan every role of `plan` reads when it (re)starts.
pub fn write_plan_files(run_dir: &Path, plan: &Plan) -> anyhow::Result<()> {
    let dir = run_dir.join("plans");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(plan)?;
    for def in role_defs(plan) {
        let path = plan_file(run_dir, &def);
        write_private(&path, json.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Write a file only its owner can read: plans may carry hook URLs with tokens and key paths.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}
