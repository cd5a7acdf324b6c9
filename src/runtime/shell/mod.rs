//! The shell (`oryx up`): compiles the topology, spawns and supervises every role, reloads on SIGHUP.
//!
//! Each role runs as a child process (`oryx role KIND NAME --plan RUN_DIR/plans/ROLE.json`, or the
//! external program of an nginx-rtmp/SRS worker with a config compiled into the run directory). A
//! reload (SIGHUP or `oryx reload`, which calls the shell's loopback control API) re-compiles the file;
//! errors leave the running plan untouched, otherwise only the roles whose slice of the plan changed
//! are touched: load balancers get their new worker sets and embedded workers their new stream
//! settings pushed in place (`reload.rs`), and roles that must restart do so one at a time.
//!
//! Every control call carries the run's secret ([`super::control_secret`]): the shell takes or makes
//! it, writes it 0600 into the run directory for `oryx reload`, and hands it to each role.

use super::backends::http_call;
pub use super::reload::{reload_steps, ReloadReport, ReloadSteps};
use super::reload::{DryRunReport, RoleOutcome};
use super::supervisor::{ChildSpec, ChildStatus, Readiness, Supervised};
use crate::cli::args::{LogFormat, RoleKind, UpArgs};
use crate::compile;
use crate::compile::plan::{Plan, WorkerKind};
use anyhow::Context;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long `up` and reload wait for a started role to report ready before moving on.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
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

/// One role of a plan: what to run and the name [`Plan::diff`] knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub kind: RoleKind,
    pub name: String,
    /// `worker/live-0`, `rtmp-lb`, `static/site` (the role names of [`Plan::diff`]).
    pub label: String,
}

/// Every role of `plan`, in start order: workers first (the LBs route to them), then LBs, then sites.
pub fn role_defs(plan: &Plan) -> Vec<RoleDef> {
    let def = |kind: RoleKind, name: &str| RoleDef {
        kind,
        name: name.to_string(),
        label: super::role::label(kind, name),
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
    ] {
        if lb.is_some() {
            defs.push(def(kind, kind_name(kind)));
        }
    }
    for site in &plan.statics {
        defs.push(def(RoleKind::Static, &site.name));
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
        RoleKind::Static => "static",
    }
}

/// Read the topology: the built-in default without a file, a plan JSON (`*.json`, as `oryx plan
/// --json` prints a plan) as is, else a KDL file compiled with the env overlay.
pub fn load_plan(file: Option<&Path>, env: Option<&str>) -> Result<Plan, String> {
    match file {
        None => compile::compile_source(
            compile::DEFAULT_TOPOLOGY_NAME,
            compile::DEFAULT_TOPOLOGY,
            env,
        )
        .map_err(|f| f.to_string()),
        Some(path) if path.extension().is_some_and(|e| e == "json") => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
            serde_json::from_str::<Plan>(&text)
                .or_else(|_| {
                    // `oryx plan --json` may wrap the plan with its digest.
                    serde_json::from_str::<serde_json::Value>(&text).and_then(|v| {
                        serde_json::from_value::<Plan>(v.get("plan").cloned().unwrap_or_default())
                    })
                })
                .map_err(|err| format!("{} is not a plan: {err}", path.display()))
        }
        Some(path) => {
            let name = path.display().to_string();
            let text =
                compile::read_topology(path).map_err(|err| format!("cannot read {name}: {err}"))?;
            let compilation =
                compile::compile(&name, &text, &compile::Options::for_file(&name, env));
            match compilation.plan {
                Some(ref plan) => {
                    // Warnings (a missing external binary, a missing static root) do not stop `up`,
                    // but the operator must see them: the role they concern will fail to start.
                    if compilation.warning_count() > 0 {
                        tracing::warn!("topology warnings:\n{}", compilation.render_plain());
                    }
                    Ok(plan.clone())
                }
                None => Err(format!(
                    "{} error(s) in topology\n{}",
                    compilation.error_count(),
                    compilation.render_plain()
                )),
            }
        }
    }
}

