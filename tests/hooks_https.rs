//! Hooks over HTTPS with a private CA (a real ffmpeg publish allowed and denied), and refusals that
//! show clients a generic reason, never the hook URL (RTMP onStatus, rtmpdump, the HTTP-FLV body).

mod common;

use common::media::make_media;
use common::private_ca::PrivateCa;
use common::{publish, settings, start_worker, wait_until};
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECS: Duration = Duration::from_secs(15);
const SECRET: &str = "s3cret-hook-key";

/// A hook server over HTTPS that allows `?token=good` and records every body.
fn https_hook(ca: &PrivateCa) -> (u16, Arc<Mutex<Vec<String>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let addr = ca.serve(Arc::new(move |_path: &str, body: &[u8]| {
        let body = String::from_utf8_lossy(body).into_owned();
        let allow = body.contains("\"param\":\"?token=good\"");
        seen.lock().unwrap().push(body);
        (200, if allow { "0" } else { "{\"code\":403}" }.to_string())
    }));
    (addr.port(), bodies)
}

#[test]
fn an_https_hook_with_a_private_ca_allows_and_denies_a_real_ffmpeg_publish() {
    let dir = tempfile::tempdir().unwrap();
    let ca = PrivateCa::new(dir.path());
    let (port, bodies) = https_hook(&ca);
    let mut s = settings();
    s.hooks.on_publish = vec![format!("https://localhost:{port}/auth?key={SECRET}")];
    s.hooks.ca = Some(ca.ca_pem.display().to_string());
    let worker = start_worker(s, false);
    let media = make_media(dir.path(), 2);

    // Allowed: the stream plays while ffmpeg publishes.
    let good = publish(&media, &worker.rtmp_url("live/ok?token=good"), true);
    assert!(
        common::media::probe(&worker.rtmp_url("live/ok")),
        "the allowed publish should play"
    );
    assert!(bodies
        .lock()
        .unwrap()
        .iter()
        .any(|b| b.contains("\"action\":\"on_publish\"") && b.contains("\"stream\":\"ok\"")));
    drop(good);

    // Denied: ffmpeg gives up.
    let mut bad = publish(&media, &worker.rtmp_url("live/no?token=bad"), false);
    let status = bad
        .wait_timeout(SECS)
        .expect("a denied ffmpeg should give up");
    assert!(!status.success());
    assert!(bodies
        .lock()
        .unwrap()
        .iter()
        .any(|b| b.contains("\"stream\":\"no\"")));
}

#[test]
fn an_https_hook_signed_by_an_untrusted_ca_denies() {
    let dir = tempfile::tempdir().unwrap();
    let ca = PrivateCa::new(dir.path());
    let (port, bodies) = https_hook(&ca);
    // No `ca`: the Web PKI roots do not know this CA, so the hook cannot be asked (on-error deny).
    let mut s = settings();
    s.hooks.on_publish = vec![format!("https://localhost:{port}/auth")];
    let worker = start_worker(s, false);
    let (raw, status) =
        rtmp_until_status(&worker.rtmp_url("live/x?token=good"), ClientMode::Publish);
    assert!(
        matches!(&status, Some(ClientEvent::Status { level, .. }) if level == "error"),
        "{status:?}"
    );
    assert!(contains(&raw, b"unauthorized"));
    assert!(
        bodies.lock().unwrap().is_empty(),
        "TLS must fail before a request"
    );
}

/// A plain HTTP hook that answers 403 to everything.
fn refusing_hook() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/auth?key={SECRET}",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let mut buf = [0u8; 8192];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 1\r\nConnection: close\r\n\r\n1",
            );
        }
    });
    url
}

