//! The public HTTP ports under attack, with raw clients: slowloris under a soft open-files limit of
//! 1 024 (and with the hard limit at 1 024 too), requests that never come, the listen backlog, and
//! the open-files warning of `oryx check`. Players through the http-lb: `tests/http_lb_players.rs`.

mod common;

use common::cluster::*;
use common::process::{raise_own_nofile, with_open_files};
use oryx::compile::plan::{Plan, WorkerKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
/// `oryx role KIND KIND` (an LB) under an open-files limit of `soft`/`hard`; ready.
fn limited_role(
    kind: &str,
    plan: &Plan,
    control: SocketAddr,
    dir: &Path,
    soft: u64,
    hard: u64,
) -> Proc {
    let file = dir.join(format!("{kind}.json"));
    write_plan(&file, plan);
    let mut command = Command::new(oryx_bin());
    command
        .args(["role", kind, kind, "--plan"])
        .arg(&file)
        .env("RUST_LOG", "info");
    with_open_files(&mut command, soft, Some(hard));
    let proc = Proc::spawn(command, dir.join(format!("{kind}.log")));
    wait_for(Duration::from_secs(10), "the role to be ready", || {
        matches!(http(control, "GET", "/readyz"), Ok((200, _))).then_some(())
    });
    proc
}

/// `count` slowloris connections: each sends the start of a request and never finishes it. Connects
/// that do not complete within a second are skipped (a full backlog); the open ones are returned.
fn slowloris(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut open = Vec::new();
    for _ in 0..count {
        if let Ok(mut tcp) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            let _ = tcp.write_all(b"GET /live/slow.flv HTTP/1.1\r\nHost: x\r\nX-a: ");
            open.push(tcp);
        }
    }
    open
}

/// The http-lb in front of one fake worker, under an open-files limit.
fn http_lb_limited(dir: &Path, soft: u64, hard: u64) -> (Proc, SocketAddr, FakeWorker) {
    let fake = fake_worker("only");
    let mut plan = plan(vec![fake_worker_plan("only", &fake)]);
    plan.http_lb = Some(lb(&plan.workers));
    let lb_plan = plan.http_lb.clone().unwrap();
    let proc = limited_role("http-lb", &plan, lb_plan.control, dir, soft, hard);
    (proc, lb_plan.listen, fake)
}

#[test]
fn slowloris_under_a_soft_limit_of_1024_leaves_a_normal_request_answered() {
    let hard = raise_own_nofile();
    assert!(
        hard > 2200,
        "this test needs a hard open-files limit above 2200, not {hard}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (lb, listen, _fake) = http_lb_limited(dir.path(), 1024, hard);
    let attackers = slowloris(listen, 1100);
    assert!(
        attackers.len() >= 1000,
        "only {} connected",
        attackers.len()
    );
    let (status, body) = wait_for(Duration::from_secs(20), "a normal request answered", || {
        http(listen, "GET", "/live/cam.flv").ok()
    });
    assert_eq!(status, 200, "{body}\n{}", lb.log_text());
    assert!(body.starts_with("worker=only "), "{body}");
    drop(attackers);
}

#[test]
fn slowloris_past_a_hard_limit_of_1024_meets_the_connection_cap_and_real_clients_still_get_in() {
    raise_own_nofile();
    let dir = tempfile::tempdir().unwrap();
    let (lb, listen, _fake) = http_lb_limited(dir.path(), 1024, 1024);
    let attackers = slowloris(listen, 1100);
    // Bounded by the header-read timeout at worst; the cap frees a slot for a real request sooner.
    let (status, body) = wait_for(Duration::from_secs(40), "a normal request answered", || {
        http(listen, "GET", "/live/cam.flv").ok()
    });
    assert_eq!(status, 200, "{body}\n{}", lb.log_text());
    let log = lb.log_text();
    assert!(log.contains("connection cap"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    drop(attackers);
}

/// A connection that never finishes its request headers (or, with `silent`, never sends a byte) is
/// closed by the server (bounded wait).
fn closed_by_server(addr: SocketAddr, silent: bool) -> bool {
    let Ok(mut tcp) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    if !silent {
        let _ = tcp.write_all(b"GET /live/x.flv HTTP/1.1\r\nHost: x\r\n");
    }
    // Generous: the header-read timeout, plus a loaded machine.
    tcp.set_read_timeout(Some(Duration::from_secs(45))).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            // A 408 first is fine; then the close.
            Ok(_) => continue,
            Err(err) => {
                return matches!(
                    err.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                )
            }
        }
    }
}

#[test]
fn unfinished_or_missing_requests_are_timed_out_on_every_public_http_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan(vec![worker("w-0", WorkerKind::Embedded, None)]);
    plan.http_lb = Some(lb(&plan.workers));
    plan.api_lb = Some(lb(&plan.workers));
    let file = dir.path().join("plan.json");
    write_plan(&file, &plan);
    let _worker = worker_role(&file, &plan.workers[0], dir.path());
    let http_lb = plan.http_lb.clone().unwrap();
    let api_lb = plan.api_lb.clone().unwrap();
    let _http_lb = role("http-lb", &plan, http_lb.control, dir.path());
    let _api_lb = role("api-lb", &plan, api_lb.control, dir.path());
    let site =
        common::static_role::Role::start(dir.path(), common::static_role::site_plan(dir.path()));
    let ports = [
        ("http-lb", http_lb.listen),
        ("api-lb", api_lb.listen),
        ("worker http", plan.workers[0].http),
        ("static http", site.http()),
    ];
    let checks: Vec<_> = ports
        .iter()
        .flat_map(|(name, addr)| [(*name, *addr, false), (*name, *addr, true)])
        .map(|(name, addr, silent)| {
            let check = std::thread::spawn(move || closed_by_server(addr, silent));
            (name, silent, check)
        })
        .collect();
    for (name, silent, check) in checks {
        assert!(
            check.join().unwrap(),
            "{name} kept a slowloris connection open (silent: {silent})"
        );
    }
}