/// The address users type for a listener: wildcard binds are shown as 127.0.0.1.
fn public(addr: SocketAddr) -> SocketAddr {
    let mut shown = addr;
    if addr.ip().is_unspecified() {
        shown.set_ip([127, 0, 0, 1].into());
    }
    shown
}

/// The lines `oryx up` prints: the digest and the URLs users need.
pub fn banner(plan: &Plan) -> String {
    let mut lines = vec![format!("oryx up: plan {}", plan.digest())];
    let first = plan.workers.first();
    let rtmp = plan
        .rtmp_lb
        .as_ref()
        .map(|lb| public(lb.listen))
        .or(first.map(|w| w.rtmp));
    let http = plan
        .http_lb
        .as_ref()
        .map(|lb| public(lb.listen))
        .or(first.map(|w| w.http));
    if let Some(rtmp) = rtmp {
        lines.push(format!("  publish  rtmp://{rtmp}/live/STREAM"));
        lines.push(format!("  play     rtmp://{rtmp}/live/STREAM"));
    }
    if let Some(http) = http {
        if plan.workers.iter().any(|w| w.stream.http_flv.enabled) {
            lines.push(format!("  flv      http://{http}/live/STREAM.flv"));
        }
        if plan.workers.iter().any(|w| w.stream.hls.enabled) {
            lines.push(format!("  hls      http://{http}/live/STREAM.m3u8"));
        }
    }
    if let Some(api) = &plan.api_lb {
        lines.push(format!(
            "  api      http://{}/api/v1/streams",
            public(api.listen)
        ));
    }
    for site in &plan.statics {
        if let Some(listen) = site.listen {
            lines.push(format!(
                "  static   http://{}/ ({})",
                public(listen),
                site.name
            ));
        }
        if let Some(tls) = &site.tls {
            lines.push(format!(
                "  static   https://{}/ ({})",
                public(tls.listen),
                site.name
            ));
        }
    }
    for w in &plan.workers {
        lines.push(format!(
            "  worker   {} ({}) rtmp {} http {} control {}",
            w.name,
            w.kind.as_str(),
            w.rtmp,
            w.http,
            w.control
        ));
    }
    lines.join("\n")
}

/// The running system: the plan in force and one supervisor per role.
struct Shell {
    file: Option<PathBuf>,
    env: Option<String>,
    run_dir: PathBuf,
    exe: PathBuf,
    log_format: LogFormat,
    plan: Plan,
    roles: BTreeMap<String, (RoleDef, Supervised)>,
}

enum ShellRequest {
    Reload(oneshot::Sender<ReloadReport>),
    DryRun(oneshot::Sender<DryRunReport>),
}

/// What the control API's `/status` shows.
#[derive(Serialize)]
struct RoleStatus {
    role: String,
    #[serde(flatten)]
    status: ChildStatus,
}

type StatusBoard = Arc<Mutex<(String, Vec<RoleStatus>)>>;

impl Shell {
    fn plan_file(&self, def: &RoleDef) -> PathBuf {
        self.run_dir
            .join("plans")
            .join(format!("{}.json", def.label.replace('/', "-")))
    }

