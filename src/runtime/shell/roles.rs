//! The shell's role catalogue: which roles a plan runs, in what order, under which names, and how
//! each is started (its [`ChildSpec`]) and reached (its control address).

use crate::compile::plan::{Plan, WorkerKind};
use crate::net::supervisor::{ChildSpec, Readiness};
use crate::runtime::logging::LogFormat;
use crate::runtime::role::{label, RoleKind};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One role of a plan: what to run and the name [`Plan::diff`] knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub kind: RoleKind,
    pub name: String,
    /// `worker/live-0`, `rtmp-lb`, `static/site` (the role names of [`Plan::diff`]).
    pub label: String,
}

/// Every role of `plan`, in start order: workers first (the LBs route to them), then LBs, then sites,
/// then ingests (they publish through the workers and LBs).
pub fn role_defs(plan: &Plan) -> Vec<RoleDef> {
    let def = |kind: RoleKind, name: &str| RoleDef {
        kind,
        name: name.to_string(),
        label: label(kind, name),
    };
    let mut defs: Vec<RoleDef> = plan
        .workers
        .iter()
        .map(|w| def(RoleKind::Worker, &w.name))
        .collect();
    for (kind, lb) in [
        (RoleKind::RtmpLb, &plan.rtmp_lb),
        (RoleKind::HttpLb, &plan.http_lb),
        (RoleKind::ApiLb, &plan.api_lb),
        (RoleKind::SrtLb, &plan.srt_lb),
    ] {
        if lb.is_some() {
            defs.push(def(kind, kind_name(kind)));
        }
    }
    for site in &plan.statics {
        defs.push(def(RoleKind::Static, &site.name));
    }
    for ingest in &plan.ingests {
        defs.push(def(RoleKind::Ingest, &ingest.name));
    }
    defs
}

/// The CLI name of a role kind (`rtmp-lb`).
pub fn kind_name(kind: RoleKind) -> &'static str {
    match kind {
        RoleKind::Worker => "worker",
        RoleKind::RtmpLb => "rtmp-lb",
        RoleKind::HttpLb => "http-lb",
        RoleKind::ApiLb => "api-lb",
        RoleKind::SrtLb => "srt-lb",
        RoleKind::Static => "static",
        RoleKind::Ingest => "ingest",
    }
}

/// The control address `plan` gives the role `def` (for an external worker, the one oryx would use).
fn control_address(plan: &Plan, def: &RoleDef) -> Option<SocketAddr> {
    match def.kind {
        RoleKind::Worker => plan.worker(&def.name).map(|w| w.control),
        RoleKind::RtmpLb => plan.rtmp_lb.as_ref().map(|lb| lb.control),
        RoleKind::HttpLb => plan.http_lb.as_ref().map(|lb| lb.control),
        RoleKind::ApiLb => plan.api_lb.as_ref().map(|lb| lb.control),
        RoleKind::SrtLb => plan.srt_lb.as_ref().map(|lb| lb.control),
        RoleKind::Static => plan
            .statics
            .iter()
            .find(|s| s.name == def.name)
            .map(|s| s.control),
        RoleKind::Ingest => plan
            .ingests
            .iter()
            .find(|i| i.name == def.name)
            .map(|i| i.control),
    }
}

/// Where each oryx role of `plan` serves `/metrics` (external workers have none).
pub fn metrics_targets(plan: &Plan) -> Vec<(String, SocketAddr)> {
    role_defs(plan)
        .into_iter()
        .filter(|def| {
            def.kind != RoleKind::Worker
                || plan
                    .worker(&def.name)
                    .is_some_and(|w| w.kind == WorkerKind::Embedded)
        })
        .filter_map(|def| control_address(plan, &def).map(|control| (def.label, control)))
        .collect()
}

/// How to run the role `def` of `plan`: this binary as `oryx role …` reading its plan file in
/// `run_dir`, or an external worker's program with its config compiled into `run_dir`.
pub fn child_spec(
    plan: &Plan,
    def: &RoleDef,
    run_dir: &Path,
    exe: &Path,
    log_format: LogFormat,
) -> anyhow::Result<ChildSpec> {
    let json = log_format == LogFormat::Json;
    if def.kind == RoleKind::Worker {
        let worker = plan
            .worker(&def.name)
            .with_context(|| format!("worker {} missing from plan", def.name))?;
        if worker.kind != WorkerKind::Embedded {
            let command = crate::runtime::external::prepare(worker, run_dir)?;
            return Ok(ChildSpec {
                label: def.label.clone(),
                program: command.program,
                args: command.args,
                validate: command.validate,
                readiness: Readiness::Tcp(worker.rtmp),
                prefix_output: true,
                json_output: json,
                skip_line: Some(crate::runtime::external::srs_api::is_poll_log_line),
            });
        }
    }
    let control = control_address(plan, def)
        .with_context(|| format!("role {} missing from plan", def.label))?;
    let log_format = if json { "json" } else { "human" };
    Ok(ChildSpec {
        label: def.label.clone(),
        program: exe.to_path_buf(),
        args: vec![
            "role".into(),
            kind_name(def.kind).into(),
            def.name.clone(),
            "--plan".into(),
            plan_file(run_dir, def).display().to_string(),
            "--log-format".into(),
            log_format.into(),
        ],
        validate: None,
        readiness: Readiness::Control(control),
        prefix_output: false,
        json_output: json,
        skip_line: None,
    })
}

/// The plan file the role `def` reads: `RUN_DIR/plans/worker-live-0.json`.
pub fn plan_file(run_dir: &Path, def: &RoleDef) -> PathBuf {
    run_dir
        .join("plans")
        .join(format!("{}.json", def.label.replace('/', "-")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::{IngestPlan, LbPlan, PortRange};

    fn plan_with_ingest() -> Plan {
        let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Plan {
            srt_lb: None,
            hosts: Vec::new(),
            secret: None,
            version: 1,
            env: None,
            ports: PortRange { from: 1, to: 2 },
            shell_control: addr(1),
            workers: Vec::new(),
            rtmp_lb: Some(LbPlan {
                tls: None,
                host: None,
                listen: addr(2),
                workers: Vec::new(),
                control: addr(3),
                auth: None,
                cors_origins: None,
            }),
            http_lb: None,
            api_lb: None,
            statics: Vec::new(),
            ingests: vec![IngestPlan {
                name: "live-lobby".into(),
                stream: "live/lobby".into(),
                from: "rtmp://10.0.0.9/live/cam".into(),
                looping: false,
                binary: "ffmpeg".into(),
                control: addr(4),
                host: None,
            }],
        }
    }

    #[test]
    fn ingests_come_last_and_run_as_oryx_role_ingest() {
        let plan = plan_with_ingest();
        let defs = role_defs(&plan);
        let labels: Vec<&str> = defs.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["rtmp-lb", "ingest/live-lobby"]);
        let spec = child_spec(
            &plan,
            &defs[1],
            Path::new("/run"),
            Path::new("/bin/oryx"),
            LogFormat::Human,
        )
        .unwrap();
        assert_eq!(spec.args[..3], ["role", "ingest", "live-lobby"]);
        assert_eq!(spec.readiness, Readiness::Control(plan.ingests[0].control));
        assert_eq!(
            plan_file(Path::new("/run"), &defs[1]),
            Path::new("/run/plans/ingest-live-lobby.json")
        );
        assert!(metrics_targets(&plan)
            .iter()
            .any(|(label, addr)| label == "ingest/live-lobby" && *addr == plan.ingests[0].control));
    }
}
