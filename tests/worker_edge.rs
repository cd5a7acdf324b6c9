//! The embedded worker's edges: republish continuity, players that never read, garbage on the port,
//! the connection limit, PROXY v2 client addresses and publish/play hooks.

mod common;

use common::wait::expect_within;
use common::*;
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode};
use oryx::rtmp::message::MediaKind;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECS: Duration = Duration::from_secs(10);

fn started(e: &ClientEvent) -> bool {
    matches!(e, ClientEvent::Started)
}

/// Publish `count` synthetic frames (sequence header, keyframe every 25) from `ts0`.
fn send_frames(client: &mut TestClient, ts0: u32, count: u32) {
    client
        .session
        .send_media(MediaKind::Video, ts0, &[0x17, 0, 0, 0, 0, 1, 2, 3]);
    for i in 0..count {
        let key = if i % 25 == 0 { 0x17 } else { 0x27 };
        let payload = [key, 1, 0, 0, 0, 9, 9, 9, 9];
        client
            .session
            .send_media(MediaKind::Video, ts0 + i * 40, &payload);
    }
    client.flush().unwrap();
}

fn media_timestamps(client: &mut TestClient, until: Duration) -> Vec<u32> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + until;
    while std::time::Instant::now() < deadline {
        if !client.pump() {
            break;
        }
        while let Some(e) = client.events.pop_front() {
            if let ClientEvent::Media { timestamp, .. } = e {
                out.push(timestamp);
            }
        }
    }
    out
}

#[test]
fn players_survive_a_publisher_reconnect_with_monotonic_timestamps() {
    let worker = start_worker(settings(), false);
    let url = worker.rtmp_url("live/r");
    let mut player = TestClient::connect(&url, ClientMode::Play);
    assert!(player.wait_for(SECS, started).is_some());

    let mut first = TestClient::connect(&url, ClientMode::Publish);
    assert!(first.wait_for(SECS, started).is_some());
    send_frames(&mut first, 5000, 50);
    let before = media_timestamps(&mut player, Duration::from_millis(1500));
    // At least the GOP cache (the last 25 frames and the sequence header) arrives.
    assert!(before.len() >= 26, "{before:?}");
    assert!(
        before[0] < 100,
        "late joiner should start near 0: {before:?}"
    );
    drop(first);
    // The player is not told of the unpublish (within play-wait a republish goes on unannounced),
    // and the first publisher's close may not have reached the worker yet: retry until accepted.
    let mut second = expect_within(SECS, "the republish to be accepted", || {
        let mut client = TestClient::connect(&url, ClientMode::Publish);
        client
            .wait_for(Duration::from_secs(2), started)
            .map(|_| client)
    });
    send_frames(&mut second, 0, 50);
    let after = media_timestamps(&mut player, Duration::from_millis(1500));
    assert!(after.len() >= 26, "{after:?}");
    let all: Vec<u32> = before.iter().chain(after.iter()).copied().collect();
    assert!(
        all.windows(2).all(|w| w[0] <= w[1]),
        "timestamps go backwards: {all:?}"
    );
    assert!(after[0] >= *before.last().unwrap());
}

#[test]
fn players_that_never_read_keep_memory_bounded() {
    let mut s = settings();
    s.player_queue_bytes = 512 * 1024;
    let worker = start_worker(s, false);
    let media = make_media(worker.dir.path(), 20);
    let url = worker.rtmp_url("live/m");
    let mut stuck = Vec::new();
    for _ in 0..20 {
        let mut p = TestClient::connect(&url, ClientMode::Play);
        assert!(p.wait_for(SECS, started).is_some());
        stuck.push(p);
    }
    let rss_before = worker.rss_kib();
    // Publish the media four times over as fast as ffmpeg can send it.
    let status = Command::new("timeout")
        .args(["60", "ffmpeg", "-hide_banner", "-loglevel", "error"])
        .args(["-stream_loop", "3", "-i"])
        .arg(&media)
        .args(["-c", "copy", "-f", "flv", &url])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let media_kib = std::fs::metadata(&media).unwrap().len() * 4 / 1024;
    let growth = worker.rss_kib().saturating_sub(rss_before);
    // Buffering per player would cost 20 × the media; the ring is shared and bounded.
    assert!(
        growth < 40 * 1024 && growth < media_kib * 20 / 4,
        "RSS grew {growth} KiB for {media_kib} KiB of media"
    );
    // A fresh player still plays.
    let _publisher = publish(&media, &url, true);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(probe_codecs(&url), vec!["aac", "h264"]);
    drop(stuck);
}

