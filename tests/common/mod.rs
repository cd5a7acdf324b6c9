//! Shared test helpers: free ports, test media made with ffmpeg, child-process guards, a worker started
//! from a hand-built plan, a tiny HTTP GET and a blocking RTMP client built on oryx's own sessions.
#![allow(dead_code)]

use oryx::compile::plan::{
    HlsSettings, HookSettings, HttpFlvSettings, Plan, PortRange, StreamSettings, WorkerKind,
    WorkerPlan,
};
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Kills (and reaps) the child when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Wait for exit up to `timeout`; `None` if still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// An H.264 + AAC FLV of `seconds` seconds at 320x240, GOP 1 s, in `dir`.
pub fn make_media(dir: &Path, seconds: u32) -> PathBuf {
    let out = dir.join(format!("test-{seconds}s.flv"));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make test media");
    out
}

/// `ffmpeg -re -i MEDIA -c copy -f flv URL` (looping when `looped`).
pub fn publish(media: &Path, url: &str, looped: bool) -> ChildGuard {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error"]);
    if looped {
        cmd.args(["-stream_loop", "-1"]);
    }
    cmd.arg("-re")
        .arg("-i")
        .arg(media)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    ChildGuard(cmd.spawn().expect("ffmpeg publisher starts"))
}

/// Default stream settings for tests.
pub fn settings() -> StreamSettings {
    StreamSettings {
        gop_cache: true,
        chunk_size: 60000,
        merge_write_ms: 100,
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
        },
        hooks: HookSettings {
            timeout_ms: 2000,
            ..HookSettings::default()
        },
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
    let dir = tempfile::tempdir().expect("tempdir");
    let (rtmp, http, control) = (free_addr(), free_addr(), free_addr());
    let plan = Plan {
        version: 1,
        env: None,
        ports: PortRange {
            from: 19350,
            to: 19999,
        },
        shell_control: free_addr(),
        workers: vec![WorkerPlan {
            name: "w".into(),
            group: "w".into(),
            kind: WorkerKind::Embedded,
            binary: None,
            rtmp,
            http,
            control,
            proxy_protocol,
            stream: settings,
        }],
        rtmp_lb: None,
        http_lb: None,
        api_lb: None,
        statics: vec![],
    };
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string(&plan).unwrap()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["role", "worker", "w", "--plan"])
        .arg(&plan_path)
        .env(
            "RUST_LOG",
            std::env::var("ORYX_TEST_LOG").unwrap_or_else(|_| "info".into()),
        )
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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((200, _)) = http_get(control, "/readyz") {
            return worker;
        }
        assert!(Instant::now() < deadline, "worker never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.0 GET: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(sock, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = Vec::new();
    sock.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body_start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    Ok((status, response[body_start..].to_vec()))
}

/// Poll `check` every 50 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// `ffprobe` a URL: its stream codec names.
pub fn probe_codecs(url: &str) -> Vec<String> {
    let output = Command::new("timeout")
        .args([
            "20",
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
        ])
        .args(["-of", "csv=p=0", url])
        .output()
        .expect("ffprobe runs");
    let mut codecs: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    codecs.sort();
    codecs
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
