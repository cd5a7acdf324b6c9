//! Stream names are the client's words: one holding a newline, `[shell] ERROR` and ANSI escapes
//! must never start a log line of its own nor reach the log as a raw control character.

mod common;

use common::cluster::*;
use common::worker::TestClient;
use oryx::compile::plan::WorkerKind;
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode};
use std::time::Duration;

#[test]
fn a_stream_name_with_newlines_and_escapes_never_starts_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let media = make_media(dir.path());
    let w = worker("w", WorkerKind::Embedded, None);
    let plan = plan(vec![w.clone()]);
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let worker = worker_role(&plan_file, &w, dir.path());

    // ffmpeg as the issue wrote it (it may send the escapes as they are, or decoded)...
    let url = format!("rtmp://{}/live/a%0A%5Bshell%5D%20ERROR%20ffmpeg", w.rtmp);
    let _ffmpeg = publish(&media, &url, dir.path().join("ffmpeg.log"));
    // ...and oryx's own client, which sends the raw bytes for sure.
    let forged = "b\n[shell] ERROR forged by a client\x1b[31m red\r\x1b[2K\u{202e}";
    let mut config =
        ClientConfig::from_url(&format!("rtmp://{}/live/x", w.rtmp), ClientMode::Publish).unwrap();
    config.stream = forged.to_string();
    let sock = std::net::TcpStream::connect(w.rtmp).unwrap();
    let mut client = TestClient::over(sock, config);
    let started = client.wait_for(Duration::from_secs(10), |e| {
        matches!(e, ClientEvent::Started | ClientEvent::Status { .. })
    });
    assert!(started.is_some(), "the publish is answered");
    wait_for(Duration::from_secs(15), "both publishes in the log", || {
        let log = worker.log_text();
        (log.contains("forged by a client") && log.contains("ffmpeg")).then_some(())
    });
    drop(client);
    wait_for(Duration::from_secs(10), "the unpublish in the log", || {
        worker.log_text().contains("unpublish").then_some(())
    });

    let log = worker.log_text();
    for line in log.lines() {
        assert!(
            line.starts_with("[worker/w] "),
            "a line not the worker's own: {line:?}"
        );
    }
    assert!(!log.contains('\x1b'), "raw ESC in the log:\n{log}");
    assert!(!log.contains('\r'), "raw CR in the log:\n{log}");
    assert!(
        !log.contains('\u{202e}'),
        "raw bidi override in the log:\n{log}"
    );
    assert!(
        log.contains(r"b\n[shell] ERROR forged by a client\u{1b}[31m red\r"),
        "the name is there, escaped:\n{log}"
    );
}