fn closed_within(sock: &mut TcpStream, timeout: Duration) -> bool {
    sock.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 8192];
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn garbage_is_closed_and_others_are_unaffected() {
    let worker = start_worker(settings(), false);
    let url = worker.rtmp_url("live/g");
    let mut publisher = TestClient::connect(&url, ClientMode::Publish);
    assert!(publisher.wait_for(SECS, started).is_some());

    let mut garbage = TcpStream::connect(worker.rtmp).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_within(&mut garbage, SECS));

    // A valid handshake followed by nonsense chunks.
    let mut bad_chunks = TcpStream::connect(worker.rtmp).unwrap();
    let mut hello = vec![3u8];
    hello.extend_from_slice(&[0u8; 1536]);
    bad_chunks.write_all(&hello).unwrap();
    let mut s0s1s2 = vec![0u8; 3073];
    bad_chunks.read_exact(&mut s0s1s2).unwrap();
    bad_chunks.write_all(&[0u8; 1536]).unwrap();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = bad_chunks.write_all(&noise);
    assert!(closed_within(&mut bad_chunks, SECS));

    send_frames(&mut publisher, 0, 30);
    let mut player = TestClient::connect(&url, ClientMode::Play);
    assert!(player.wait_for(SECS, started).is_some());
    assert!(player
        .wait_for(SECS, |e| matches!(e, ClientEvent::Media { .. }))
        .is_some());
}

#[test]
fn connections_past_the_limit_are_refused_cleanly() {
    let mut s = settings();
    s.max_connections = 2;
    let worker = start_worker(s, false);
    let url = worker.rtmp_url("live/c");
    let mut a = TestClient::connect(&url, ClientMode::Play);
    assert!(a.wait_for(SECS, started).is_some());
    let mut b = TestClient::connect(&url, ClientMode::Play);
    assert!(b.wait_for(SECS, started).is_some());
    let mut c = TestClient::connect(&url, ClientMode::Play);
    let refused = c.wait_for(SECS, |e| {
        matches!(e, ClientEvent::CommandError { .. } | ClientEvent::Started)
    });
    assert!(
        matches!(refused, Some(ClientEvent::CommandError { .. })),
        "{refused:?}"
    );
    let (status, _) = http_get(worker.http, "/live/c.flv").unwrap();
    assert_eq!(status, 503);
    drop(a);
    assert!(wait_until(SECS, || {
        let mut d = TestClient::connect(&url, ClientMode::Play);
        d.wait_for(Duration::from_secs(2), started).is_some()
    }));
}

/// A hook endpoint: records each body; refuses streams named `denied`.
fn hook_server() -> (String, Arc<Mutex<Vec<String>>>) {
    common::hook_server::start("hook", |body| !body.contains("\"denied\""))
}

#[test]
fn proxy_header_carries_the_client_address_to_hooks_and_hooks_can_refuse() {
    let (hook, bodies) = hook_server();
    let mut s = settings();
    s.hooks.on_publish = vec![hook.clone()];
    s.hooks.on_play = vec![hook];
    let worker = start_worker(s, true);

    let mut sock = TcpStream::connect(worker.rtmp).unwrap();
    let header = oryx::proxy_protocol::encode("203.0.113.9:4444".parse().unwrap(), worker.rtmp);
    sock.write_all(&header).unwrap();
    let config =
        ClientConfig::from_url(&worker.rtmp_url("live/p?token=t"), ClientMode::Publish).unwrap();
    let mut publisher = TestClient::over(sock, config);
    assert!(publisher.wait_for(SECS, started).is_some());
    {
        let bodies = bodies.lock().unwrap();
        let body = bodies.last().expect("on_publish was called");
        assert!(body.contains("\"ip\":\"203.0.113.9\""), "{body}");
        assert!(body.contains("\"action\":\"on_publish\""), "{body}");
        assert!(body.contains("\"param\":\"?token=t\""), "{body}");
    }

    // Without a header the peer address is used.
    let mut plain = TestClient::connect(&worker.rtmp_url("live/q"), ClientMode::Publish);
    assert!(plain.wait_for(SECS, started).is_some());
    assert!(bodies
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .contains("\"ip\":\"127.0.0.1\""));

    // The hook refuses `denied`: our client sees an error, ffmpeg fails.
    let mut denied = TestClient::connect(&worker.rtmp_url("live/denied"), ClientMode::Publish);
    let answer = denied.wait_for(SECS, |e| {
        matches!(e, ClientEvent::Status { .. } | ClientEvent::Started)
    });
    assert!(
        matches!(&answer, Some(ClientEvent::Status { level, .. }) if level == "error"),
        "{answer:?}"
    );
    let media = make_media(worker.dir.path(), 2);
    let mut ffmpeg = publish(&media, &worker.rtmp_url("live/denied"), false);
    let status = ffmpeg.wait_timeout(SECS).expect("ffmpeg should give up");
    assert!(!status.success());
    let mut player = TestClient::connect(&worker.rtmp_url("live/denied"), ClientMode::Play);
    let answer = player.wait_for(SECS, |e| {
        matches!(e, ClientEvent::Status { .. } | ClientEvent::Started)
    });
    assert!(
        matches!(&answer, Some(ClientEvent::Status { level, .. }) if level == "error"),
        "{answer:?}"
    );
}
