//! An embedded worker started from a hand-built plan, and a blocking RTMP client built on oryx's own
//! sans-IO client session.

use super::cluster::plan;
use super::http::http_get;
use super::net::free_addr;
use super::process::ChildGuard;
use super::wait::expect_within;
use oryx::compile::plan::{
    HlsSettings, HookSettings, HttpFlvSettings, StreamSettings, WorkerKind, WorkerPlan,
};
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default stream settings for tests.
pub fn settings() -> StreamSettings {
    StreamSettings {
        gop_cache: true,
        chunk_size: 60000,
        merge_write_ms: 100,
        merge_read_ms: 0,
        play_wait_ms: 30_000,
        player_queue_bytes: 2 * 1024 * 1024,
        max_connections: 0,
        http_flv: HttpFlvSettings {
            enabled: true,
            wait_ms: 3000,
        },
        hls: HlsSettings {
            enabled: false,
            fragment_ms: 2000,
            window: 6,
            path: None,
            segment_format: Default::default(),
            low_latency: false,
            part_ms: None,
        },
        hooks: HookSettings {
            timeout_ms: 2000,
            ..HookSettings::default()
        },
        rules: Vec::new(),
    }
}

/// A running `oryx role worker`.
pub struct Worker {
    pub child: ChildGuard,
    pub rtmp: SocketAddr,
    pub http: SocketAddr,
    pub control: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Worker {
    pub fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://{}/{}", self.rtmp, path)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}/{}", self.http, path)
    }

    /// Resident memory of the worker process in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.pid()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// Start a worker with `settings`; waits until `/readyz` answers 200.
pub fn start_worker(settings: StreamSettings, proxy_protocol: bool) -> Worker {
    start_worker_with(settings, proxy_protocol, |_| {}, &[])
}

/// [`start_worker`], its plan entry changed by `configure` (an SRT listener, say) and `env` added
/// to its environment.
pub fn start_worker_with(
    settings: StreamSettings,
    proxy_protocol: bool,
    configure: impl FnOnce(&mut WorkerPlan),
    env: &[(&str, &str)],
) -> Worker {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rtmp, http, control) = (free_addr(), free_addr(), free_addr());
    let mut entry = WorkerPlan {
        srt: None,
        webrtc: None,
        host: None,
        origin: None,
        edge_share: None,
        name: "w".into(),
        group: "w".into(),
        kind: WorkerKind::Embedded,
        binary: None,
        rtmp,
        http,
        control,
        proxy_protocol,
        stream: settings,
    };
    configure(&mut entry);
    let plan = plan(vec![entry]);
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string(&plan).unwrap()).unwrap();
    let child = super::control::with_secret(&mut Command::new(env!("CARGO_BIN_EXE_oryx")))
        .args(["role", "worker", "w", "--plan"])
        .arg(&plan_path)
        .env(
            "RUST_LOG",
            std::env::var("ORYX_TEST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("oryx starts");
    let worker = Worker {
        child: ChildGuard(child),
        rtmp,
        http,
        control,
        dir,
    };
    expect_within(
        Duration::from_secs(20),
        "the worker to become ready",
        || matches!(http_get(control, "/readyz"), Ok((200, _))).then_some(()),
    );
    worker
}

/// A blocking RTMP client on oryx's sans-IO client session.
pub struct TestClient {
    pub sock: TcpStream,
    pub session: ClientSession,
    pub events: VecDeque<ClientEvent>,
}

impl TestClient {
    pub fn connect(url: &str, mode: ClientMode) -> TestClient {
        let config = ClientConfig::from_url(url, mode).expect("rtmp url");
        let sock = TcpStream::connect(&config.address).expect("connect");
        Self::over(sock, config)
    }

    /// Run the session over an already connected socket (after a PROXY header, say).
    pub fn over(sock: TcpStream, config: ClientConfig) -> TestClient {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut client = TestClient {
            sock,
            session: ClientSession::new(config),
            events: VecDeque::new(),
        };
        client.flush().ok();
        client
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        let out = self.session.take_output();
        if !out.is_empty() {
            self.sock.write_all(&out)?;
        }
        Ok(())
    }

    /// Read once (up to 200 ms); false when the server closed or errored.
    pub fn pump(&mut self) -> bool {
        let mut buf = [0u8; 65536];
        match self.sock.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => match self.session.feed(&buf[..n]) {
                Ok(events) => {
                    self.events.extend(events);
                    self.flush().is_ok()
                }
                Err(_) => false,
            },
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                true
            }
            Err(_) => false,
        }
    }

    /// Pump until an event matches (returned) or `timeout` passes / the connection ends (`None`).
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&ClientEvent) -> bool,
    ) -> Option<ClientEvent> {
        let deadline = Instant::now() + timeout;
        let mut alive = true;
        loop {
            while let Some(event) = self.events.pop_front() {
                if pred(&event) {
                    return Some(event);
                }
            }
            if !alive || Instant::now() > deadline {
                return None;
            }
            alive = self.pump();
        }
    }
}
