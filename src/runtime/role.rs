//! `oryx role KIND NAME --plan FILE`: load the plan and run one role in this process.

use crate::compile::plan::Plan;
use anyhow::Context;
use std::io::Read;
use std::path::PathBuf;

/// The kinds of role a plan runs (the CLI spells them `worker`, `rtmp-lb`, …: `shell::kind_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    Worker,
    RtmpLb,
    HttpLb,
    ApiLb,
    /// Relays SRT callers to the workers' SRT listeners by stream id.
    SrtLb,
    Static,
    /// Pulls a source and publishes it through the topology (`ingest/NAME`).
    Ingest,
}

/// What `oryx role` runs: one role of a plan file.
#[derive(Debug, Clone)]
pub struct RoleOptions {
    pub kind: RoleKind,
    /// The role's name in the plan (worker instance name, static site name, ingest name; LBs: the LB
    /// kind).
    pub name: String,
    /// The plan JSON; `-` reads standard input.
    pub plan: PathBuf,
    pub log_format: super::logging::LogFormat,
}

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

/// The role's label in logs and control answers: `worker/live-0`, `rtmp-lb`, `static/site`,
/// `ingest/live-lobby`.
pub fn label(kind: RoleKind, name: &str) -> String {
    match kind {
        RoleKind::Worker => format!("worker/{name}"),
        RoleKind::Static => format!("static/{name}"),
        RoleKind::Ingest => format!("ingest/{name}"),
        RoleKind::RtmpLb => "rtmp-lb".into(),
        RoleKind::HttpLb => "http-lb".into(),
        RoleKind::ApiLb => "api-lb".into(),
        RoleKind::SrtLb => "srt-lb".into(),
    }
}

pub fn run(options: &RoleOptions) -> anyhow::Result<()> {
    let plan = load_plan(&options.plan)?;
    // A bad ORYX_CONTROL_SECRET stops the role here, with the reason, rather than leaving it
    // unreachable. The shell hands its roles the secret it derived; a role run by hand from a plan
    // with a cluster secret derives the same one when the variable is unset.
    let in_pod = crate::net::pod::pod_from_env(&plan).is_some();
    let source = crate::net::pod::secret_source(&plan, in_pod);
    crate::net::control_secret::init_for_role(source.as_ref())?;
    super::logging::init(&label(options.kind, &options.name), options.log_format);
    // The shell of a Kubernetes pod says so: bind all addresses, dial peers by DNS name.
    crate::net::pod::init_from_env(&plan, &options.plan);
    let (soft, hard) = crate::net::limits::raise_nofile();
    tracing::debug!(soft, hard, "open-files limit");
    match options.kind {
        RoleKind::Worker => crate::worker::role::run(plan, &options.name),
        RoleKind::RtmpLb => super::rtmp_lb::run(plan),
        RoleKind::HttpLb => super::http_lb::run(plan),
        RoleKind::ApiLb => super::api_lb::run(plan),
        RoleKind::SrtLb => super::srt_lb::run(plan),
        RoleKind::Static => super::static_site::run(plan, &options.name),
        RoleKind::Ingest => super::ingest::run(
            plan,
            &options.name,
            label(options.kind, &options.name),
            options.log_format == super::logging::LogFormat::Json,
        ),
    }
}