    fn child_spec(&self, def: &RoleDef) -> anyhow::Result<ChildSpec> {
        let json = self.log_format == LogFormat::Json;
        if def.kind == RoleKind::Worker {
            let worker = self
                .plan
                .worker(&def.name)
                .with_context(|| format!("worker {} missing from plan", def.name))?;
            if worker.kind != WorkerKind::Embedded {
                let command = super::external::prepare(worker, &self.run_dir)?;
                return Ok(ChildSpec {
                    label: def.label.clone(),
                    program: command.program,
                    args: command.args,
                    validate: command.validate,
                    readiness: Readiness::Tcp(worker.rtmp),
                    prefix_output: true,
                    json_output: json,
                });
            }
        }
        let control = match def.kind {
            RoleKind::Worker => self.plan.worker(&def.name).map(|w| w.control),
            RoleKind::RtmpLb => self.plan.rtmp_lb.as_ref().map(|lb| lb.control),
            RoleKind::HttpLb => self.plan.http_lb.as_ref().map(|lb| lb.control),
            RoleKind::ApiLb => self.plan.api_lb.as_ref().map(|lb| lb.control),
            RoleKind::Static => self
                .plan
                .statics
                .iter()
                .find(|s| s.name == def.name)
                .map(|s| s.control),
        }
        .with_context(|| format!("role {} missing from plan", def.label))?;
        let log_format = if json { "json" } else { "human" };
        Ok(ChildSpec {
            label: def.label.clone(),
            program: self.exe.clone(),
            args: vec![
                "role".into(),
                kind_name(def.kind).into(),
                def.name.clone(),
                "--plan".into(),
                self.plan_file(def).display().to_string(),
                "--log-format".into(),
                log_format.into(),
            ],
            validate: None,
            readiness: Readiness::Control(control),
            prefix_output: false,
            json_output: json,
        })
    }

