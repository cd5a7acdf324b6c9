//! `oryx reload [--dry-run]`: asks the `oryx up` running from `--run-dir` (its control address is in
//! `RUN_DIR/shell.json`) to re-read its topology, or only to say what that would change, and prints
//! the answer.

use super::args::ReloadArgs;
use crate::compile::render::changes_text;
use crate::net::control_client::call;
use crate::runtime::shell::reload::{report_text, DryRunReport, ReloadReport};
use crate::runtime::shell::run_dir::{ShellFile, SHELL_FILE};
use crate::runtime::shell::READY_TIMEOUT;
use anyhow::Context;
use std::time::Duration;

/// `oryx reload`: ask the shell running from `--run-dir` to re-read its topology.
pub fn run(args: &ReloadArgs) -> anyhow::Result<()> {
    let path = args.run_dir.join(SHELL_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no running `oryx up` found: cannot read {} (is --run-dir right?)",
            path.display()
        )
    })?;
    let shell: ShellFile =
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // A reload may restart roles one after another, each waiting to be ready; allow for that.
    let (path, timeout) = if args.dry_run {
        ("/reload/dry-run", Duration::from_secs(30))
    } else {
        ("/reload", READY_TIMEOUT * 30)
    };
    let secret = crate::net::control_secret::read_file(&args.run_dir)?;
    let (status, body) = runtime
        .block_on(call(
            shell.control,
            "POST",
            path,
            None,
            timeout,
            Some(&secret),
        ))
        .with_context(|| format!("the shell (pid {}) did not answer", shell.pid))?;
    if status != 200 {
        anyhow::bail!("the shell answered {status}: {body}");
    }
    if args.dry_run {
        let report: DryRunReport = serde_json::from_str(&body).context("unexpected answer")?;
        if let Some(error) = &report.error {
            anyhow::bail!("a reload would be refused, the running plan would stay:\n{error}");
        }
        print!(
            "{}",
            changes_text(&report.old_digest, &report.new_digest, &report.changes)
        );
        return Ok(());
    }
    let report: ReloadReport = serde_json::from_str(&body).context("unexpected answer")?;
    if let Some(error) = &report.error {
        anyhow::bail!("reload refused, the running plan stays:\n{error}");
    }
    print!("{}", report_text(&report));
    Ok(())
}
