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
//!
//! The parts, split the way Vector splits its reload: [`load`] (the plan, at start and reload),
//! [`roles`] (the role catalogue), [`run_dir`] (`shell.json`, plan files), [`banner`],
//! [`control_api`], [`apply`] (a reload applied to the running roles); this file is the supervisor
//! loop. The `oryx reload` client is `cli/reload.rs`.

mod apply;
pub mod banner;
pub mod control_api;
pub mod load;
pub mod preflight;
pub mod reload;
pub mod roles;
pub mod run_dir;

// What other modules name through the shell.
pub use roles::{kind_name, role_defs, RoleDef};
pub use run_dir::{ShellFile, SHELL_FILE};

use banner::banner;
use load::load_plan;

use super::logging::LogFormat;
use super::role::RoleKind;
use crate::compile::plan::Plan;
use crate::net::control_client::http_call;
use crate::net::supervisor::Supervised;
use anyhow::Context;
use control_api::{Board, RoleStatus, ShellRequest};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

/// How long `up` and reload wait for a started role to report ready before moving on.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// What `oryx up` runs.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The topology file; without it, the built-in default topology.
    pub file: Option<PathBuf>,
    /// The `env "NAME"` overlay to apply.
    pub env: Option<String>,
    /// Log format of the shell and its children.
    pub log_format: LogFormat,
    /// Directory for run state: plan files, compiled external configs, the shell's address.
    pub run_dir: PathBuf,
    /// `--host NAME`: run only the roles placed on that host of the topology.
    pub host: Option<String>,
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
    /// `--host`: the roles this shell runs are those placed on it.
    host: Option<String>,
}