    /// Write the plan every role of the current plan reads when it (re)starts.
    fn write_plan_files(&self) -> anyhow::Result<()> {
        let dir = self.run_dir.join("plans");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let json = serde_json::to_string_pretty(&self.plan)?;
        for def in role_defs(&self.plan) {
            let path = self.plan_file(&def);
            write_private(&path, json.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// Start `defs` and wait (bounded, in parallel) until each is ready.
    /// Start `defs` and wait (bounded, in parallel) until each is ready.
    async fn start_roles(&mut self, defs: &[RoleDef]) -> Vec<String> {
        let started = self.spawn_roles(defs);
        self.wait_ready(&started).await;
        started
    }

    /// Start supervising `defs`; returns the labels that started.
    fn spawn_roles(&mut self, defs: &[RoleDef]) -> Vec<String> {
        let mut started = Vec::new();
        for def in defs {
            match self.child_spec(def) {
                Ok(spec) => {
                    self.roles
                        .insert(def.label.clone(), (def.clone(), Supervised::start(spec)));
                    started.push(def.label.clone());
                }
                Err(err) => tracing::error!(role = %def.label, "cannot start: {err:#}"),
            }
        }
        started
    }

    /// Wait until the `labels` roles are ready, at most [`READY_TIMEOUT`], reporting laggards.
    async fn wait_ready(&self, labels: &[String]) {
        let waits = labels.iter().filter_map(|label| {
            self.roles
                .get(label)
                .map(|(_, sup)| async move { (label.clone(), sup.wait_ready(READY_TIMEOUT).await) })
        });
        for (label, ready) in futures_util::future::join_all(waits).await {
            if !ready {
                tracing::error!(role = %label, "not ready after {READY_TIMEOUT:?}; still trying");
            }
        }
    }

    async fn stop_roles(&mut self, labels: &[String]) {
        let stopping: Vec<Supervised> = labels
            .iter()
            .filter_map(|label| self.roles.remove(label).map(|(_, sup)| sup))
            .collect();
        futures_util::future::join_all(stopping.into_iter().map(Supervised::stop)).await;
    }

    /// Tell every running LB the workers it routes to in the current plan.
    async fn push_backends(&self) {
        for (kind, lb) in [
            (RoleKind::RtmpLb, &self.plan.rtmp_lb),
            (RoleKind::HttpLb, &self.plan.http_lb),
            (RoleKind::ApiLb, &self.plan.api_lb),
        ] {
            let Some(lb) = lb else { continue };
            let workers: Vec<_> = lb
                .workers
                .iter()
                .filter_map(|name| self.plan.worker(name).cloned())
                .collect();
            let body = serde_json::to_string(&workers).unwrap_or_default();
            let answer = http_call(
                lb.control,
                "PUT",
                "/api/v1/backends",
                Some(body),
                Duration::from_secs(3),
            )
            .await;
            match answer {
                Ok((200, _)) => tracing::info!(role = kind_name(kind), "backends pushed"),
                Ok((status, text)) => {
                    tracing::warn!(role = kind_name(kind), status, %text, "backend push refused")
                }
                Err(err) => tracing::warn!(role = kind_name(kind), "backend push failed: {err:#}"),
            }
        }
    }

    /// The plan a reload would apply now, or the compile errors that would refuse it.
    fn load_new_plan(&self) -> Result<Plan, String> {
        load_plan(self.file.as_deref(), self.env.as_deref())
    }

    /// `oryx reload --dry-run`: what a reload would change, applying nothing.
    fn dry_run(&self) -> DryRunReport {
        match self.load_new_plan() {
            Ok(new_plan) => DryRunReport::new(&self.plan, &new_plan),
            Err(errors) => DryRunReport {
                error: Some(errors),
                old_digest: self.plan.digest(),
                ..DryRunReport::default()
            },
        }
    }

    async fn reload(&mut self) -> ReloadReport {
        let new_plan = match self.load_new_plan() {
            Ok(plan) => plan,
            Err(errors) => {
                tracing::error!("reload refused, the running plan stays:\n{errors}");
                return ReloadReport {
                    ok: false,
                    digest: self.plan.digest(),
                    error: Some(errors),
                    ..ReloadReport::default()
                };
            }
        };
        if new_plan.shell_control != self.plan.shell_control {
            tracing::warn!(
                "the shell's control address changed; it takes effect at the next `oryx up`"
            );
        }
        let steps = reload_steps(&self.plan, &new_plan);
        let labels = |defs: &[RoleDef]| defs.iter().map(|d| d.label.clone()).collect::<Vec<_>>();
        tracing::info!(
            digest = %new_plan.digest(),
            added = ?labels(&steps.added),
            restarted = ?labels(&steps.restarted),
            updated = ?labels(&steps.hot),
            removed = ?labels(&steps.removed),
            "applying reload"
        );
        self.plan = new_plan;
        // Every role's plan file first: a role that crashes from now on comes back with the new
        // settings, whether it is updated in place or restarted below.
        if let Err(err) = self.write_plan_files() {
            tracing::error!("{err:#}");
        }
        let mut outcomes = Vec::new();
        // Roles to restart, each with why when its class did not call for it.
        let mut restarts: Vec<(RoleDef, Option<String>)> =
            steps.restarted.iter().map(|d| (d.clone(), None)).collect();
        let mut updated = Vec::new();
        // Hot changes: workers take their new stream settings in place. One that refuses or does
        // not answer restarts with the new plan file instead.
        for def in &steps.hot {
            if def.kind != RoleKind::Worker {
                updated.push(def.label.clone());
                outcomes.push(steps.outcome(&def.label, "updated"));
                continue;
            }
            let Some(worker) = self.plan.worker(&def.name).cloned() else {
                continue;
            };
            match super::reload::push_settings(&worker, &self.plan.digest()).await {
                Ok(()) => {
                    tracing::info!(role = %def.label, "stream settings updated in place");
                    updated.push(def.label.clone());
                    outcomes.push(steps.outcome(&def.label, "updated"));
                }
                Err(err) => {
                    tracing::warn!(role = %def.label, "settings push failed, restarting: {err}");
                    restarts.push((def.clone(), Some(err)));
                }
            }
        }
        outcomes.extend(self.restart_one_by_one(&restarts, &steps).await);
        let restarted: Vec<RoleDef> = restarts.into_iter().map(|(def, _)| def).collect();
        let added = self.start_roles(&steps.added).await;
        outcomes.extend(added.iter().map(|label| steps.outcome(label, "started")));
        // New workers are up: only now do the LBs learn about them, then the removed ones go away.
        self.push_backends().await;
        self.stop_roles(&labels(&steps.removed)).await;
        outcomes.extend(
            steps
                .removed
                .iter()
                .map(|def| steps.outcome(&def.label, "stopped")),
        );
        ReloadReport {
            ok: true,
            digest: self.plan.digest(),
            error: None,
            started: labels(&steps.added),
            restarted: labels(&restarted),
            updated,
            stopped: labels(&steps.removed),
            unchanged: labels(&steps.unchanged),
            roles: outcomes,
        }
    }

    /// Restart `defs` one at a time, each only after the previous one is ready again (or its wait
    /// timed out), so a group of workers is never down at once. A restarted role keeps its name and
    /// often its ports, so its old process is gone before the new one binds.
    async fn restart_one_by_one(
        &mut self,
        restarts: &[(RoleDef, Option<String>)],
        steps: &ReloadSteps,
    ) -> Vec<RoleOutcome> {
        let mut outcomes = Vec::new();
        for (def, why) in restarts {
            tracing::info!(role = %def.label, "restarting");
            self.stop_roles(std::slice::from_ref(&def.label)).await;
            let started = self.spawn_roles(std::slice::from_ref(def));
            let ready = match started.first().and_then(|label| self.roles.get(label)) {
                Some((_, sup)) => sup.wait_ready(READY_TIMEOUT).await,
                None => false,
            };
            if ready {
                tracing::info!(role = %def.label, "restarted and ready");
                if def.kind == RoleKind::Worker {
                    // The LBs route to it at its new address before the next worker goes down.
                    self.push_backends().await;
                }
            } else {
                tracing::error!(role = %def.label, "not ready after {READY_TIMEOUT:?}; still trying");
            }
            let mut outcome = steps.outcome(&def.label, "restarted");
            outcome.note = why.clone();
            if !ready {
                outcome.note = Some(format!("not ready after {READY_TIMEOUT:?}"));
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    fn publish_status(&self, board: &StatusBoard) {
        let roles = self
            .roles
            .values()
            .map(|(def, sup)| RoleStatus {
                role: def.label.clone(),
                status: sup.status(),
            })
            .collect();
        *board.lock().unwrap_or_else(|e| e.into_inner()) = (self.plan.digest(), roles);
    }

    /// Where each oryx role of the current plan serves `/metrics` (external workers have none).
    fn metrics_targets(&self) -> Vec<(String, SocketAddr)> {
        role_defs(&self.plan)
            .into_iter()
            .filter_map(|def| {
                let control = match def.kind {
                    RoleKind::Worker => self
                        .plan
                        .worker(&def.name)
                        .filter(|w| w.kind == WorkerKind::Embedded)
                        .map(|w| w.control),
                    RoleKind::RtmpLb => self.plan.rtmp_lb.as_ref().map(|lb| lb.control),
                    RoleKind::HttpLb => self.plan.http_lb.as_ref().map(|lb| lb.control),
                    RoleKind::ApiLb => self.plan.api_lb.as_ref().map(|lb| lb.control),
                    RoleKind::Static => self
                        .plan
                        .statics
                        .iter()
                        .find(|s| s.name == def.name)
                        .map(|s| s.control),
                }?;
                Some((def.label, control))
            })
            .collect()
    }

    /// Stop the front first (LBs, sites: no new sessions), then the workers.
    async fn shutdown(&mut self) {
        let (workers, front): (Vec<&RoleDef>, Vec<&RoleDef>) = self
            .roles
            .values()
            .map(|(def, _)| def)
            .partition(|def| def.kind == RoleKind::Worker);
        let labels = |defs: Vec<&RoleDef>| defs.iter().map(|d| d.label.clone()).collect::<Vec<_>>();
        let (workers, front) = (labels(workers), labels(front));
        self.stop_roles(&front).await;
        self.stop_roles(&workers).await;
    }
}

#[derive(Clone)]
struct ControlState {
    requests: mpsc::Sender<ShellRequest>,
    board: StatusBoard,
    /// Each role's control address, for the merged `/metrics`.
    targets: Arc<Mutex<Vec<(String, SocketAddr)>>>,
}

fn control_router(state: ControlState) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"role": "shell", "ok": true})) }),
        )
        .route(
            "/readyz",
            get(|| async { Json(serde_json::json!({"role": "shell", "ready": true})) }),
        )
        .route("/status", get(status_handler))
        .merge(super::control_secret::protect(
            Router::new()
                .route("/metrics", get(metrics_handler))
                .route("/reload", post(reload_handler))
                .route("/reload/dry-run", post(dry_run_handler)),
        ))
        .with_state(state)
}

