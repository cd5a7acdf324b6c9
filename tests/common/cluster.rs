//! The shell, LB and external-worker tests' vocabulary: plans with free ports, `oryx up` and single
//! roles as guarded process groups, stand-in worker binaries and a fake embedded worker, plus the
//! shared helpers those tests use under the names they use.

pub use super::control::{control, with_secret};
pub use super::http::{http, http_with};
pub use super::media::{file_len, play_to_file, probe, publish_logged as publish};
pub use super::net::{free_addr, free_port_run};
pub use super::process::{alive, Proc};
pub use super::wait::expect_within as wait_for;
use oryx::compile::plan::*;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A 6 s H.264 + AAC FLV made with ffmpeg.
pub fn make_media(dir: &Path) -> PathBuf {
    super::media::make_media(dir, 6)
}

pub fn oryx_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oryx"))
}

pub fn stream_settings() -> StreamSettings {
    StreamSettings {
        gop_cache: true,
        chunk_size: 4096,
        merge_write_ms: 0,
        merge_read_ms: 0,
        play_wait_ms: 30_000,
        player_queue_bytes: 8 << 20,
        max_connections: 0,
        http_flv: HttpFlvSettings {
            enabled: true,
            wait_ms: 0,
        },
        hls: HlsSettings {
            enabled: true,
            fragment_ms: 1000,
            window: 6,
            path: None,
            segment_format: Default::default(),
            low_latency: false,
            part_ms: None,
        },
        hooks: HookSettings::default(),
        rules: Vec::new(),
    }
}

pub fn worker(name: &str, kind: WorkerKind, binary: Option<&str>) -> WorkerPlan {
    WorkerPlan {
        srt: None,
        webrtc: None,
        host: None,
        origin: None,
        edge_share: None,
        name: name.into(),
        group: name.split('-').next().unwrap_or(name).into(),
        kind,
        binary: binary.map(str::to_string),
        rtmp: free_addr(),
        http: free_addr(),
        control: free_addr(),
        proxy_protocol: false,
        stream: stream_settings(),
    }
}

pub fn lb(workers: &[WorkerPlan]) -> LbPlan {
    LbPlan {
        tls: None,
        host: None,
        listen: free_addr(),
        workers: workers.iter().map(|w| w.name.clone()).collect(),
        control: free_addr(),
        auth: None,
        cors_origins: None,
    }
}

pub fn plan(workers: Vec<WorkerPlan>) -> Plan {
    Plan {
        srt_lb: None,
        hosts: Vec::new(),
        secret: None,
        version: 1,
        env: None,
        ports: PortRange {
            from: 19350,
            to: 19999,
        },
        shell_control: free_addr(),
        workers,
        rtmp_lb: None,
        http_lb: None,
        api_lb: None,
        statics: Vec::new(),
        ingests: Vec::new(),
    }
}

pub fn write_plan(path: &Path, plan: &Plan) {
    std::fs::write(path, serde_json::to_string_pretty(plan).unwrap()).unwrap();
}

/// `oryx up PLAN --run-dir DIR`.
pub fn up(plan_file: &Path, run_dir: &Path) -> Proc {
    up_with(plan_file, run_dir, &[])
}

/// `oryx up PLAN --run-dir DIR EXTRA…`.
pub fn up_with(plan_file: &Path, run_dir: &Path, extra: &[&str]) -> Proc {
    up_command(plan_file, run_dir, extra, &[])
}

/// `oryx up PLAN --run-dir DIR EXTRA…` with `env` on top of the tests' secrets.
pub fn up_command(plan_file: &Path, run_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut command = Command::new(oryx_bin());
    command
        .arg("up")
        .arg(plan_file)
        .arg("--run-dir")
        .arg(run_dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied());
    with_secret(&mut command);
    Proc::spawn(command, run_dir.with_extension("log"))
}

/// `plan` written to `DIR/plan.json` and `oryx up` of it (run directory `DIR/run`), once its
/// `roles` roles report ready (30 s at most).
pub fn up_plan(plan: &Plan, dir: &Path, roles: usize) -> Proc {
    let plan_file = dir.join("plan.json");
    write_plan(&plan_file, plan);
    let shell = up(&plan_file, &dir.join("run"));
    wait_all_ready(plan, roles, Duration::from_secs(30));
    shell
}

