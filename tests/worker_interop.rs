//! The embedded worker against real clients: ffmpeg publishes; ffprobe, ffmpeg and rtmpdump play over
//! RTMP; ffprobe and ffmpeg play HTTP-FLV; two streams at once; play before publish.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// `ffmpeg -i URL -t SECS -f null -`: (exit ok, error lines).
fn decode(url: &str, seconds: u32) -> (bool, String) {
    let output = Command::new("timeout")
        .args(["30", "ffmpeg", "-hide_banner", "-v", "error", "-i", url])
        .args(["-t", &seconds.to_string(), "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn ffmpeg_publishes_and_real_players_play_rtmp_and_http_flv() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 6);
    let _pub_a = publish(&media, &worker.rtmp_url("live/a"), true);
    let _pub_b = publish(&media, &worker.rtmp_url("live/b?token=x"), true);
    std::thread::sleep(Duration::from_millis(1500));

    for url in [
        worker.rtmp_url("live/a"),
        worker.rtmp_url("live/b"),
        worker.http_url("live/a.flv"),
    ] {
        assert_eq!(probe_codecs(&url), vec!["aac", "h264"], "{url}");
    }
    for url in [worker.rtmp_url("live/a"), worker.http_url("live/b.flv")] {
        let (ok, errors) = decode(&url, 3);
        assert!(ok, "{url}: {errors}");
        assert!(errors.trim().is_empty(), "{url}: decoder errors: {errors}");
    }

    let out = worker.dir.path().join("dump.flv");
    // rtmpdump ignores --stop on live streams: interrupt it after 4 s, then check what it saved.
    Command::new("timeout")
        .args(["-s", "INT", "4", "rtmpdump", "-q", "--live", "-r"])
        .arg(worker.rtmp_url("live/a"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("rtmpdump runs");
    assert_eq!(probe_codecs(out.to_str().unwrap()), vec!["aac", "h264"]);
    assert!(std::fs::metadata(&out).unwrap().len() > 50_000);

    // An unknown stream over HTTP-FLV: 404 after the wait.
    let (status, _) = http_get(worker.http, "/live/nothing.flv").unwrap();
    assert_eq!(status, 404);
}

#[test]
fn player_started_before_the_publisher_gets_the_stream() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 6);
    let url = worker.rtmp_url("live/late");
    let player = std::thread::spawn(move || decode(&url, 3));
    std::thread::sleep(Duration::from_millis(1500));
    let _publisher = publish(&media, &worker.rtmp_url("live/late"), true);
    let (ok, errors) = player.join().unwrap();
    assert!(ok, "{errors}");
}

#[test]
fn second_publisher_is_refused() {
    let worker = start_worker(settings(), false);
    let media = make_media(worker.dir.path(), 6);
    let _first = publish(&media, &worker.rtmp_url("live/s"), true);
    std::thread::sleep(Duration::from_millis(1000));
    let mut second = publish(&media, &worker.rtmp_url("live/s"), false);
    let status = second
        .wait_timeout(Duration::from_secs(10))
        .expect("second publisher should be refused quickly");
    assert!(!status.success());
    // The first one still serves players.
    assert_eq!(
        probe_codecs(&worker.rtmp_url("live/s")),
        vec!["aac", "h264"]
    );
}