async fn status_handler(State(state): State<ControlState>) -> Json<serde_json::Value> {
    let board = state.board.lock().unwrap_or_else(|e| e.into_inner());
    Json(serde_json::json!({ "pid": std::process::id(), "digest": board.0, "roles": board.1 }))
}

/// Every role's `/metrics` with a `role` label, and the supervisor's view of each role: one page for
/// the whole topology, so one Prometheus scrape job covers it.
async fn metrics_handler(State(state): State<ControlState>) -> impl axum::response::IntoResponse {
    let targets = state
        .targets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let pages =
        futures_util::future::join_all(targets.iter().map(|(_, control)| {
            http_call(*control, "GET", "/metrics", None, Duration::from_secs(2))
        }))
        .await;
    let mut merged = super::metrics_merge::Merged::default();
    for ((role, _), page) in targets.iter().zip(pages) {
        let scraped = match page {
            Ok((200, text)) => {
                merged.add(role, &text);
                1.0
            }
            _ => 0.0,
        };
        merged.own(
            "oryx_shell_role_scrape_ok",
            "gauge",
            "1 when the shell could read the role's own /metrics.",
            role,
            scraped,
        );
    }
    let roles: Vec<(String, ChildStatus)> = {
        let board = state.board.lock().unwrap_or_else(|e| e.into_inner());
        board
            .1
            .iter()
            .map(|r| (r.role.clone(), r.status.clone()))
            .collect()
    };
    for (role, status) in roles {
        merged.own(
            "oryx_shell_role_ready",
            "gauge",
            "1 when the role reports ready.",
            &role,
            f64::from(u8::from(status.ready)),
        );
        merged.own(
            "oryx_shell_role_restarts_total",
            "counter",
            "Times the supervisor restarted the role.",
            &role,
            f64::from(status.starts.saturating_sub(1)),
        );
        merged.own(
            "oryx_shell_role_crash_loop",
            "gauge",
            "1 while the role is in a crash loop (restarting with the longest backoff).",
            &role,
            f64::from(u8::from(status.crash_loop)),
        );
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        merged.render(),
    )
}

