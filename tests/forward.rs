//! `forward` with real servers: ffmpeg publishes to an embedded worker whose stream rule forwards to
//! Debian's nginx-rtmp, and ffprobe reads the stream back from nginx. nginx stopped and started again
//! on the same port: the forward resumes by itself and the API shows every state on the way. Over
//! `rtmps://`: nginx's stream module terminates TLS (a certificate from a private CA, trusted through
//! the forward's `ca`) in front of nginx-rtmp. A slow target (a throttling relay in front of nginx)
//! is skipped ahead while the worker's own players play on.

mod common;

use common::control::get as control_get;
use common::http::metric;
use common::media::{make_flv, make_media, play_to_file, probe_codecs, publish, video_dts};
use common::net::free_port;
use common::nginx_rtmp;
use common::private_ca::PrivateCa;
use common::wait::expect_within;
use common::worker::{settings, start_worker, Worker};
use oryx::compile::plan::{ForwardTarget, StreamRule, StreamSettings};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Settings whose one rule forwards `live/*` to `url`.
fn forwarding(url: String, ca: Option<String>) -> StreamSettings {
    let mut settings = settings();
    settings.rules = vec![StreamRule {
        pattern: "live/*".into(),
        record: None,
        forwards: vec![ForwardTarget { url, ca }],
        transcode: None,
        exec: Vec::new(),
        on_record: Vec::new(),
    }];
    settings
}

/// The first forward of stream `name` in the worker's `/api/v1/streams`.
fn forward_state(worker: &Worker, name: &str) -> Option<Value> {
    let body = control_get(worker.control, "/api/v1/streams")?.json();
    body["streams"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)?["forwards"]
        .get(0)
        .cloned()
}

fn wait_state(worker: &Worker, name: &str, state: &str) -> Value {
    expect_within(
        Duration::from_secs(40),
        &format!("the forward to be {state}"),
        || forward_state(worker, name).filter(|f| f["state"] == state),
    )
}

/// ffprobe reads h264 + aac from `url` (retried: a probe that starts between two publishes fails).
fn expect_probe(url: &str) {
    expect_within(
        Duration::from_secs(60),
        &format!("ffprobe of {url}"),
        || (probe_codecs(url) == ["aac", "h264"]).then_some(()),
    );
}

#[test]
fn forward_reaches_nginx_rtmp_and_resumes_after_nginx_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path(), 10);
    let port = free_port();
    let first = nginx_rtmp::start(dir.path(), "nginx-1", port, None);
    let worker = start_worker(
        forwarding(
            format!("rtmp://127.0.0.1:{port}/live/{{stream}}?key=s3cret"),
            None,
        ),
        false,
    );
    let publisher = publish(&media, &worker.rtmp_url("live/cam"), true);

    let connected = wait_state(&worker, "cam", "connected");
    let masked = format!("rtmp://127.0.0.1:{port}/live/cam?key=***");
    assert_eq!(connected["url"], masked.as_str());
    expect_probe(&format!("rtmp://127.0.0.1:{port}/live/cam?key=s3cret"));
    let metrics = control_get(worker.control, "/metrics").unwrap().text();
    assert!(!metrics.contains("s3cret"), "{metrics}");
    assert_eq!(
        metric(
            &metrics,
            &format!("oryx_forward_connected{{url=\"{masked}\"}}")
        ),
        1.0,
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            &format!("oryx_forward_bytes_total{{url=\"{masked}\"}}")
        ) > 0.0
    );

    // nginx goes away: the forward backs off and says why.
    drop(first);
    let down = wait_state(&worker, "cam", "backoff");
    let error = down["last_error"].as_str().expect("a last_error");
    assert!(!error.is_empty() && !error.contains("s3cret"), "{down}");

    // nginx comes back on the same port: the forward resumes by itself.
    let _second = nginx_rtmp::start(dir.path(), "nginx-2", port, None);
    let resumed = wait_state(&worker, "cam", "connected");
    assert!(resumed["reconnects"].as_u64().unwrap() >= 1, "{resumed}");
    expect_probe(&format!("rtmp://127.0.0.1:{port}/live/cam"));
    let metrics = control_get(worker.control, "/metrics").unwrap().text();
    assert!(
        metric(
            &metrics,
            &format!("oryx_forward_reconnects_total{{url=\"{masked}\"}}")
        ) >= 1.0,
        "{metrics}"
    );

    // The publisher leaves: so does its forward, from the API and from /metrics.
    drop(publisher);
    expect_within(Duration::from_secs(20), "the forward to end", || {
        forward_state(&worker, "cam").is_none().then_some(())
    });
    let metrics = control_get(worker.control, "/metrics").unwrap().text();
    assert!(!metrics.contains(&masked), "{metrics}");
}

