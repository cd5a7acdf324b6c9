//! Players through the http-lb, with raw clients against a real worker and ffmpeg publishing: a
//! stalled HTTP-FLV player is dropped, a spoofed `X-Forwarded-For` never reaches hooks or the API,
//! CORS preflight and CORS on error answers, and the LB's memory per FLV player.

mod common;

use common::cluster::*;
use common::http::request_with_headers;
use common::process::raise_own_nofile;
use oryx::compile::plan::{Plan, WorkerKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The state of the TCP connection `local` → `remote` as /proc/net/tcp shows it (`01` established).
fn tcp_state(local: SocketAddr, remote: SocketAddr) -> Option<String> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => String::new(),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()))
            .then(|| fields[3].to_string())
    })
}

/// A cluster of one embedded worker (with `hooks` on play) and an http-lb, ffmpeg publishing
/// `live/cam` (or another `APP/STREAM`) to the worker.
struct Cluster {
    _worker: Proc,
    lb: Proc,
    _publisher: Proc,
    plan: Plan,
    _dir: tempfile::TempDir,
}

fn cluster(on_play: Option<String>) -> Cluster {
    cluster_of(on_play, "live/cam")
}

fn cluster_of(on_play: Option<String>, app_stream: &str) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let mut w = worker("w-0", WorkerKind::Embedded, None);
    if let Some(hook) = on_play {
        w.stream.hooks.on_play = vec![hook];
        w.stream.hooks.timeout_ms = 2000;
    }
    let mut plan = plan(vec![w]);
    plan.http_lb = Some(lb(&plan.workers));
    let file = dir.path().join("plan.json");
    write_plan(&file, &plan);
    let worker = worker_role(&file, &plan.workers[0], dir.path());
    let lb_plan = plan.http_lb.clone().unwrap();
    let lb = role("http-lb", &plan, lb_plan.control, dir.path());
    let url = format!("rtmp://{}/{app_stream}", plan.workers[0].rtmp);
    let publisher = publish(&media, &url, dir.path().join("ffmpeg.log"));
    let flv = format!("http://{}/{app_stream}.flv", lb_plan.listen);
    wait_for(
        Duration::from_secs(20),
        "the stream through the http-lb",
        || probe(&flv).then_some(()),
    );
    Cluster {
        _worker: worker,
        lb,
        _publisher: publisher,
        plan,
        _dir: dir,
    }
}

impl Cluster {
    /// Every log of the cluster, for failure messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["w-0.log", "http-lb.log", "ffmpeg.log"] {
            let log = std::fs::read_to_string(self._dir.path().join(name)).unwrap_or_default();
            text.push_str(&format!("--- {name}\n{log}\n"));
        }
        text
    }

    fn lb_listen(&self) -> SocketAddr {
        self.plan.http_lb.as_ref().unwrap().listen
    }

    /// The worker's `/api/v1/clients` list.
    fn clients(&self) -> Vec<serde_json::Value> {
        let (_, body) =
            common::control::control(self.plan.workers[0].control, "GET", "/api/v1/clients/")
                .unwrap();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        value["clients"].as_array().cloned().unwrap_or_default()
    }
}

#[test]
fn a_stalled_flv_player_through_the_http_lb_is_dropped() {
    let cluster = cluster(None);
    let listen = cluster.lb_listen();
    // A player that asks and never reads, with a small receive buffer so it stalls soon.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect_timeout(&listen.into(), Duration::from_secs(2))
        .unwrap();
    let mut stalled: TcpStream = socket.into();
    let local = stalled.local_addr().unwrap();
    stalled
        .write_all(b"GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    wait_for(
        Duration::from_secs(10),
        "the stalled player on the worker",
        || {
            cluster
                .clients()
                .iter()
                .any(|c| c["type"] == "flv-play")
                .then_some(())
        },
    );
    assert_eq!(tcp_state(listen, local).as_deref(), Some("01"));
    // The LB gives the connection up: its side leaves ESTABLISHED (closed with data unsent).
    wait_for(
        Duration::from_secs(60),
        "the http-lb to drop the stalled player",
        || (tcp_state(listen, local).as_deref() != Some("01")).then_some(()),
    );
    // Reading now ends: what was in flight, then the close; no endless stale stream.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stalled.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                assert!(total < 64 << 20, "the stream goes on after the drop");
            }
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(err) => panic!("the dropped connection did not end ({err}) after {total} bytes"),
        }
    }
    // The worker forgot the player, and a reading player still plays through the LB.
    wait_for(
        Duration::from_secs(20),
        "the worker to forget the player",
        || {
            cluster
                .clients()
                .iter()
                .all(|c| c["type"] != "flv-play")
                .then_some(())
        },
    );
    assert!(
        probe(&format!("http://{listen}/live/cam.flv")),
        "{}",
        cluster.lb.log_text()
    );
}