/// A hook URL on a port nothing listens on.
fn unreachable_hook() -> String {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    format!("http://{addr}/gone?key={SECRET}")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every byte a refused client could see must be free of the hook URL and its key.
fn assert_no_hook_url(seen: &[u8], hook: &str, what: &str) {
    let host_port = hook
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    for secret in [SECRET, host_port, "/auth", "/gone", "hook"] {
        assert!(
            !contains(seen, secret.as_bytes()),
            "{what} shows {secret:?}: {:?}",
            String::from_utf8_lossy(seen)
        );
    }
}

/// Connect with oryx's RTMP client, recording every byte received, until a status arrives.
fn rtmp_until_status(url: &str, mode: ClientMode) -> (Vec<u8>, Option<ClientEvent>) {
    let config = ClientConfig::from_url(url, mode).unwrap();
    let mut sock = TcpStream::connect(&config.address).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut session = ClientSession::new(config);
    let mut raw = Vec::new();
    let deadline = Instant::now() + SECS;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        let out = session.take_output();
        if !out.is_empty() && sock.write_all(&out).is_err() {
            break;
        }
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                let Ok(events) = session.feed(&buf[..n]) else {
                    break;
                };
                if let Some(status) = events
                    .into_iter()
                    .find(|e| matches!(e, ClientEvent::Status { .. } | ClientEvent::Started))
                {
                    // Whatever else the server sends before it closes is client-visible too.
                    while let Ok(n) = sock.read(&mut buf) {
                        if n == 0 || raw.len() > 1 << 20 {
                            break;
                        }
                        raw.extend_from_slice(&buf[..n]);
                    }
                    return (raw, Some(status));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    (raw, None)
}

#[test]
fn refused_clients_see_a_generic_reason_and_never_the_hook_url() {
    let denying = refusing_hook();
    let gone = unreachable_hook();
    let mut s = settings();
    s.hooks.on_publish = vec![denying.clone()];
    s.hooks.on_play = vec![gone.clone()];
    let worker = start_worker(s, false);

    // A hook that denies (HTTP 403): RTMP publish.
    let (raw, status) = rtmp_until_status(&worker.rtmp_url("live/a"), ClientMode::Publish);
    match &status {
        Some(ClientEvent::Status {
            level, description, ..
        }) => {
            assert_eq!(level, "error");
            assert_eq!(description, "unauthorized");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_no_hook_url(&raw, &denying, "RTMP publish onStatus");

    // A hook that cannot be reached: RTMP play, with oryx's client and with rtmpdump.
    let (raw, status) = rtmp_until_status(&worker.rtmp_url("live/a"), ClientMode::Play);
    assert!(
        matches!(&status, Some(ClientEvent::Status { description, .. }) if description == "unauthorized"),
        "{status:?}"
    );
    assert_no_hook_url(&raw, &gone, "RTMP play onStatus");
    let output = Command::new("timeout")
        .args(["20", "rtmpdump", "-V", "-m", "10", "-o", "/dev/null", "-r"])
        .arg(worker.rtmp_url("live/a"))
        .output()
        .expect("rtmpdump runs");
    let mut seen = output.stdout.clone();
    seen.extend_from_slice(&output.stderr);
    assert!(
        contains(&seen, b"NetStream.Play.Unauthorized"),
        "rtmpdump should show the refusal: {}",
        String::from_utf8_lossy(&seen)
    );
    assert_no_hook_url(&seen, &gone, "rtmpdump");

    // HTTP-FLV: the 403 body.
    let answer = common::http::get(worker.http, "/live/a.flv").expect("an HTTP answer");
    assert_eq!(answer.status, 403);
    assert_eq!(answer.text(), "refused: unauthorized\n");
    let mut whole = format!("{:?}", answer.headers).into_bytes();
    whole.extend_from_slice(answer.text().as_bytes());
    assert_no_hook_url(&whole, &gone, "the HTTP-FLV answer");

    // The worker keeps serving: an unhooked HTTP endpoint still answers.
    assert!(wait_until(Duration::from_secs(5), || {
        common::http::get(worker.control, "/readyz").is_some_and(|a| a.status == 200)
    }));
}
