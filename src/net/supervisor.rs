//! Supervision of one child process: start it, wait until it is ready, restart it with exponential
//! backoff when it dies or hangs, report crash loops, and stop it (SIGTERM, then SIGKILL after a bound).
//!
//! A role that stops answering its control API (SIGSTOP, a deadlock) does not exit, so waiting for
//! its exit never ends: once ready, its `/healthz` is probed every second, and after
//! [`LIVENESS_TIMEOUT`] without an answer it is killed and restarted like a crash, with the reason
//! logged. The LBs already route around it within a poll; this brings its capacity back.
//!
//! Children get `PR_SET_PDEATHSIG(SIGKILL)`, so they die with the shell even when the shell is killed
//! with `kill -9`. The signal fires when the *thread* that forked exits, so the shell forks only from
//! its main thread (it runs a current-thread runtime).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::watch;

/// First restart delay; doubles per crash up to [`BACKOFF_CAP`].
pub const BACKOFF_FIRST: Duration = Duration::from_millis(200);
pub const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// A child that stayed up this long is considered healthy again: its next crash restarts quickly.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// This many crashes within [`CRASH_LOOP_WINDOW`] is reported as a crash loop.
const CRASH_LOOP_COUNT: usize = 5;
const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(60);
/// How long a stopping child gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Longest line forwarded from an external program's output; longer lines are cut.
const MAX_LINE: usize = 8192;
/// How long a ready role may leave `/healthz` unanswered before it is killed and restarted.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a ready role's `/healthz` is probed, and how long one probe may take.
const LIVENESS_PROBE: Duration = Duration::from_secs(1);

/// How the supervisor learns that a started child serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// `GET /readyz` on this control address answers 200 (oryx's own roles: they also get the
    /// control secret and the liveness probe).
    Control(SocketAddr),
    /// This address accepts TCP connections (external programs).
    Tcp(SocketAddr),
    /// Ready once it runs: a child with nothing to probe (a worker's exec or transcode ffmpeg, an
    /// ingest's ffmpeg).
    Started,
}

/// What to run for one role.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// The role's label (`worker/live-0`), used in logs.
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Run (to completion) before every start; a failure counts as a crash and is logged.
    pub validate: Option<Vec<String>>,
    pub readiness: Readiness,
    /// Prefix each line the child prints with its label (external programs, which do not know it).
    pub prefix_output: bool,
    /// Write forwarded lines as JSON objects instead of `[label] line`.
    pub json_output: bool,
    /// Forwarded lines this returns true for are left out (SRS's access-log lines for the LBs' polls).
    pub skip_line: Option<fn(&str) -> bool>,
}

/// What the shell can ask about a supervised child.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ChildStatus {
    pub pid: Option<u32>,
    pub ready: bool,
    pub starts: u32,
    pub last_exit: Option<String>,
    pub crash_loop: bool,
}

/// A running supervision task.
pub struct Supervised {
    pub spec: ChildSpec,
    status: Arc<Mutex<ChildStatus>>,
    ready_rx: watch::Receiver<bool>,
    /// `Some(grace)` once stopping: SIGTERM, then SIGKILL after `grace`.
    stop_tx: watch::Sender<Option<Duration>>,
    task: tokio::task::JoinHandle<()>,
}

/// Exponential backoff with a cap, and crash-loop detection.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    crashes: Vec<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: BACKOFF_FIRST,
            crashes: Vec::new(),
        }
    }
}

impl Backoff {
    /// Record a crash of a child that ran for `uptime`; returns the delay before the restart and
    /// whether the child is now in a crash loop.
    pub fn crashed(&mut self, uptime: Duration) -> (Duration, bool) {
        if uptime >= STABLE_AFTER {
            self.next = BACKOFF_FIRST;
        }
        let now = Instant::now();
        self.crashes
            .retain(|at| now.duration_since(*at) < CRASH_LOOP_WINDOW);
        self.crashes.push(now);
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_CAP);
        (delay, self.crashes.len() >= CRASH_LOOP_COUNT)
    }
}

impl Supervised {
    /// Start supervising `spec` at once (the first start happens in the returned task).
    pub fn start(spec: ChildSpec) -> Supervised {
        let status = Arc::new(Mutex::new(ChildStatus::default()));
        let (ready_tx, ready_rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(None);
        let task = tokio::spawn(supervise(spec.clone(), status.clone(), ready_tx, stop_rx));
        Supervised {
            spec,
            status,
            ready_rx,
            stop_tx,
            task,
        }
    }

    pub fn status(&self) -> ChildStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait until the child reports ready, at most `timeout`. Returns whether it did.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ready_rx.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|ready| *ready)).await;
        matches!(waited, Ok(Ok(_)))
    }

    /// Stop the child (SIGTERM, SIGKILL after [`STOP_GRACE`]) and end supervision.
    pub async fn stop(self) {
        self.stop_within(STOP_GRACE).await;
    }

    /// Stop the child (SIGTERM to its process group, SIGKILL after `grace`) and end supervision.
    pub async fn stop_within(self, grace: Duration) {
        let _ = self.stop_tx.send(Some(grace));
        let _ = self.task.await;
    }
}

