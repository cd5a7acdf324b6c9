//! Raw clients attack an embedded worker's memory and patience (issue 17): players that park
//! unfinished 8 MiB messages are closed at once and the worker stays small; players that each stay
//! within their own budget are closed, largest first, once together they pass the worker's budget
//! for players, and publishers likewise while another stream plays on; connections that complete
//! nothing are closed after the idle timeout while a quiet player is kept; a chunk size of 2^31 is
//! refused with its value. Every close is logged with its reason, and a real client still plays
//! afterwards.

mod common;

use common::cluster::*;
use common::raw_rtmp::*;
use common::TestClient;
use oryx::compile::plan::{WorkerKind, WorkerPlan};
use oryx::rtmp::client::{ClientEvent, ClientMode};
use oryx::rtmp::message::MediaKind;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An embedded worker role with `env` set, logging to `dir/w-0.log`; ready.
fn start_worker(dir: &std::path::Path, env: &[(&str, &str)]) -> (Proc, WorkerPlan) {
    let worker = worker("w-0", WorkerKind::Embedded, None);
    let plan = plan(vec![worker.clone()]);
    let file = dir.join("plan.json");
    write_plan(&file, &plan);
    let mut command = Command::new(oryx_bin());
    command
        .args(["role", "worker", "w-0", "--plan"])
        .arg(&file)
        .env(
            "RUST_LOG",
            std::env::var("ORYX_TEST_LOG").unwrap_or_else(|_| "info".into()),
        );
    for (key, value) in env {
        command.env(key, value);
    }
    let proc = Proc::spawn(command, dir.join("w-0.log"));
    wait_for(Duration::from_secs(20), "the worker to be ready", || {
        matches!(http(worker.control, "GET", "/readyz"), Ok((200, _))).then_some(())
    });
    (proc, worker)
}

/// A player of `live/<name>` (never published) that got `NetStream.Play.Start`.
fn player(worker: &WorkerPlan, name: &str) -> TcpStream {
    let url = format!("rtmp://{}/live/{name}", worker.rtmp);
    let mut client = TestClient::connect(&url, ClientMode::Play);
    let started = client.wait_for(Duration::from_secs(10), |e| *e == ClientEvent::Started);
    assert!(started.is_some(), "{name} did not start playing");
    client.sock
}

/// How many of `socks` the server closes within a shared bound.
fn count_closed(socks: &mut [TcpStream], timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    let mut closed = vec![false; socks.len()];
    while Instant::now() < deadline && closed.iter().any(|c| !c) {
        for (sock, closed) in socks.iter_mut().zip(closed.iter_mut()) {
            if !*closed {
                *closed = closed_within(sock, Duration::from_millis(100));
            }
        }
    }
    closed.iter().filter(|c| **c).count()
}