/// A hook endpoint recording each body; allows everything.
fn hook_server() -> (String, Arc<Mutex<Vec<String>>>) {
    common::hook_server::start("hook", |_| true)
}

#[test]
fn a_spoofed_x_forwarded_for_never_reaches_a_hook_nor_the_api() {
    let (hook, bodies) = hook_server();
    let cluster = cluster(Some(hook));
    let listen = cluster.lb_listen();
    let mut player = TcpStream::connect(listen).unwrap();
    player
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    player
        .write_all(
            b"GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.7\r\n\r\n",
        )
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = player.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{head}\n{}",
        cluster.logs()
    );
    let clients = wait_for(Duration::from_secs(10), "the player in the API", || {
        let clients = cluster.clients();
        (clients.len() >= 2).then_some(clients)
    });
    let text = serde_json::to_string(&clients).unwrap();
    assert!(!text.contains("6.6.6."), "{text}");
    assert!(text.contains("\"ip\":\"127.0.0.1\""), "{text}");
    let hooks = bodies.lock().unwrap().clone();
    assert!(!hooks.is_empty(), "on_play was never called");
    for body in &hooks {
        assert!(!body.contains("6.6.6."), "{body}");
        assert!(body.contains("\"ip\":\"127.0.0.1\""), "{body}");
    }
}

#[test]
fn preflight_and_error_answers_carry_cors_headers_on_the_http_lb_and_the_worker() {
    let cluster = cluster(None);
    let preflight_headers = [
        ("Origin", "https://player.example"),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "x-custom"),
    ];
    for (name, addr) in [
        ("http-lb", cluster.lb_listen()),
        ("worker", cluster.plan.workers[0].http),
    ] {
        for path in ["/live/cam.flv", "/live/cam.m3u8"] {
            let answer = request_with_headers(addr, "OPTIONS", path, &preflight_headers).unwrap();
            assert!(
                (200..300).contains(&answer.status),
                "{name} OPTIONS {path}: {} {}",
                answer.status,
                answer.text()
            );
            assert!(
                answer.header("access-control-allow-origin").is_some(),
                "{name} {path}"
            );
            let methods = answer.header("access-control-allow-methods").unwrap_or("");
            assert!(methods.contains("GET"), "{name} {path}: {methods}");
            let allowed = answer
                .header("access-control-allow-headers")
                .unwrap_or("")
                .to_ascii_lowercase();
            assert!(
                allowed == "*" || allowed.contains("x-custom"),
                "{name} {path}: {allowed}"
            );
        }
        for path in ["/index.html", "/live/nobody.flv"] {
            let answer =
                request_with_headers(addr, "GET", path, &[("Origin", "https://player.example")])
                    .unwrap();
            assert!(answer.status >= 400, "{name} {path}: {}", answer.status);
            assert!(
                answer.header("access-control-allow-origin").is_some(),
                "{name} {path}: {} {:?}",
                answer.status,
                answer.headers
            );
        }
    }
    // A stream answer through the LB carries it too.
    let mut player = TcpStream::connect(cluster.lb_listen()).unwrap();
    player
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    player
        .write_all(b"GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://player.example\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && player.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("access-control-allow-origin"), "{head}");
}