/// Why a running child's supervision loop ended.
enum Exit {
    Exited(std::io::Result<std::process::ExitStatus>),
    /// Its control API did not answer for this long.
    Hung(Duration),
    /// The shell asked it to stop.
    Stop,
}

async fn supervise(
    spec: ChildSpec,
    status: Arc<Mutex<ChildStatus>>,
    ready_tx: watch::Sender<bool>,
    mut stop_rx: watch::Receiver<Option<Duration>>,
) {
    let set =
        |f: &dyn Fn(&mut ChildStatus)| f(&mut status.lock().unwrap_or_else(|e| e.into_inner()));
    let mut backoff = Backoff::default();
    loop {
        if stop_rx.borrow().is_some() {
            return;
        }
        let started = Instant::now();
        let outcome = match spawn_child(&spec).await {
            Ok(mut child) => {
                let pid = child.id();
                set(&|s| {
                    s.pid = pid;
                    s.starts += 1;
                });
                tracing::info!(role = %spec.label, pid = pid.unwrap_or_default(), "started");
                let ready = wait_until_ready(spec.readiness, &spec.label, &ready_tx);
                tokio::pin!(ready);
                let hung = hung(spec.readiness);
                tokio::pin!(hung);
                let mut ready_done = false;
                let exit = loop {
                    tokio::select! {
                        status = child.wait() => break Exit::Exited(status),
                        _ = &mut ready, if !ready_done => {
                            ready_done = true;
                            set(&|s| s.ready = true);
                        }
                        silent = &mut hung, if ready_done => break Exit::Hung(silent),
                        _ = stop_rx.changed() => break Exit::Stop,
                    }
                };
                set(&|s| s.ready = false);
                let _ = ready_tx.send(false);
                match exit {
                    Exit::Stop => {
                        // Dropped without a stop: the owner is gone, stop as `stop` would.
                        let grace = stop_rx.borrow().unwrap_or(STOP_GRACE);
                        terminate(&mut child, &spec.label, grace).await;
                        set(&|s| s.pid = None);
                        return;
                    }
                    Exit::Exited(Ok(exit)) => format!("exited ({exit})"),
                    Exit::Exited(Err(err)) => format!("could not be waited for: {err}"),
                    Exit::Hung(silent) => {
                        let reason =
                            format!("killed: its control API did not answer for {silent:?}");
                        tracing::error!(role = %spec.label, pid = pid.unwrap_or_default(),
                            "hung: {reason}; restarting it");
                        // SIGKILL works on a stopped process too; a hung one would ignore SIGTERM.
                        let _ = child.kill().await;
                        reason
                    }
                }
            }
            Err(err) => format!("could not start: {err:#}"),
        };
        let (delay, crash_loop) = backoff.crashed(started.elapsed());
        set(&|s| {
            s.pid = None;
            s.last_exit = Some(outcome.clone());
            s.crash_loop = crash_loop;
        });
        if crash_loop {
            tracing::error!(role = %spec.label, %outcome, retry_in = ?delay,
                "crash loop: the role keeps dying; fix the cause (see its log lines above)");
        } else {
            tracing::warn!(role = %spec.label, %outcome, retry_in = ?delay, "role died, restarting");
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop_rx.changed() => return,
        }
    }
}

/// Run the optional validation, then spawn the child with the parent-death signal set.
///
/// A little over the usual length: validation, the command line, the environment, the parent-death
/// signal and the output pipes are one sequence on one `Command`.
async fn spawn_child(spec: &ChildSpec) -> anyhow::Result<tokio::process::Child> {
    if let Some(validate) = &spec.validate {
        let output = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::process::Command::new(&spec.program)
                .args(validate)
                .env_remove(crate::net::control_secret::ENV)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| anyhow::anyhow!("config validation took longer than 10 s"))?
        .map_err(|err| anyhow::anyhow!("cannot run {}: {err}", spec.program.display()))?;
        if !output.status.success() {
            let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stdout));
            text.truncate(4096);
            anyhow::bail!(
                "config rejected by `{} {}` ({}): {}",
                spec.program.display(),
                validate.join(" "),
                output.status,
                text.trim()
            );
        }
    }
    let mut command = tokio::process::Command::new(&spec.program);
    command.args(&spec.args).stdin(Stdio::null());
    // Our roles get the control secret in their environment (never on the command line, where `ps`
    // shows it); external programs have no use for it and must not see it.
    command.env_remove(crate::net::control_secret::ENV);
    if matches!(spec.readiness, Readiness::Control(_)) {
        command.env(
            crate::net::control_secret::ENV,
            crate::net::control_secret::process().as_str(),
        );
    }
    if spec.prefix_output {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    }
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe calls.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The shell may have died between fork and prctl; then nobody would ever signal us.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("parent exited during spawn"));
            }
            // Our own process group: a Ctrl-C in the terminal reaches only the shell, which then
            // stops the roles in order (front first) instead of every role dying at once.
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|err| anyhow::anyhow!("cannot run {}: {err}", spec.program.display()))?;
    if spec.prefix_output {
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_lines(
                out,
                spec.label.clone(),
                spec.json_output,
                spec.skip_line,
            ));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward_lines(
                err,
                spec.label.clone(),
                spec.json_output,
                spec.skip_line,
            ));
        }
    }
    Ok(child)
}

