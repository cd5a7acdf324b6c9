//! RTMP players across an encoder reconnect: within `play-wait` the unpublish is not announced (ffmpeg
//! and rtmpdump stop at `NetStream.Play.UnpublishNotify`), and the play goes on with the new
//! publisher's sequence headers, timestamps continuing.

mod common;

use common::media::{file_len, make_media, video_dts};
use common::wait::expect_within;
use common::*;
use oryx::media::flv::{self, TagKind};
use oryx::rtmp::client::{ClientEvent, ClientMode};
use oryx::rtmp::message::MediaKind;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECS: Duration = Duration::from_secs(10);

#[test]
fn rtmpdump_keeps_receiving_across_an_ffmpeg_publisher_restart() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 6);
    let url = worker.rtmp_url("live/again");
    let dump = worker.dir.path().join("dump.flv");
    let mut publisher = publish(&media, &url, true);
    let mut rtmpdump = ChildGuard(
        Command::new("rtmpdump")
            .args(["-q", "--live", "-r", &url, "-o"])
            .arg(&dump)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rtmpdump starts"),
    );
    expect_within(Duration::from_secs(15), "rtmpdump's first bytes", || {
        (file_len(&dump) > 100_000).then_some(())
    });

    // The encoder dies (SIGKILL: no deleteStream) and is started again.
    drop(publisher);
    std::thread::sleep(Duration::from_millis(1000));
    let before = file_len(&dump);
    publisher = publish(&media, &url, true);
    expect_within(Duration::from_secs(20), "bytes of the republish", || {
        (file_len(&dump) > before + 150_000).then_some(())
    });
    assert!(
        rtmpdump.wait_timeout(Duration::from_millis(10)).is_none(),
        "rtmpdump stopped at the unpublish"
    );
    drop(publisher);
    unsafe {
        libc::kill(rtmpdump.pid() as i32, libc::SIGINT);
    }
    rtmpdump.wait_timeout(Duration::from_secs(5));

    // Both publishes are in the dump: each starts with its sequence headers.
    let mut reader = flv::FlvReader::new();
    reader.push(&std::fs::read(&dump).unwrap());
    let mut sequence_headers = 0;
    while let Ok(Some(tag)) = reader.next_tag() {
        if tag.kind == TagKind::Video && flv::is_avc_sequence_header(&tag.payload) {
            sequence_headers += 1;
        }
    }
    assert_eq!(sequence_headers, 2);
    // One FLV, both codecs, video that goes on across the restart: no step back, no gap.
    assert_eq!(probe_codecs(&dump.display().to_string()), ["aac", "h264"]);
    let dts = video_dts(&dump);
    assert!(dts.len() > 50, "{} video packets", dts.len());
    assert!(
        dts.windows(2).all(|w| w[1] >= w[0] && w[1] - w[0] <= 1000),
        "video DTS jump across the restart: {dts:?}"
    );
}

fn statuses(events: &[ClientEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Status { code, .. } => Some(code.clone()),
            _ => None,
        })
        .collect()
}

/// Pump `client` for `time`, returning every event.
fn events_for(client: &mut TestClient, time: Duration) -> Vec<ClientEvent> {
    let deadline = Instant::now() + time;
    while Instant::now() < deadline && client.pump() {}
    client.events.drain(..).collect()
}

fn publish_frames(client: &mut TestClient, ts0: u32, count: u32) {
    client
        .session
        .send_media(MediaKind::Video, ts0, &[0x17, 0, 0, 0, 0, 1, 2, 3]);
    for i in 0..count {
        let key = if i % 25 == 0 { 0x17 } else { 0x27 };
        client
            .session
            .send_media(MediaKind::Video, ts0 + i * 40, &[key, 1, 0, 0, 0, 9, 9]);
    }
    client.flush().unwrap();
}

#[test]
fn a_republish_within_play_wait_is_not_announced_and_starts_with_sequence_headers() {
    let worker = start_worker(settings(), false);
    let url = worker.rtmp_url("live/quiet");
    let mut first = TestClient::connect(&url, ClientMode::Publish);
    assert!(first
        .wait_for(SECS, |e| matches!(e, ClientEvent::Started))
        .is_some());
    publish_frames(&mut first, 0, 30);
    let mut player = TestClient::connect(&url, ClientMode::Play);
    let before = events_for(&mut player, Duration::from_millis(1500));
    assert!(before
        .iter()
        .any(|e| matches!(e, ClientEvent::Media { .. })));

    drop(first);
    // The first publisher's close may not have reached the worker yet: retry until accepted.
    let mut second = expect_within(SECS, "the republish to be accepted", || {
        let mut client = TestClient::connect(&url, ClientMode::Publish);
        client
            .wait_for(Duration::from_secs(2), |e| {
                matches!(e, ClientEvent::Started)
            })
            .map(|_| client)
    });
    publish_frames(&mut second, 0, 30);
    let after = events_for(&mut player, Duration::from_millis(1500));
    let codes = statuses(&after);
    assert!(
        !codes.iter().any(|c| c.contains("Unpublish")),
        "the unpublish was announced: {codes:?}"
    );
    let media: Vec<&[u8]> = after
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Media {
                kind: MediaKind::Video,
                payload,
                ..
            } => Some(&payload[..]),
            _ => None,
        })
        .collect();
    // The new publisher's sequence header, then its cached GOP (keyframe first).
    assert!(media.len() >= 2, "{} video messages", media.len());
    assert_eq!(media[0][..2], [0x17, 0], "no sequence header first");
    assert_eq!(
        media[1][..2],
        [0x17, 1],
        "no keyframe after the sequence header"
    );
}