/// The topology file `kdl` compiled, and `oryx up` of it with `env` (see [`up_command`]), once its
/// `roles` roles report ready (30 s at most).
pub fn up_ready(kdl: &Path, run_dir: &Path, env: &[(&str, &str)], roles: usize) -> (Plan, Proc) {
    let plan = oryx::compile::compile_path(kdl, None).unwrap_or_else(|f| panic!("{f}"));
    let shell = up_command(kdl, run_dir, &[], env);
    wait_all_ready(&plan, roles, Duration::from_secs(30));
    (plan, shell)
}

/// A static site's root, `DIR/html`, with `index.html` holding `index` when given.
pub fn site_root(dir: &Path, index: Option<&str>) -> PathBuf {
    let root = dir.join("html");
    std::fs::create_dir_all(&root).unwrap();
    if let Some(text) = index {
        std::fs::write(root.join("index.html"), text).unwrap();
    }
    root
}

/// `ports from=A to=B`: a pool of `count` consecutive free loopback ports for a topology's workers.
pub fn port_pool(count: u16) -> String {
    let base = free_port_run(count);
    format!("ports from={base} to={}", base + count - 1)
}

/// `oryx up PLAN --run-dir DIR` under an open-files limit of `soft` (and `hard`, `None` = keep the
/// current hard limit), as `ulimit -n` would set it.
pub fn up_with_open_files(plan_file: &Path, run_dir: &Path, soft: u64, hard: Option<u64>) -> Proc {
    let mut command = Command::new(oryx_bin());
    command
        .arg("up")
        .arg(plan_file)
        .arg("--run-dir")
        .arg(run_dir)
        .env("RUST_LOG", "info");
    super::process::with_open_files(&mut command, soft, hard);
    Proc::spawn(command, run_dir.with_extension("log"))
}

/// The shell's `/status` answer, once every role in it is ready.
pub fn wait_all_ready(plan: &Plan, roles: usize, timeout: Duration) -> serde_json::Value {
    wait_for(timeout, "every role ready", || {
        let (status, body) = http(plan.shell_control, "GET", "/status").ok()?;
        let value: serde_json::Value = serde_json::from_str(&body).ok()?;
        let list = value["roles"].as_array()?;
        (status == 200 && list.len() == roles && list.iter().all(|r| r["ready"] == true))
            .then_some(value)
    })
}

/// The pid the shell reports for `role`.
pub fn role_pid(plan: &Plan, role: &str) -> Option<i32> {
    let (_, body) = http(plan.shell_control, "GET", "/status").ok()?;
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    value["roles"]
        .as_array()?
        .iter()
        .find(|r| r["role"] == role && r["ready"] == true)?["pid"]
        .as_i64()
        .map(|p| p as i32)
}

