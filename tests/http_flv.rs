//! HTTP-FLV on the worker's HTTP port: waits for a late publisher, streams an FLV with CORS headers,
//! resolves the vhost from `?vhost=`, answers 404 for paths that are not streams, and keeps a response
//! open across a publisher's reconnect within the wait window.

mod common;

use common::media::{file_len, video_dts};
use common::wait::expect_within;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// GET `path` and read until `want` bytes of body or the timeout: (head, body).
fn get_prefix(worker: &Worker, path: &str, want: usize) -> (String, Vec<u8>) {
    let mut sock = TcpStream::connect(worker.http).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(sock, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = sock.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            if data.len() >= end + 4 + want {
                break;
            }
        }
    }
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    (
        String::from_utf8_lossy(&data[..end]).to_lowercase(),
        data[end + 4..].to_vec(),
    )
}

#[test]
fn flv_waits_for_a_late_publisher_and_streams_with_cors() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 6);
    let url = worker.rtmp_url("live/late?vhost=v1");
    let publisher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        publish(&media, &url, true)
    });
    let (head, body) = get_prefix(&worker, "/live/late.flv?vhost=v1", 64 * 1024);
    let _publisher = publisher.join().unwrap();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: video/x-flv"), "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    // Chunked transfer: the first chunk line, then the FLV signature.
    let text = String::from_utf8_lossy(&body);
    let flv_at = text.find("FLV").expect("FLV signature in the body");
    assert!(flv_at < 16, "{flv_at}");
    // The default vhost has no such stream.
    let (status, _) = http_get(worker.http, "/live/late.flv").unwrap();
    assert_eq!(status, 404);
    let (status, _) = http_get(worker.http, "/nothing-here").unwrap();
    assert_eq!(status, 404);
}

#[test]
fn flv_response_survives_a_publisher_reconnect_within_the_wait_window() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 6);
    let url = worker.rtmp_url("live/again");
    let body = worker.dir.path().join("body.flv");
    let mut publisher = publish(&media, &url, true);
    let mut reader = ChildGuard(
        std::process::Command::new("curl")
            .args(["-sN", "--max-time", "60", "-o"])
            .arg(&body)
            .arg(worker.http_url("live/again.flv"))
            .spawn()
            .expect("curl starts"),
    );
    expect_within(Duration::from_secs(15), "the first bytes", || {
        (file_len(&body) > 100_000).then_some(())
    });
    // The encoder drops and comes back within the wait window (3 s in the test settings).
    drop(publisher);
    std::thread::sleep(Duration::from_millis(500));
    let before = file_len(&body);
    publisher = publish(&media, &url, true);
    expect_within(Duration::from_secs(15), "bytes of the republish", || {
        (file_len(&body) > before + 100_000).then_some(())
    });
    assert!(
        reader.wait_timeout(Duration::from_millis(10)).is_none(),
        "the response ended at the unpublish"
    );
    // One FLV, both codecs, timestamps that never go back across the reconnect.
    let codecs = probe_codecs(&body.display().to_string());
    assert_eq!(codecs, ["aac", "h264"]);
    let dts = video_dts(&body);
    assert!(dts.len() > 50, "{} video packets", dts.len());
    assert!(
        dts.windows(2).all(|w| w[1] >= w[0]),
        "video DTS went backwards: {dts:?}"
    );
    // No publisher for longer than the window: the response ends.
    drop(publisher);
    let ended = reader.wait_timeout(Duration::from_secs(15));
    assert!(ended.is_some(), "the response never ended");
}
