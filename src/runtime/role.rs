//! `oryx role KIND NAME --plan FILE`: load the plan and run one role in this process.

use crate::cli::args::{RoleArgs, RoleKind};
use crate::compile::plan::Plan;
use anyhow::Context;
use std::io::Read;

/// Read the plan JSON named by `--plan` (`-` = standard input).
pub fn load_plan(path: &std::path::Path) -> anyhow::Result<Plan> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading plan {}", path.display()))?
    };
    serde_json::from_str(&text).context("parsing plan JSON")
}

pub fn run(args: &RoleArgs) -> anyhow::Result<()> {
    let plan = load_plan(&args.plan)?;
    match args.kind {
        RoleKind::Worker => anyhow::bail!("worker role not implemented yet ({})", plan.digest()),
        RoleKind::RtmpLb | RoleKind::HttpLb | RoleKind::ApiLb | RoleKind::Static => {
            anyhow::bail!("role {:?} {} not implemented yet", args.kind, args.name)
        }
    }
}