#[test]
fn rtmps_forward_trusts_a_private_ca_through_nginx_stream_tls() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path(), 10);
    let ca = PrivateCa::new(dir.path());
    let (rtmp, tls) = (free_port(), free_port());
    let _nginx = nginx_rtmp::start(dir.path(), "nginx", rtmp, Some((tls, &ca)));
    let worker = start_worker(
        forwarding(
            format!("rtmps://localhost:{tls}/live/{{stream}}"),
            Some(ca.ca_pem.display().to_string()),
        ),
        false,
    );
    let _publisher = publish(&media, &worker.rtmp_url("live/secure"), true);
    let connected = wait_state(&worker, "secure", "connected");
    assert_eq!(connected["last_error"], Value::Null, "{connected}");
    expect_probe(&format!("rtmp://127.0.0.1:{rtmp}/live/secure"));
}

#[test]
fn rtmps_forward_without_the_ca_backs_off_with_the_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path(), 10);
    let ca = PrivateCa::new(dir.path());
    let (rtmp, tls) = (free_port(), free_port());
    let _nginx = nginx_rtmp::start(dir.path(), "nginx", rtmp, Some((tls, &ca)));
    let worker = start_worker(
        forwarding(format!("rtmps://localhost:{tls}/live/{{stream}}"), None),
        false,
    );
    let _publisher = publish(&media, &worker.rtmp_url("live/untrusted"), true);
    let down = wait_state(&worker, "untrusted", "backoff");
    let error = down["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("TLS"), "{down}");
}

/// A relay to `to` that passes what the client sends at about `rate` bytes per second, with small
/// socket buffers, so the client's writes back up (what a target on a slow uplink looks like).
fn throttled_relay(to: u16, rate: usize) -> u16 {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_reuse_address(true).unwrap();
    let port = free_port();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    socket.listen(8).unwrap();
    let listener: TcpListener = socket.into();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            let (mut back_from, mut back_to) =
                (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut back_from, &mut back_to));
            std::thread::spawn(move || {
                let (mut client, mut server) = (client, server);
                let mut buf = vec![0u8; rate / 10];
                while let Ok(n) = client.read(&mut buf) {
                    if n == 0 || server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    port
}

#[test]
fn a_slow_target_is_skipped_ahead_while_the_workers_players_play_on() {
    let dir = tempfile::tempdir().unwrap();
    // About 1 Mbit/s, a keyframe every second; the relay passes 16 KiB/s.
    let media = dir.path().join("busy.flv");
    make_flv(&media, "640x360", 10, 25);
    let port = free_port();
    let _nginx = nginx_rtmp::start(dir.path(), "nginx", port, None);
    let relay = throttled_relay(port, 16 * 1024);
    let mut settings = forwarding(format!("rtmp://127.0.0.1:{relay}/live/{{stream}}"), None);
    settings.player_queue_bytes = 512 * 1024;
    let worker = start_worker(settings, false);
    let _publisher = publish(&media, &worker.rtmp_url("live/slow"), true);
    wait_state(&worker, "slow", "connected");
    let recorded = dir.path().join("player.flv");
    let player = play_to_file(
        &worker.http_url("live/slow.flv"),
        &recorded,
        dir.path().join("player.log"),
    );

    let skipping = expect_within(Duration::from_secs(60), "skipped frames", || {
        forward_state(&worker, "slow").filter(|f| f["skipped_frames"].as_u64() > Some(0))
    });
    assert_eq!(skipping["state"], "connected", "{skipping}");
    // Skipped further while the player records a few more GOPs.
    let before = skipping["skipped_frames"].as_u64().unwrap();
    expect_within(Duration::from_secs(60), "more skipped frames", || {
        forward_state(&worker, "slow").filter(|f| f["skipped_frames"].as_u64() > Some(before))
    });
    drop(player);

    // The worker's own player got every frame: no gap in its video timestamps.
    let dts = video_dts(&recorded);
    assert!(dts.len() > 50, "the player recorded {} frames", dts.len());
    let widest = dts.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(widest <= 500, "a {widest} ms gap in what the player got");
}