#[test]
fn players_parking_8_mib_messages_are_closed_and_the_worker_stays_small() {
    const PLAYERS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let (proc, worker) = start_worker(dir.path(), &[]);
    let baseline = rss_mib(proc.child.id());
    // Two 8 MiB messages started at a 64 KiB chunk size, almost all sent, never finished: ~15 MiB
    // a connection would park if the worker let it.
    let attack = Arc::new(parked_messages(
        65536,
        &[
            (6, (8 << 20) - 1, (8 << 20) - 70_000),
            (4, (8 << 20) - 1, 7 << 20),
        ],
    ));
    let mut socks: Vec<TcpStream> = (0..PLAYERS)
        .map(|i| player(&worker, &format!("never{i}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::scope(|scope| {
        for sock in socks.iter_mut() {
            let attack = attack.clone();
            scope.spawn(move || write_until_closed(sock, &attack, deadline));
        }
    });
    let rss = rss_mib(proc.child.id());
    assert!(
        rss < 150,
        "the worker grew from {baseline} MiB to {rss} MiB with {PLAYERS} parked players"
    );
    let closed = count_closed(&mut socks, Duration::from_secs(10));
    assert_eq!(closed, PLAYERS, "every attacking player is closed");
    let log = proc.log_text();
    assert!(
        lines_with(&log, &["closing the RTMP connection", "budget"]) >= PLAYERS,
        "each close is logged with its reason:\n{log}"
    );
    // The worker still serves.
    drop(player(&worker, "after"));
}

#[test]
fn the_worker_budget_for_players_closes_the_largest_holders() {
    const PLAYERS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let (proc, worker) = start_worker(dir.path(), &[("ORYX_RTMP_PLAYERS_MEMORY", "256KiB")]);
    // Each parks ~60 KB, within its own 64 KiB budget; ten of them do not fit in 256 KiB.
    let attack = parked_messages(4096, &[(6, 60_000, 50_000)]);
    let mut socks = Vec::new();
    for i in 0..PLAYERS {
        let mut sock = player(&worker, &format!("p{i}"));
        sock.write_all(&attack).unwrap();
        socks.push(sock);
    }
    let closed = count_closed(&mut socks, Duration::from_secs(5));
    assert!(
        closed >= PLAYERS - 4,
        "only {closed} of {PLAYERS} players were closed; at most 4 fit"
    );
    assert!(closed < PLAYERS, "the players that fit are kept");
    let log = proc.log_text();
    assert!(
        lines_with(&log, &["closing the", "the most while the players budget"]) >= PLAYERS - 4,
        "{log}"
    );
    drop(player(&worker, "after"));
}

#[test]
fn the_worker_budget_for_publishers_closes_the_largest_and_other_streams_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, worker) = start_worker(dir.path(), &[("ORYX_RTMP_PUBLISHERS_MEMORY", "6MiB")]);
    // A stream that keeps working: its player is there before the attack.
    let mut viewer = TestClient::connect(&worker_url(&worker, "ok"), ClientMode::Play);
    assert!(viewer
        .wait_for(Duration::from_secs(10), |e| *e == ClientEvent::Started)
        .is_some());
    // Three publishers each park 3 MiB of an 8 MiB keyframe: within their own 16 MiB, but only one
    // fits the worker's 6 MiB for publishers.
    let attack = parked_messages(65536, &[(6, (8 << 20) - 1, 3 << 20)]);
    let mut socks = Vec::new();
    for i in 0..3 {
        let mut publisher = TestClient::connect(
            &worker_url(&worker, &format!("big{i}")),
            ClientMode::Publish,
        );
        assert!(publisher
            .wait_for(Duration::from_secs(10), |e| *e == ClientEvent::Started)
            .is_some());
        write_until_closed(
            &mut publisher.sock,
            &attack,
            Instant::now() + Duration::from_secs(20),
        );
        socks.push(publisher.sock);
    }
    let closed = count_closed(&mut socks, Duration::from_secs(5));
    assert!(
        closed >= 2,
        "only {closed} of 3 parked publishers were closed"
    );
    let log = proc.log_text();
    assert!(
        lines_with(&log, &["the most while the publishers budget"]) >= 2,
        "{log}"
    );

    let mut publisher = TestClient::connect(&worker_url(&worker, "ok"), ClientMode::Publish);
    assert!(publisher
        .wait_for(Duration::from_secs(10), |e| *e == ClientEvent::Started)
        .is_some());
    publisher
        .session
        .send_media(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0, 1, 2, 3]);
    publisher
        .session
        .send_media(MediaKind::Video, 40, &[0x17, 1, 0, 0, 0, 9, 9, 9, 9]);
    publisher.flush().unwrap();
    let media = viewer.wait_for(Duration::from_secs(10), |e| {
        matches!(e, ClientEvent::Media { .. })
    });
    assert!(media.is_some(), "the other stream still plays");
}

#[test]
fn connections_that_complete_nothing_are_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, worker) = start_worker(dir.path(), &[("ORYX_RTMP_IDLE_TIMEOUT", "1s")]);
    // Handshake, then nothing.
    let mut silent = handshake(worker.rtmp);
    // Handshake, then a message dripped a byte at a time, never finished.
    let mut dripping = handshake(worker.rtmp);
    let drip = parked_messages(128, &[(3, 1000, 0)]);
    dripping.write_all(&drip).unwrap();
    // A player stuck in the middle of a message.
    let mut stuck = player(&worker, "stuck");
    stuck
        .write_all(&parked_messages(4096, &[(3, 1000, 100)]))
        .unwrap();
    // A player that says nothing while it waits for the stream: it is kept.
    let mut quiet = TestClient::connect(&worker_url(&worker, "quiet"), ClientMode::Play);
    assert!(quiet
        .wait_for(Duration::from_secs(10), |e| *e == ClientEvent::Started)
        .is_some());

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut dripping_closed = false;
    while Instant::now() < deadline && !dripping_closed {
        dripping_closed = dripping.write_all(&[0x17]).is_err()
            || closed_within(&mut dripping, Duration::from_millis(200));
    }
    assert!(dripping_closed, "a dripping connection is closed");
    assert!(closed_within(&mut silent, Duration::from_secs(10)));
    assert!(closed_within(&mut stuck, Duration::from_secs(10)));
    assert!(quiet.pump(), "a quiet player is not idle");
    let log = proc.log_text();
    assert!(
        lines_with(&log, &["closing the RTMP connection", "idle timeout"]) >= 3,
        "{log}"
    );
}

#[test]
fn chunk_size_2_pow_31_is_refused_with_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let (proc, worker) = start_worker(dir.path(), &[]);
    let mut sock = handshake(worker.rtmp);
    let mut out = bytes::BytesMut::new();
    oryx::rtmp::message::Writer { chunk_size: 128 }.set_chunk_size(&mut out, 1 << 31);
    sock.write_all(&out).unwrap();
    assert!(closed_within(&mut sock, Duration::from_secs(10)));
    // Fails the test unless the refusal, with the value as sent, is logged.
    wait_for(Duration::from_secs(5), "the refusal in the log", || {
        let log = proc.log_text();
        (lines_with(&log, &["chunk size 2147483648 out of range"]) == 1).then_some(())
    });
}

fn worker_url(worker: &WorkerPlan, stream: &str) -> String {
    format!("rtmp://{}/live/{stream}", worker.rtmp)
}