impl Shell {
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
            match roles::child_spec(&self.plan, def, &self.run_dir, &self.exe, self.log_format) {
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
            (RoleKind::SrtLb, &self.plan.srt_lb),
        ] {
            let Some(lb) = lb else { continue };
            let workers: Vec<_> = lb
                .workers
                .iter()
                .filter_map(|name| self.plan.worker(name).cloned())
                .collect();
            let body = serde_json::to_string(&workers).unwrap_or_default();
            // With the digest of the plan now in force: the LB compares its workers' against it.
            let path = format!("/api/v1/backends?digest={}", self.plan.digest());
            let answer =
                http_call(lb.control, "PUT", &path, Some(body), Duration::from_secs(3)).await;
            match answer {
                Ok((200, _)) => tracing::info!(role = kind_name(kind), "backends pushed"),
                Ok((status, text)) => {
                    tracing::warn!(role = kind_name(kind), status, %text, "backend push refused")
                }
                Err(err) => tracing::warn!(role = kind_name(kind), "backend push failed: {err:#}"),
            }
        }
    }

    /// Show the control API the roles as they are now.
    fn publish_status(&self, board: &Board) {
        let statuses = self
            .roles
            .values()
            .map(|(def, sup)| RoleStatus {
                role: def.label.clone(),
                status: sup.status(),
            })
            .collect();
        let targets = roles::metrics_targets(&self.plan)
            .into_iter()
            .filter(|(label, _)| self.plan.runs_on(label, self.host.as_deref()))
            .collect();
        board.publish(self.plan.digest(), statuses, targets);
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

/// `oryx up`.
pub fn run(options: &UpOptions) -> anyhow::Result<()> {
    super::logging::init("shell", options.log_format);
    // One thread: every fork happens on the main thread, which lives as long as the shell, so the
    // children's parent-death signal fires exactly when the shell dies.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(up(options))
}

/// The signals the shell answers: HUP reloads, TERM and INT stop.
struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The next SIGTERM or SIGINT.
    async fn stop(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// `--host NAME` must name a host of the plan: a typo would otherwise start nothing.
fn check_host(plan: &Plan, host: Option<&str>) -> anyhow::Result<()> {
    let Some(host) = host else { return Ok(()) };
    if plan.host(host).is_some() {
        return Ok(());
    }
    // A Kubernetes pod (`worker-edge-3`, `rtmp-lb`…) runs the one role its name says.
    if let Some(role) = plan.pod_role(host) {
        tracing::info!(pod = %host, %role, "--host names a pod: running its role");
        // The shell probes its role through the book; the role learns it is in a pod from
        // ORYX_POD, set before any role is spawned (the runtime has one thread).
        crate::net::pod::init(plan, host, None);
        std::env::set_var(crate::net::pod::ENV, host);
        return Ok(());
    }
    let known: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
    if known.is_empty() {
        anyhow::bail!(
            "--host {host}: the topology declares no `host`, and no pod of `--emit kubernetes` has that name"
        );
    }
    anyhow::bail!(
        "--host {host}: no such host; hosts are {}",
        known.join(", ")
    )
}

async fn up(options: &UpOptions) -> anyhow::Result<()> {
    let plan = load_plan(options.file.as_deref(), options.env.as_deref())
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    check_host(&plan, options.host.as_deref())?;
    if !crate::net::pod::active() {
        // Only a shell of a pod tells its roles they run in one.
        std::env::remove_var(crate::net::pod::ENV);
    }
    crate::net::control_secret::prepare_run_dir(&options.run_dir)?;
    let run_dir = std::fs::canonicalize(&options.run_dir)?;
    // Held until `up` returns; the kernel drops it if the shell dies.
    let _lock = preflight::lock_run_dir(&run_dir)?;
    preflight::check_public_listeners(&plan, options.host.as_deref())?;
    // Across hosts (and pods) every shell derives the same control secret from the cluster secret.
    let source = crate::net::pod::secret_source(&plan, crate::net::pod::active());
    let secret = crate::net::control_secret::init_for_plan(source.as_ref())?;
    crate::net::control_secret::write_file(&run_dir, secret).with_context(|| {
        format!(
            "cannot write {}",
            run_dir.join(crate::net::control_secret::FILE).display()
        )
    })?;
    let exe = std::env::current_exe().context("cannot find the oryx binary")?;
    // The roles inherit the raised limit (and raise it again themselves when run standalone).
    let (_, hard) = crate::net::limits::raise_nofile();
    if let Some(warning) = crate::net::limits::nofile_warning(&plan, hard) {
        tracing::warn!("{warning}");
    }
    println!("{}", banner(&plan));
    println!("{}", banner::operator_lines(&plan, &options.run_dir));

    let mut signals = Signals::install()?;
    let control_listener = crate::net::limits::bind(plan.shell_control)
        .with_context(|| format!("shell control API cannot listen on {}", plan.shell_control))?;
    let control_addr = control_listener.local_addr()?;
    let (requests_tx, requests) = mpsc::channel(4);
    let board = Board::default();
    control_api::spawn(control_listener, requests_tx, board.clone());

    let mut shell = Shell {
        file: options.file.clone(),
        env: options.env.clone(),
        run_dir,
        exe,
        log_format: options.log_format,
        plan,
        roles: BTreeMap::new(),
        host: options.host.clone(),
    };
    run_dir::write_plan_files(&shell.run_dir, &shell.plan)?;
    // Ingests publish through the workers and LBs: they start once those are ready (or their wait
    // timed out), so their first publish finds someone to take it.
    let (ingests, first): (Vec<RoleDef>, Vec<RoleDef>) = role_defs(&shell.plan)
        .into_iter()
        .filter(|def| shell.plan.runs_on(&def.label, shell.host.as_deref()))
        .partition(|def| def.kind == RoleKind::Ingest);
    // A SIGTERM/SIGINT while roles are still coming up stops everything at once.
    let interrupted = tokio::select! {
        _ = async {
            let started = shell.spawn_roles(&first);
            shell.wait_ready(&started).await;
            let started = shell.spawn_roles(&ingests);
            shell.wait_ready(&started).await;
        } => false,
        _ = signals.stop() => true,
    };
    shell.publish_status(&board);
    shell.write_shell_file(control_addr)?;
    if !interrupted {
        tracing::info!(digest = %shell.plan.digest(), control = %control_addr, "all roles started");
        shell
            .serve(&mut signals, requests, &board, control_addr)
            .await?;
    }
    tracing::info!("stopping every role");
    shell.shutdown().await;
    run_dir::remove_shell_file(&shell.run_dir);
    if !interrupted {
        tracing::info!("stopped");
    }
    Ok(())
}

impl Shell {
    /// The supervisor loop once every role started: reload on SIGHUP or a control API request,
    /// refresh the control API's view, return on SIGTERM/SIGINT.
    async fn serve(
        &mut self,
        signals: &mut Signals,
        mut requests: mpsc::Receiver<ShellRequest>,
        board: &Board,
        control_addr: SocketAddr,
    ) -> anyhow::Result<()> {
        let mut status_tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = signals.term.recv() => return Ok(()),
                _ = signals.int.recv() => return Ok(()),
                _ = signals.hup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    self.reload().await;
                    self.write_shell_file(control_addr)?;
                }
                Some(request) = requests.recv() => match request {
                    ShellRequest::Reload(reply) => {
                        let report = self.reload().await;
                        self.write_shell_file(control_addr)?;
                        let _ = reply.send(report);
                    }
                    ShellRequest::DryRun(reply) => drop(reply.send(self.dry_run())),
                },
                _ = status_tick.tick() => self.publish_status(board),
            }
        }
    }

    fn write_shell_file(&self, control: SocketAddr) -> anyhow::Result<()> {
        run_dir::write_shell_file(&self.run_dir, &self.plan, self.file.as_deref(), control)
    }
}
