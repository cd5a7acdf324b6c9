//! Players of a stream that never comes wait a bounded time (`play-wait` for RTMP, `http-flv wait`
//! for HTTP-FLV), are then told and closed, and say so in the log; refusals at `max-connections`
//! are logged with the limit, and the slots of closed waiters serve new clients.

mod common;

use common::cluster::{plan, worker, worker_role, write_plan, Proc};
use common::http::http_get;
use common::process::ChildGuard;
use common::wait::wait_until;
use common::TestClient;
use oryx::compile::plan::{WorkerKind, WorkerPlan};
use oryx::rtmp::client::{ClientEvent, ClientMode};
use oryx::rtmp::message::MediaKind;
use std::process::{Command, Stdio};
use std::time::Duration;

const SECS: Duration = Duration::from_secs(10);

/// An embedded worker with `play-wait` and `http-flv wait` of 1 s, logging to a file.
fn start(max_connections: u32) -> (Proc, WorkerPlan, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut w = worker("w", WorkerKind::Embedded, None);
    w.stream.play_wait_ms = 1000;
    w.stream.http_flv.wait_ms = 1000;
    w.stream.max_connections = max_connections;
    let file = dir.path().join("plan.json");
    write_plan(&file, &plan(vec![w.clone()]));
    let proc = worker_role(&file, &w, dir.path());
    (proc, w, dir)
}

fn url(w: &WorkerPlan, path: &str) -> String {
    format!("rtmp://{}/{}", w.rtmp, path)
}

fn started(e: &ClientEvent) -> bool {
    matches!(e, ClientEvent::Started)
}

fn status_is(code: &'static str) -> impl Fn(&ClientEvent) -> bool {
    move |e| matches!(e, ClientEvent::Status { code: c, .. } if c == code)
}

/// Whether the server closes `client` within `timeout`.
fn closed_within(client: &mut TestClient, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if !client.pump() {
            return true;
        }
    }
    false
}

#[test]
fn players_of_a_stream_never_published_are_told_closed_and_logged() {
    let (worker, w, _dir) = start(0);
    let mut player = TestClient::connect(&url(&w, "live/never"), ClientMode::Play);
    assert!(player.wait_for(SECS, started).is_some());
    let not_found = player.wait_for(SECS, status_is("NetStream.Play.StreamNotFound"));
    assert!(
        matches!(&not_found, Some(ClientEvent::Status { level, .. }) if level == "error"),
        "{not_found:?}"
    );
    assert!(closed_within(&mut player, SECS), "the player stayed open");

    let (status, _) = http_get(w.http, "/live/never.flv").unwrap();
    assert_eq!(status, 404);

    // A real player stops by itself too, with an error.
    let mut ffprobe = ChildGuard(
        Command::new("ffprobe")
            .args(["-v", "error", &url(&w, "live/never")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffprobe starts"),
    );
    let exit = ffprobe.wait_timeout(Duration::from_secs(20));
    assert!(
        exit.is_some_and(|s| !s.success()),
        "ffprobe of a stream never published: {exit:?}"
    );

    assert!(
        wait_until(SECS, || {
            let log = worker.log_text();
            log.contains("no publisher within play-wait")
                && log.contains("no publisher within http-flv wait")
        }),
        "{}",
        worker.log_text()
    );
    assert!(worker.log_text().contains("live/never"));
}

#[test]
fn a_publisher_that_does_not_come_back_ends_the_play_with_unpublish_notify() {
    let (worker, w, _dir) = start(0);
    let stream = url(&w, "live/gone");
    let mut publisher = TestClient::connect(&stream, ClientMode::Publish);
    assert!(publisher.wait_for(SECS, started).is_some());
    publisher
        .session
        .send_media(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0, 1, 2, 3]);
    publisher
        .session
        .send_media(MediaKind::Video, 0, &[0x17, 1, 0, 0, 0, 9, 9]);
    publisher.flush().unwrap();
    let mut player = TestClient::connect(&stream, ClientMode::Play);
    assert!(player
        .wait_for(SECS, |e| matches!(
            e,
            ClientEvent::Media {
                kind: MediaKind::Video,
                ..
            }
        ))
        .is_some());
    drop(publisher);
    assert!(player
        .wait_for(SECS, status_is("NetStream.Play.UnpublishNotify"))
        .is_some());
    assert!(closed_within(&mut player, SECS), "the player stayed open");
    assert!(
        wait_until(SECS, || worker
            .log_text()
            .contains("did not come back within play-wait")),
        "{}",
        worker.log_text()
    );
}

#[test]
fn refusals_at_max_connections_are_logged_and_waiters_free_their_slots() {
    let (worker, w, _dir) = start(2);
    // A publisher and a player of its stream hold both slots (neither waits for anything).
    let live = url(&w, "live/on");
    let mut publisher = TestClient::connect(&live, ClientMode::Publish);
    assert!(publisher.wait_for(SECS, started).is_some());
    let mut player = TestClient::connect(&live, ClientMode::Play);
    assert!(player.wait_for(SECS, started).is_some());

    // The next client is refused, told the limit, and the log says why.
    let nobody = url(&w, "live/nobody");
    let mut refused_client = TestClient::connect(&nobody, ClientMode::Play);
    let refused = refused_client.wait_for(SECS, |e| {
        matches!(e, ClientEvent::CommandError { .. } | ClientEvent::Started)
    });
    assert!(
        matches!(&refused, Some(ClientEvent::CommandError { description }) if description.contains("max-connections 2")),
        "{refused:?}"
    );
    let (status, body) = http_get(w.http, "/live/nobody.flv").unwrap();
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("max-connections 2"));
    assert!(
        wait_until(SECS, || worker
            .log_text()
            .contains("max-connections 2 reached")),
        "{}",
        worker.log_text()
    );

    // Players of a stream that never comes take the slots, are closed after play-wait, and their
    // slots serve new clients.
    drop((publisher, player, refused_client));
    let mut waiters = Vec::new();
    for _ in 0..2 {
        waiters.push(common::wait::expect_within(SECS, "a free slot", || {
            let mut waiter = TestClient::connect(&nobody, ClientMode::Play);
            waiter.wait_for(SECS, started).map(|_| waiter)
        }));
    }
    for waiter in &mut waiters {
        assert!(closed_within(waiter, SECS), "a waiter stayed open");
    }
    assert!(wait_until(SECS, || {
        let mut next = TestClient::connect(&nobody, ClientMode::Play);
        next.wait_for(Duration::from_secs(2), started).is_some()
    }));
}