/// A stand-in for the `srs` binary (CI has no SRS; `tests/srs_real.rs` runs the real one), doing what
/// SRS does with the parts of its config oryx relies on: `-t -c FILE` and `-c FILE` refuse to start
/// when `max_connections` (SRS's default 1000) plus 128 is not below the open-files limit; `-c FILE`
/// prints a warning in colour, accepts TCP connections on the RTMP `listen` address until killed,
/// and answers its `http_api`
/// port like SRS: `GET /api/v1/streams/…` lists no streams, every answer says `Connection: Close`
/// yet the connection serves the next request.
pub fn srs_standin(dir: &Path) -> PathBuf {
    let path = dir.join("srs-standin");
    let script = r#"#!/usr/bin/env bash
conf="${@: -1}"
max=$(sed -n 's/^max_connections \([0-9]*\);$/\1/p' "$conf")
max=${max:-1000}
limit=$(ulimit -n)
if [ "$((max + 128))" -ge "$limit" ]; then
  echo "$((max + 128)) exceed max open files=$limit" >&2; exit 1
fi
if [ "$1" = "-t" ]; then
  grep -q '^listen ' "$conf" && exit 0
  echo "stand-in: no listen directive" >&2; exit 1
fi
port=$(sed -n 's/^listen .*:\([0-9]*\);$/\1/p' "$conf")
api=$(sed -n '/^http_api {/,/^}/s/^    listen .*:\([0-9]*\);$/\1/p' "$conf")
echo "stand-in srs listening on $port"
# SRS colours its warnings on a console.
printf '\033[33m[WARN] stand-in srs is not stable\033[0m\n'
exec python3 -c '
import socket, threading
def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s
def api_client(c):
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            more = c.recv(4096)
            if not more:
                c.close()
                return
            data += more
        head, data = data.split(b"\r\n\r\n", 1)
        found = head.startswith(b"GET /api/v1/streams/")
        body = b"{\"code\":0,\"server\":\"vid-standin\",\"streams\":[]}" if found else b"{\"code\":1000}"
        status = b"200 OK" if found else b"404 Not Found"
        c.sendall(b"HTTP/1.1 " + status + b"\r\nConnection: Close\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
def api(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=api_client, args=(c,), daemon=True).start()
threading.Thread(target=api, args=(listener('"$api"'),), daemon=True).start()
rtmp = listener('"$port"')
while True:
    c, _ = rtmp.accept()
    c.close()
'
"#;
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A program that fails at once, with a message.
pub fn crasher(dir: &Path) -> PathBuf {
    let path = dir.join("crasher");
    std::fs::write(
        &path,
        "#!/bin/sh\n[ \"$1\" = -t ] && exit 0\necho boom >&2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A fake embedded worker for LB tests: one HTTP/1.1 server (`Connection: close`) playing both its
/// control API and its HTTP port. It records each request line and answers:
/// `/healthz` → 200; `/api/v1/published` → the streams it was told it publishes (none by default);
/// `/live/slow.flv` → the first bytes, then the rest 3 s later; other `.flv`, `.m3u8`, `.ts` →
/// `worker=NAME xff=… real=…`; `/api/v1/streams/`, `/api/v1/clients/` → one item each, in SRS 6's
/// shape (a client's `stream` and both `vhost`s are ids of other items);
/// `/api/v1/clients/c1` (GET or DELETE) → ok; `/api/v1/summaries` and `/api/v1/versions`.
pub struct FakeWorker {
    pub addr: SocketAddr,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub fn fake_worker(name: &str) -> FakeWorker {
    fake_worker_publishing(name, &[])
}

/// A fake worker whose `/api/v1/published` lists `streams` (vhost, app, stream).
pub fn fake_worker_publishing(name: &str, streams: &[(&str, &str, &str)]) -> FakeWorker {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = requests.clone();
    let name = name.to_string();
    let published = serde_json::json!({
        "streams": streams
            .iter()
            .map(|(vhost, app, stream)| serde_json::json!({"vhost": vhost, "app": app, "stream": stream}))
            .collect::<Vec<_>>()
    })
    .to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (name, published, log) = (name.clone(), published.clone(), log.clone());
            std::thread::spawn(move || fake_answer(stream, &name, &published, &log));
        }
    });
    FakeWorker { addr, requests }
}

fn fake_answer(
    mut stream: TcpStream,
    name: &str,
    published: &str,
    log: &std::sync::Mutex<Vec<String>>,
) {
    use std::io::BufRead;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        headers.push(line.trim().to_string());
    }
    let header = |key: &str| {
        headers
            .iter()
            .find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.eq_ignore_ascii_case(key).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let path = target.split('?').next().unwrap_or("").to_string();
    log.lock().unwrap().push(format!("{method} {target}"));
    let reply = |stream: &mut TcpStream, status: &str, body: &str| {
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    match path.as_str() {
        "/healthz" | "/readyz" => reply(&mut stream, "200 OK", "{\"ready\":true}"),
        "/api/v1/published" => reply(&mut stream, "200 OK", published),
        "/live/slow.flv" => {
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nConnection: close\r\n\r\nFLV-first");
            let _ = stream.flush();
            std::thread::sleep(Duration::from_secs(3));
            let _ = write!(stream, "-rest");
        }
        p if p.ends_with(".flv") || p.ends_with(".m3u8") || p.ends_with(".ts") => {
            let body = format!(
                "worker={name} xff={} real={}",
                header("x-forwarded-for"),
                header("x-real-ip")
            );
            reply(&mut stream, "200 OK", &body);
        }
        "/api/v1/streams/" => reply(
            &mut stream,
            "200 OK",
            &format!("{{\"code\":0,\"server\":\"x\",\"streams\":[{{\"id\":\"s1\",\"name\":\"{name}-cam\",\"vhost\":\"vid-v\",\"publish\":{{\"active\":true,\"cid\":\"c1\"}}}}]}}"),
        ),
        "/api/v1/clients/" => reply(
            &mut stream,
            "200 OK",
            &format!("{{\"code\":0,\"clients\":[{{\"id\":\"c1\",\"vhost\":\"vid-v\",\"stream\":\"s1\",\"name\":\"{name}-cam\",\"type\":\"fmle-publish\"}}]}}"),
        ),
        "/api/v1/clients/c1" => reply(
            &mut stream,
            "200 OK",
            &format!("{{\"code\":0,\"client\":{{\"id\":\"c1\",\"on\":\"{name}\"}}}}"),
        ),
        "/api/v1/summaries" => reply(
            &mut stream,
            "200 OK",
            &format!("{{\"code\":0,\"data\":{{\"ok\":true,\"self\":{{\"name\":\"{name}\"}}}}}}"),
        ),
        "/api/v1/versions" => reply(
            &mut stream,
            "200 OK",
            &format!("{{\"code\":0,\"data\":{{\"major\":6,\"answered_by\":\"{name}\"}}}}"),
        ),
        _ => reply(&mut stream, "404 Not Found", "{\"code\":2048}"),
    }
}

/// A worker plan whose control and HTTP ports are `fake`'s address.
pub fn fake_worker_plan(name: &str, fake: &FakeWorker) -> WorkerPlan {
    let mut w = worker(name, WorkerKind::Embedded, None);
    w.http = fake.addr;
    w.control = fake.addr;
    w
}

/// `oryx role KIND NAME --plan FILE`, logging to `log`, waited for until its control API at
/// `control` says ready.
fn spawn_ready(
    kind: &str,
    name: &str,
    plan_file: &Path,
    control: SocketAddr,
    log: PathBuf,
) -> Proc {
    spawn_ready_with_env(kind, name, plan_file, control, log, &[])
}

fn spawn_ready_with_env(
    kind: &str,
    name: &str,
    plan_file: &Path,
    control: SocketAddr,
    log: PathBuf,
    env: &[(&str, &str)],
) -> Proc {
    let mut command = Command::new(oryx_bin());
    command.args(["role", kind, name, "--plan"]).arg(plan_file);
    command.envs(env.iter().copied());
    with_secret(&mut command);
    let proc = Proc::spawn(command, log);
    wait_for(Duration::from_secs(10), "the role to be ready", || {
        matches!(http(control, "GET", "/readyz"), Ok((200, _))).then_some(())
    });
    proc
}

/// The role `kind` (an LB: its name is its kind) from `plan`, written to `dir/KIND.json`; ready.
pub fn role(kind: &str, plan: &Plan, control: SocketAddr, dir: &Path) -> Proc {
    let file = dir.join(format!("{kind}.json"));
    write_plan(&file, plan);
    spawn_ready(kind, kind, &file, control, dir.join(format!("{kind}.log")))
}

/// Like [`role`], with extra environment variables (secrets a topology names by variable).
#[allow(dead_code)]
pub fn role_with_env(
    kind: &str,
    plan: &Plan,
    control: SocketAddr,
    dir: &Path,
    env: &[(&str, &str)],
) -> Proc {
    let file = dir.join(format!("{kind}.json"));
    write_plan(&file, plan);
    let log = dir.join(format!("{kind}.log"));
    spawn_ready_with_env(kind, kind, &file, control, log, env)
}

/// The embedded `worker` from the plan in `plan_file`, logging to `dir/NAME.log`; ready.
pub fn worker_role(plan_file: &Path, worker: &WorkerPlan, dir: &Path) -> Proc {
    let log = dir.join(format!("{}.log", worker.name));
    spawn_ready("worker", &worker.name, plan_file, worker.control, log)
}