/// Copy an external program's output to our stderr, one prefixed line at a time.
async fn forward_lines(
    stream: impl AsyncRead + Unpin,
    label: String,
    json: bool,
    skip_line: Option<fn(&str) -> bool>,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Read at most MAX_LINE bytes of a line; the rest of an overlong line becomes further lines.
        let read = {
            let mut limited = (&mut reader).take(MAX_LINE as u64);
            limited.read_until(b'\n', &mut line).await
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = super::log_text::strip_ansi(&text);
                // An external program may print what a client sent (a stream name): its control
                // characters must not start forged lines or move the terminal's cursor.
                let text = super::log_text::mask_secrets(text.trim_end());
                let text = super::log_text::escape_controls(&text);
                if text.is_empty() || skip_line.is_some_and(|skip| skip(&text)) {
                    continue;
                }
                if json {
                    let record = serde_json::json!({
                        "timestamp": super::log_text::timestamp_now(),
                        "level": "INFO",
                        "role": label,
                        "fields": { "message": text },
                    });
                    eprintln!("{record}");
                } else {
                    eprintln!("[{label}] {text}");
                }
            }
        }
    }
}

/// Poll readiness every 100 ms until the child answers, then report it once.
async fn wait_until_ready(readiness: Readiness, label: &str, ready_tx: &watch::Sender<bool>) {
    loop {
        let ready = match readiness {
            Readiness::Control(addr) => matches!(
                crate::net::control_client::http_probe(addr, "/readyz", Duration::from_secs(1))
                    .await,
                Ok((200, _))
            ),
            Readiness::Tcp(addr) => {
                crate::net::control_client::tcp_accepts(addr, Duration::from_secs(1)).await
            }
            Readiness::Started => true,
        };
        if ready {
            tracing::info!(role = %label, "ready");
            let _ = ready_tx.send(true);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Resolves once an oryx role that answered `/healthz` has left it unanswered for
/// [`LIVENESS_TIMEOUT`], with how long that was. External programs have no control API (a stopped
/// process's kernel still accepts TCP connections), so for them it never resolves.
async fn hung(readiness: Readiness) -> Duration {
    let Readiness::Control(addr) = readiness else {
        return std::future::pending().await;
    };
    let mut last_answer: Option<Instant> = None;
    loop {
        let probe = crate::net::control_client::http_probe(addr, "/healthz", LIVENESS_PROBE).await;
        let now = Instant::now();
        match probe {
            Ok((200, _)) => last_answer = Some(now),
            _ => {
                if let Some(since) = last_answer.map(|at| now.duration_since(at)) {
                    if since >= LIVENESS_TIMEOUT {
                        return since;
                    }
                }
            }
        }
        tokio::time::sleep(LIVENESS_PROBE).await;
    }
}

/// SIGTERM, then SIGKILL if the child has not exited within `grace`. Both go to the child's process
/// group (it leads its own, see `spawn_child`), so what a child started itself (`sh -c 'a; b'` runs
/// `a` as a grandchild, nginx its workers) stops with it instead of being orphaned.
async fn terminate(child: &mut tokio::process::Child, label: &str, grace: Duration) {
    let group = child.id().map(|pid| -(pid as libc::pid_t));
    if let Some(group) = group {
        // SAFETY: plain kill(2) on the group our own unreaped child leads.
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(_) => tracing::info!(role = %label, "stopped"),
        Err(_) => {
            tracing::warn!(role = %label, "did not stop within {grace:?}, killing");
            if let Some(group) = group {
                // SAFETY: as above; the leader is not reaped yet, so the group id is still ours.
                unsafe {
                    libc::kill(group, libc::SIGKILL);
                }
            }
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets_after_a_stable_run() {
        let mut backoff = Backoff::default();
        let quick = Duration::from_millis(10);
        let delays: Vec<Duration> = (0..8).map(|_| backoff.crashed(quick).0).collect();
        assert_eq!(delays[0], BACKOFF_FIRST);
        assert!(delays[0] <= Duration::from_secs(1));
        assert_eq!(delays[1], BACKOFF_FIRST * 2);
        assert_eq!(*delays.last().unwrap(), BACKOFF_CAP);
        assert_eq!(backoff.crashed(STABLE_AFTER).0, BACKOFF_FIRST);
    }

    #[test]
    fn repeated_crashes_are_a_crash_loop() {
        let mut backoff = Backoff::default();
        let loops: Vec<bool> = (0..CRASH_LOOP_COUNT)
            .map(|_| backoff.crashed(Duration::ZERO).1)
            .collect();
        assert!(!loops[0]);
        assert!(loops[CRASH_LOOP_COUNT - 1]);
    }
}
