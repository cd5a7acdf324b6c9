//! Helpers for the static role's integration tests: plans written as JSON, the role process under a
//! kill-on-drop guard, free loopback ports, a raw HTTP/1.1 client, and curl.
#![allow(dead_code)]

use oryx::compile::plan::{Plan, PortRange, StaticPlan, TlsPlan};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A static site plan with a plain listener, no TLS, no proxies, on free ports.
pub fn site_plan(root: &Path) -> StaticPlan {
    StaticPlan {
        name: "site".into(),
        root: root.display().to_string(),
        listen: Some(loopback(free_port())),
        tls: None,
        redirect_https: false,
        directory_listing: false,
        proxies: Vec::new(),
        control: loopback(free_port()),
    }
}

pub fn tls_on_free_port(certs: oryx::compile::plan::CertSource) -> TlsPlan {
    TlsPlan {
        listen: loopback(free_port()),
        certs,
    }
}

/// Write a whole plan holding just `plan` as JSON into `dir`; returns its path.
pub fn write_plan(dir: &Path, plan: &StaticPlan) -> PathBuf {
    let whole = Plan {
        version: 1,
        env: None,
        ports: PortRange {
            from: 20000,
            to: 20100,
        },
        shell_control: loopback(free_port()),
        workers: Vec::new(),
        rtmp_lb: None,
        http_lb: None,
        api_lb: None,
        statics: vec![plan.clone()],
    };
    let plan_path = dir.join(format!("plan-{}.json", free_port()));
    std::fs::write(&plan_path, serde_json::to_string_pretty(&whole).unwrap()).unwrap();
    plan_path
}

/// The static role process; killed when dropped.
pub struct Role {
    child: Child,
    pub plan: StaticPlan,
    pub log: PathBuf,
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Role {
    /// Write the plan into `dir`, start `oryx role static NAME`, wait for `/readyz`.
    pub fn start(dir: &Path, plan: StaticPlan) -> Role {
        let role = Role::spawn(dir, plan);
        role.wait_ready();
        role
    }

    pub fn spawn(dir: &Path, plan: StaticPlan) -> Role {
        let plan_path = write_plan(dir, &plan);
        let log = dir.join(format!("role-{}.log", free_port()));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_oryx"))
            .args(["role", "static", &plan.name, "--plan"])
            .arg(&plan_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        Role { child, plan, log }
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(resp) = http_get(self.plan.control, "/readyz", &[]) {
                if resp.status == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "static role not ready in time; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn http(&self) -> SocketAddr {
        self.plan.listen.expect("plain listener")
    }

    pub fn tls_port(&self) -> u16 {
        self.plan.tls.as_ref().expect("tls listener").listen.port()
    }

    /// Stop the process and wait for it (the cache must be flushed and ports free before a restart).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET raw_path` sent byte for byte (no client-side normalisation), read until the server closes.
pub fn http_get(
    addr: SocketAddr,
    raw_path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Resp> {
    http_request(addr, "GET", raw_path, headers)
}

pub fn http_request(
    addr: SocketAddr,
    method: &str,
    raw_path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Resp> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{method} {raw_path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head: bool) -> std::io::Result<Resp> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if head {
        Vec::new()
    } else if chunked {
        dechunk(rest).ok_or_else(|| bad("bad chunked body"))?
    } else {
        rest.to_vec()
    };
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Run curl with `args` (plus `-sS` and a time limit); returns its output.
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs")
}
