//! Raw clients attack the rtmp-lb's memory before they are routed (issue 17): 120 clients that each
//! send almost a mebibyte of an unfinished message instead of `publish`/`play` are closed, each
//! with its reason logged, and the LB stays small; a client that then plays is still answered.
//! Clients that each stay within their own preamble are closed, largest first, once together they
//! pass the LB's budget.

mod common;

use common::cluster::*;
use common::raw_rtmp::*;
use oryx::compile::plan::Plan;
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

/// The rtmp-lb of `plan` with `env` set, logging to `dir/rtmp-lb.log`; ready.
fn start_lb(plan: &Plan, dir: &std::path::Path, env: &[(&str, &str)]) -> Proc {
    let file = dir.join("rtmp-lb.json");
    write_plan(&file, plan);
    let mut command = Command::new(oryx_bin());
    command
        .args(["role", "rtmp-lb", "rtmp-lb", "--plan"])
        .arg(&file)
        .env("RUST_LOG", "info");
    for (key, value) in env {
        command.env(key, value);
    }
    let proc = Proc::spawn(command, dir.join("rtmp-lb.log"));
    let control = plan.rtmp_lb.as_ref().unwrap().control;
    wait_for(Duration::from_secs(20), "the rtmp-lb to be ready", || {
        matches!(http(control, "GET", "/readyz"), Ok((200, _))).then_some(())
    });
    proc
}

#[test]
fn clients_with_a_large_preamble_are_closed_and_the_lb_stays_small() {
    const CLIENTS: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_worker("w-0");
    let mut plan = plan(vec![fake_worker_plan("w-0", &fake)]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let lb_plan = plan.rtmp_lb.clone().unwrap();
    let lb_proc = role("rtmp-lb", &plan, lb_plan.control, dir.path());
    let baseline = rss_mib(lb_proc.child.id());

    // An 8 MiB message at a 64 KiB chunk size, 1000 KiB of it sent: the preamble stays just under
    // the 1 MiB the LB once accepted, and never names a stream.
    let preamble = parked_messages(65536, &[(3, (8 << 20) - 1, 1000 * 1024)]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut socks = Vec::new();
    for _ in 0..CLIENTS {
        let mut sock = handshake(lb_plan.listen);
        write_until_closed(&mut sock, &preamble, deadline);
        socks.push(sock);
    }
    let rss = rss_mib(lb_proc.child.id());
    assert!(
        rss < 150,
        "the rtmp-lb grew from {baseline} MiB to {rss} MiB with {CLIENTS} unrouted clients"
    );
    // Fails the test unless every close is logged with its reason.
    wait_for(Duration::from_secs(10), "every close logged", || {
        let log = lb_proc.log_text();
        (lines_with(&log, &["connection ended", "before publish/play"]) >= CLIENTS).then_some(())
    });
    for sock in socks.iter_mut() {
        assert!(closed_within(sock, Duration::from_secs(5)));
    }

    // A well-behaved player is still answered (the LB replies to connect and createStream itself
    // and asks the fake worker where to send it).
    let config = ClientConfig::from_url(
        &format!("rtmp://{}/live/after", lb_plan.listen),
        ClientMode::Play,
    )
    .unwrap();
    let mut session = ClientSession::new(config);
    let mut sock = std::net::TcpStream::connect(lb_plan.listen).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut connected = false;
    let mut buf = vec![0u8; 65536];
    let until = Instant::now() + Duration::from_secs(10);
    while !connected && Instant::now() < until {
        sock.write_all(&session.take_output()).unwrap();
        let n = sock.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        connected = session
            .feed(&buf[..n])
            .unwrap()
            .iter()
            .any(|e| matches!(e, ClientEvent::Connected));
    }
    assert!(connected, "a normal client still gets connect answered");
}

#[test]
fn the_lb_budget_closes_the_clients_that_hold_the_most() {
    const CLIENTS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_worker("w-0");
    let mut plan = plan(vec![fake_worker_plan("w-0", &fake)]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    let lb_plan = plan.rtmp_lb.clone().unwrap();
    let lb_proc = start_lb(&plan, dir.path(), &[("ORYX_RTMP_LB_MEMORY", "256KiB")]);
    // ~50 KB of a 60 KB message each: within the 64 KiB preamble, ~110 KB held per client.
    let preamble = parked_messages(4096, &[(3, 60_000, 50_000)]);
    let mut socks = Vec::new();
    for _ in 0..CLIENTS {
        let mut sock = handshake(lb_plan.listen);
        sock.write_all(&preamble).unwrap();
        socks.push(sock);
    }
    wait_for(Duration::from_secs(10), "the evictions logged", || {
        let log = lb_proc.log_text();
        (lines_with(&log, &["closed to make room in the rtmp-lb clients budget"]) >= CLIENTS - 3)
            .then_some(())
    });
    let mut open = 0;
    for sock in socks.iter_mut() {
        if !closed_within(sock, Duration::from_millis(300)) {
            open += 1;
        }
    }
    assert!((1..=3).contains(&open), "{open} clients kept; 1 to 3 fit");
}
