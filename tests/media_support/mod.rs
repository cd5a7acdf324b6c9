//! Helpers for the worker-level HLS and API tests: a worker process built from a Plan made in the
//! test, an ffmpeg publisher, and a raw HTTP/1.1 client (raw so tests can also send malformed
//! requests). Every process is killed on drop and every wait is bounded.
#![allow(dead_code)]

use oryx::compile::plan::{
    HlsSettings, HookSettings, HttpFlvSettings, Plan, PortRange, StreamSettings, WorkerKind,
    WorkerPlan,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr")
}

/// Polls `probe` every 100 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process killed (and reaped) when dropped.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(Some(_)))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn stream_settings(fragment_ms: u64, window: u32, hls_path: Option<String>) -> StreamSettings {
    StreamSettings {
        gop_cache: true,
        chunk_size: 60000,
        merge_write_ms: 0,
        player_queue_bytes: 8 * 1024 * 1024,
        max_connections: 0,
        http_flv: HttpFlvSettings {
            enabled: true,
            wait_ms: 0,
        },
        hls: HlsSettings {
            enabled: true,
            fragment_ms,
            window,
            path: hls_path,
        },
        hooks: HookSettings::default(),
    }
}

/// A running `oryx role worker` with its plan.
pub struct Worker {
    pub plan: WorkerPlan,
    _dir: tempfile::TempDir,
    process: ChildGuard,
}

impl Worker {
    pub fn start(settings: StreamSettings) -> Worker {
        let dir = tempfile::tempdir().expect("temp dir");
        let worker = WorkerPlan {
            name: "media-test".into(),
            group: "media-test".into(),
            kind: WorkerKind::Embedded,
            binary: None,
            rtmp: free_addr(),
            http: free_addr(),
            control: free_addr(),
            proxy_protocol: false,
            stream: settings,
        };
        let plan = Plan {
            version: 1,
            env: None,
            ports: PortRange {
                from: 20000,
                to: 20100,
            },
            shell_control: free_addr(),
            workers: vec![worker.clone()],
            rtmp_lb: None,
            http_lb: None,
            api_lb: None,
            statics: vec![],
        };
        let plan_path = dir.path().join("plan.json");
        std::fs::write(&plan_path, serde_json::to_string(&plan).unwrap()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_oryx"))
            .args(["role", "worker", "media-test", "--plan"])
            .arg(&plan_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("oryx starts");
        let mut worker = Worker {
            plan: worker,
            _dir: dir,
            process: ChildGuard(child),
        };
        let ready = wait_for(Duration::from_secs(15), || {
            assert!(!worker.process.exited(), "worker exited during start");
            let response = get(worker.plan.control, "/readyz")?;
            (response.status == 200).then_some(())
        });
        assert!(ready.is_some(), "worker not ready within 15 s");
        worker
    }

    pub fn alive(&mut self) -> bool {
        !self.process.exited()
    }
}

/// `ffmpeg -re` publishing test video (H.264, GOP 25 at 25 fps) and AAC for `seconds`.
pub fn publish(rtmp: SocketAddr, app: &str, stream: &str, seconds: u32) -> ChildGuard {
    let url = format!("rtmp://{rtmp}/{app}/{stream}");
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg starts");
    ChildGuard(child)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }
}

/// Sends raw bytes (a whole request) and reads the answer until the server closes. `None` when the
/// connection fails or no status line comes back within 5 s.
pub fn raw_request(addr: SocketAddr, request: &[u8]) -> Option<HttpAnswer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    // The server may answer and close before reading everything (431 on huge headers).
    let _ = stream.write_all(request);
    let mut data = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buffer[..n]),
            Err(_) => break,
        }
        if data.len() > 64 * 1024 * 1024 {
            break;
        }
    }
    parse_answer(&data)
}

fn parse_answer(data: &[u8]) -> Option<HttpAnswer> {
    let head_end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let raw_body = &data[head_end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Some(HttpAnswer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        data = &data[line_end + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    body
}

pub fn request(addr: SocketAddr, method: &str, path: &str) -> Option<HttpAnswer> {
    let text = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw_request(addr, text.as_bytes())
}

pub fn get(addr: SocketAddr, path: &str) -> Option<HttpAnswer> {
    request(addr, "GET", path)
}

/// Runs ffprobe/ffmpeg with a bounded run time; returns (success, stdout, stderr).
pub fn run_tool(program: &str, args: &[&str], timeout: Duration) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{program} starts: {err}"));
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                break;
            }
        }
    }
    let output = child.wait_with_output().expect("tool output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