/// How many descriptors `pid` holds.
fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn http_lb_memory_per_flv_player_stays_small_and_is_returned_when_they_leave() {
    raise_own_nofile();
    let cluster = cluster(None);
    let listen = cluster.lb_listen();
    let pid = cluster.lb.pid();
    let before = rss_kib(pid);
    let fds_before = open_fds(pid);
    const PLAYERS: usize = 300;
    let mut players = Vec::new();
    for _ in 0..PLAYERS {
        let mut tcp = TcpStream::connect(listen).unwrap();
        tcp.write_all(b"GET /live/cam.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        players.push((tcp, 0usize));
    }
    // Every player reads until it has had the GOP and some live tags (bounded wait).
    let mut buf = vec![0u8; 256 * 1024];
    wait_for(
        Duration::from_secs(60),
        "every player to receive 64 KiB",
        || {
            for (player, got) in &mut players {
                while let Ok(n) = player.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    *got += n;
                }
            }
            let least = players.iter().map(|(_, got)| *got).min().unwrap_or(0);
            (least >= 64 * 1024).then_some(())
        },
    );
    let during = rss_kib(pid);
    drop(players);
    wait_for(
        Duration::from_secs(30),
        "the worker to forget the players",
        || (cluster.clients().len() <= 1).then_some(()),
    );
    // The LB closed every player connection and its upstream (descriptors back to where they were).
    wait_for(
        Duration::from_secs(30),
        "the http-lb to close the players' connections",
        || (open_fds(pid) <= fds_before + 8).then_some(()),
    );
    let after = rss_kib(pid);
    let per_player = during.saturating_sub(before) / PLAYERS as u64;
    let kept = after.saturating_sub(before);
    eprintln!("http-lb RSS: {before} KiB before, {during} KiB with {PLAYERS} players ({per_player} KiB each), {after} KiB after");
    // Generous bounds (a debug build on a shared machine): before the LB's buffers were bounded it
    // took ~225 KiB per player and kept ~26 MiB after 300 left; now ~47 KiB and ~10 MiB.
    assert!(
        per_player < 100,
        "{per_player} KiB per FLV player on the http-lb"
    );
    assert!(
        kept < 20 * 1024,
        "{kept} KiB kept after {PLAYERS} players left"
    );
}

/// An app of two segments: ffmpeg publishes `rtmp://…/a/b/s` as app `a/b`, stream `s`; the worker
/// and the http-lb read `/a/b/s.flv` and `/a/b/s.m3u8` (and its segments) the same way, so a player
/// through the LB gets the stream, over HTTP-FLV and HLS.
#[test]
fn a_stream_of_a_nested_app_plays_through_the_http_lb() {
    // `cluster_of` waits until ffprobe finds the video of `/a/b/s.flv` through the http-lb.
    let cluster = cluster_of(None, "a/b/s");
    let listen = cluster.lb_listen();
    let m3u8 = format!("http://{listen}/a/b/s.m3u8");
    wait_for(
        Duration::from_secs(30),
        "HLS of a/b/s through the http-lb",
        || probe(&m3u8).then_some(()),
    );
    let playlist = common::http::get(listen, "/a/b/s.m3u8").unwrap();
    assert_eq!(playlist.status, 200, "{}", cluster.logs());
    let text = playlist.text();
    let segment = text
        .lines()
        .find(|line| line.ends_with(".ts"))
        .unwrap_or_else(|| panic!("no segment in {text}"));
    let answer = common::http::get(listen, &format!("/a/b/{segment}")).unwrap();
    assert_eq!(answer.status, 200, "/a/b/{segment}: {}", answer.text());
    assert_eq!(answer.header("content-type"), Some("video/mp2t"));
    // The worker lists it under its own app and stream.
    let (_, body) =
        common::control::control(cluster.plan.workers[0].control, "GET", "/api/v1/published")
            .unwrap();
    assert!(
        body.contains(r#"{"vhost":"__defaultVhost__","app":"a/b","stream":"s"}"#),
        "{body}"
    );
}