/// The backlog a listening port was given (`ss` shows it as Send-Q).
fn listen_backlog(addr: SocketAddr) -> Option<u64> {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", addr.port())])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|line| line.contains(&format!(":{}", addr.port())))
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|q| q.parse().ok())
}

#[test]
fn listen_backlogs_follow_somaxconn() {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") else {
        eprintln!("no /proc/sys/net/core/somaxconn: skipped");
        return;
    };
    let somaxconn: u64 = text.trim().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan(vec![worker("w-0", WorkerKind::Embedded, None)]);
    plan.http_lb = Some(lb(&plan.workers));
    plan.rtmp_lb = Some(lb(&plan.workers));
    let file = dir.path().join("plan.json");
    write_plan(&file, &plan);
    let _worker = worker_role(&file, &plan.workers[0], dir.path());
    let http_lb = plan.http_lb.clone().unwrap();
    let rtmp_lb = plan.rtmp_lb.clone().unwrap();
    let _http_lb = role("http-lb", &plan, http_lb.control, dir.path());
    let _rtmp_lb = role("rtmp-lb", &plan, rtmp_lb.control, dir.path());
    for (name, addr) in [
        ("http-lb", http_lb.listen),
        ("rtmp-lb", rtmp_lb.listen),
        ("worker http", plan.workers[0].http),
        ("worker rtmp", plan.workers[0].rtmp),
    ] {
        let Some(backlog) = listen_backlog(addr) else {
            eprintln!("ss cannot show {name}: skipped");
            continue;
        };
        assert_eq!(backlog, somaxconn, "{name} {addr}");
    }
}

#[test]
fn check_warns_when_the_hard_open_files_limit_is_below_what_max_connections_needs() {
    let run = |hard: u64| {
        let mut command = Command::new(oryx_bin());
        command.args(["check", "examples/configs/single.kdl"]);
        with_open_files(&mut command, hard, Some(hard));
        command.output().unwrap()
    };
    // The default max-connections is 10 000 per worker.
    let low = run(1024);
    let stderr = String::from_utf8_lossy(&low.stderr);
    assert!(low.status.success(), "{stderr}");
    assert!(
        stderr.contains("open-files hard limit is 1024") && stderr.contains("max-connections"),
        "{stderr}"
    );
    let hard = raise_own_nofile();
    if hard > 10_128 {
        let high = run(hard);
        let stderr = String::from_utf8_lossy(&high.stderr);
        assert!(!stderr.contains("open-files"), "{stderr}");
    }
}