async fn reload_handler(State(state): State<ControlState>) -> Json<ReloadReport> {
    let (tx, rx) = oneshot::channel();
    if state.requests.send(ShellRequest::Reload(tx)).await.is_err() {
        return Json(ReloadReport {
            error: Some("the shell is shutting down".into()),
            ..ReloadReport::default()
        });
    }
    Json(rx.await.unwrap_or_else(|_| ReloadReport {
        error: Some("the shell is shutting down".into()),
        ..ReloadReport::default()
    }))
}

async fn dry_run_handler(State(state): State<ControlState>) -> Json<DryRunReport> {
    let (tx, rx) = oneshot::channel();
    let gone = || DryRunReport {
        error: Some("the shell is shutting down".into()),
        ..DryRunReport::default()
    };
    if state.requests.send(ShellRequest::DryRun(tx)).await.is_err() {
        return Json(gone());
    }
    Json(rx.await.unwrap_or_else(|_| gone()))
}

/// `oryx up`.
pub fn run(args: &UpArgs) -> anyhow::Result<()> {
    super::logging::init("shell", args.log_format);
    // One thread: every fork happens on the main thread, which lives as long as the shell, so the
    // children's parent-death signal fires exactly when the shell dies.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(up(args))
}

async fn up(args: &UpArgs) -> anyhow::Result<()> {
    let plan = load_plan(args.file.as_deref(), args.env.as_deref())
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    super::control_secret::prepare_run_dir(&args.run_dir)?;
    let run_dir = std::fs::canonicalize(&args.run_dir)?;
    // Held until `up` returns; the kernel drops it if the shell dies.
    let _lock = super::preflight::lock_run_dir(&run_dir)?;
    super::preflight::check_public_listeners(&plan)?;
    let (secret, _) = super::control_secret::init_from_env()?;
    super::control_secret::write_file(&run_dir, secret).with_context(|| {
        format!(
            "cannot write {}",
            run_dir.join(super::control_secret::FILE).display()
        )
    })?;
    let exe = std::env::current_exe().context("cannot find the oryx binary")?;
    // The roles inherit the raised limit (and raise it again themselves when run standalone).
    let (_, hard) = super::limits::raise_nofile();
    if let Some(warning) = super::limits::nofile_warning(&plan, hard) {
        tracing::warn!("{warning}");
    }
    println!("{}", banner(&plan));
    println!(
        "  reload   oryx reload --run-dir {} (or SIGHUP to pid {})",
        args.run_dir.display(),
        std::process::id()
    );
    println!(
        "  metrics  http://{}/metrics (every role, with a role label)",
        plan.shell_control
    );

    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;

    let control_listener = super::limits::bind(plan.shell_control)
        .with_context(|| format!("shell control API cannot listen on {}", plan.shell_control))?;
    let control_addr = control_listener.local_addr()?;
    let (requests_tx, mut requests) = mpsc::channel(4);
    let board: StatusBoard = Arc::default();
    let targets: Arc<Mutex<Vec<(String, SocketAddr)>>> = Arc::default();
    let router = control_router(ControlState {
        requests: requests_tx,
        board: board.clone(),
        targets: targets.clone(),
    });
    tokio::spawn(async move {
        if let Err(err) = axum::serve(control_listener, router).await {
            tracing::error!(%err, "shell control API stopped");
        }
    });

    let mut shell = Shell {
        file: args.file.clone(),
        env: args.env.clone(),
        run_dir: run_dir.clone(),
        exe,
        log_format: args.log_format,
        plan,
        roles: BTreeMap::new(),
    };
    shell.write_plan_files()?;
    let defs = role_defs(&shell.plan);
    let started = shell.spawn_roles(&defs);
    // A SIGTERM/SIGINT while roles are still coming up stops everything at once.
    let interrupted = tokio::select! {
        _ = shell.wait_ready(&started) => false,
        _ = term.recv() => true,
        _ = int.recv() => true,
    };
    shell.publish_status(&board);
    *targets.lock().unwrap_or_else(|e| e.into_inner()) = shell.metrics_targets();
    write_shell_file(&run_dir, &shell, control_addr)?;
    if interrupted {
        tracing::info!("stopping every role");
        shell.shutdown().await;
        let _ = std::fs::remove_file(run_dir.join(SHELL_FILE));
        return Ok(());
    }
    tracing::info!(digest = %shell.plan.digest(), control = %control_addr, "all roles started");

    let mut status_tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                shell.reload().await;
                write_shell_file(&run_dir, &shell, control_addr)?;
            }
            Some(request) = requests.recv() => match request {
                ShellRequest::Reload(reply) => {
                    let report = shell.reload().await;
                    write_shell_file(&run_dir, &shell, control_addr)?;
                    let _ = reply.send(report);
                }
                ShellRequest::DryRun(reply) => drop(reply.send(shell.dry_run())),
            },
            _ = status_tick.tick() => {
                shell.publish_status(&board);
                *targets.lock().unwrap_or_else(|e| e.into_inner()) = shell.metrics_targets();
            }
        }
    }
    tracing::info!("stopping every role");
    shell.shutdown().await;
    let _ = std::fs::remove_file(run_dir.join(SHELL_FILE));
    tracing::info!("stopped");
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

fn write_shell_file(run_dir: &Path, shell: &Shell, control: SocketAddr) -> anyhow::Result<()> {
    let file = ShellFile {
        pid: std::process::id(),
        control,
        digest: shell.plan.digest(),
        file: shell.file.clone(),
    };
    let path = run_dir.join(SHELL_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn kind_names_match_the_cli() {
        for kind in RoleKind::value_variants() {
            let name = kind.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(kind_name(*kind)));
        }
    }
}
