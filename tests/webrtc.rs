//! WebRTC end to end with real clients: Chromium plays with WHEP and publishes with WHIP
//! (fake camera), FFmpeg 9 publishes with its `whip` muxer and over RTMP with H.264 + Opus,
//! ffprobe reads WHIP-published streams over RTMP/HLS; bad SDP and garbage UDP are refused.

mod common;

use common::chromium::{self, number, Page};
use common::ffmpeg9;
use common::webrtc::{free_udp, webrtc_worker};
use common::worker::Worker;
use oryx::compile::plan::WebRtcPlan;
use std::net::UdpSocket;
use std::time::Duration;

fn playing(report: &chromium::Report) -> bool {
    number(report, "frames") >= 30.0 && number(report, "t") >= 1.0
}

/// A page playing `url` over WHEP, once it plays video and audio (40 s at most; else a panic
/// saying `what` it did not play), and that report.
fn plays_with_audio(url: &str, what: &str) -> (Page, chromium::Report) {
    let page = Page::start(&chromium::whep_script(url));
    let report = page
        .wait(Duration::from_secs(40), |r| {
            playing(r) && number(r, "audio") >= 20.0
        })
        .unwrap_or_else(|last| panic!("Chromium did not play {what}: {last:?}"));
    (page, report)
}

/// FFmpeg 9 and Chromium (`None`, skipped, without either), a WebRTC worker, and the H.264/Opus
/// clip in a temporary directory.
fn worker_with_clip() -> Option<(
    std::path::PathBuf,
    Worker,
    tempfile::TempDir,
    std::path::PathBuf,
)> {
    let ffmpeg = ffmpeg9::require()?;
    if !Page::available() {
        return None;
    }
    let (worker, _) = webrtc_worker();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.flv");
    ffmpeg9::make_whip_clip(&ffmpeg, &clip);
    Some((ffmpeg, worker, dir, clip))
}

#[test]
fn an_rtmp_stream_with_h264_and_opus_plays_in_chromium_over_whep() {
    let Some((ffmpeg, worker, _dir, clip)) = worker_with_clip() else {
        return;
    };
    let _publisher = ffmpeg9::publish(&ffmpeg, &clip, &worker.rtmp_url("live/cam"));
    let url = worker.http_url("live/cam/whep");
    let (_page, report) = plays_with_audio(&url, "over WHEP with audio");
    assert_eq!(report["status"], "201");
    assert!(
        report["location"].starts_with("/live/cam/whep/"),
        "{report:?}"
    );
    assert_eq!(number(&report, "width"), 320.0);
}

#[test]
fn chromium_publishes_with_whip_and_another_page_plays_it_with_whep_and_ffprobe_over_rtmp() {
    if !Page::available() {
        return;
    }
    let (worker, _) = webrtc_worker();
    let publisher = Page::start(&chromium::whip_script(&worker.http_url("live/cam/whip")));
    let sent = publisher
        .wait(Duration::from_secs(40), |r| {
            r.get("state").map(String::as_str) == Some("connected") && number(r, "frames") >= 10.0
        })
        .unwrap_or_else(|last| panic!("Chromium did not publish over WHIP: {last:?}"));
    assert_eq!(sent["codec"], "video/H264", "{sent:?}");
    let url = worker.http_url("live/cam/whep");
    let _player = plays_with_audio(&url, "the WHIP stream over WHEP");
    // Over RTMP the Opus track is E-RTMP Opus, which FFmpeg 9 reads.
    if let Some(ffmpeg) = ffmpeg9::find() {
        let read = ffmpeg9::read(&ffmpeg, &worker.rtmp_url("live/cam"), 2);
        assert!(read.ok, "{}", read.log);
        assert!(
            read.codecs.contains(&"video: h264".to_string()),
            "{:?}",
            read.codecs
        );
        assert!(
            read.codecs.contains(&"audio: opus".to_string()),
            "{:?}",
            read.codecs
        );
    }
}

#[test]
fn ffmpeg9_publishes_with_whip_and_chromium_plays_it() {
    let Some((ffmpeg, worker, _dir, clip)) = worker_with_clip() else {
        return;
    };
    let _whip = ffmpeg9::publish_whip(&ffmpeg, &clip, &worker.http_url("live/ff/whip"));
    plays_with_audio(&worker.http_url("live/ff/whep"), "FFmpeg's WHIP stream");
}

#[test]
fn malformed_offers_and_garbage_datagrams_are_refused_cleanly() {
    let (worker, udp_addr) = webrtc_worker();
    let post = |path: &str, content_type: &str, body: &str| {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        common::http::raw_request(worker.http, request.as_bytes()).expect("an answer")
    };
    let bad = post("/live/s/whep", "application/sdp", "this is not SDP");
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("malformed SDP offer"), "{}", bad.text());
    let wrong_type = post("/live/s/whip", "text/plain", "v=0");
    assert_eq!(wrong_type.status, 415);
    let srs_shape = post(
        "/rtc/v1/whep/?app=live&stream=s",
        "application/sdp",
        "v=0\r\n",
    );
    assert_eq!(srs_shape.status, 400);
    let unknown =
        common::http::request(worker.http, "DELETE", "/live/s/whep/nosuchsession").unwrap();
    assert_eq!(unknown.status, 404);

    // Garbage, a STUN request for no session, a DTLS-looking record: no answer, no harm.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let target = udp_addr;
    for datagram in [
        vec![0u8; 1],
        vec![0xff; 1500],
        oryx::webrtc::stun::binding_request("nobody:x"),
        vec![0x16; 200],
    ] {
        udp.send_to(&datagram, target).unwrap();
    }
    let mut buf = [0u8; 2048];
    assert!(
        udp.recv_from(&mut buf).is_err(),
        "the worker answered garbage"
    );
    // Still serving.
    let again = post("/live/s/whep", "application/sdp", "garbage");
    assert_eq!(again.status, 400);
}

/// The worker's WebRTC clients (`rtc-play`, `rtc-publish`) in its API.
fn rtc_clients(worker: &Worker) -> usize {
    let answer = common::control::get(worker.control, "/api/v1/clients/").expect("the API answers");
    answer.json()["clients"].as_array().map_or(0, |c| {
        c.iter()
            .filter(|c| c["type"].as_str().is_some_and(|t| t.starts_with("rtc-")))
            .count()
    })
}

#[test]
fn a_browser_that_disappears_is_reaped_within_the_ice_timeout() {
    if !Page::available() {
        return;
    }
    let (worker, _) = webrtc_worker();
    let mut publisher = Page::start(&chromium::whip_script(&worker.http_url("live/gone/whip")));
    publisher
        .wait(Duration::from_secs(40), |r| {
            number(r, "frames") >= 10.0 && r["state"] == "connected"
        })
        .unwrap_or_else(|last| panic!("Chromium did not publish: {last:?}"));
    assert_eq!(rtc_clients(&worker), 1);
    publisher.kill();
    // ICE timeout (10 s) plus the reaper's second, with room for a loaded machine.
    common::wait::expect_within(Duration::from_secs(20), "the session to be reaped", || {
        (rtc_clients(&worker) == 0).then_some(())
    });
    // The stream is free again: a new publisher is not refused as a second one.
    let again = Page::start(&chromium::whip_script(&worker.http_url("live/gone/whip")));
    let report = again
        .wait(Duration::from_secs(40), |r| r["status"] != "0")
        .unwrap_or_else(|last| panic!("no answer: {last:?}"));
    assert_eq!(report["status"], "201", "{report:?}");
}

#[test]
fn the_webrtc_block_reaches_each_worker_of_the_plan() {
    let text = r#"
oryx 1
worker "edge" count=2 {
    webrtc {
        udp listen="0.0.0.0:8000"
        candidate "203.0.113.5"
    }
}
worker "solo" {
    webrtc
}
worker "plain"
"#;
    let options = oryx::compile::Options {
        env: None,
        base_dir: std::env::temp_dir(),
        check_files: false,
    };
    let compiled = oryx::compile::compile("t.kdl", text, &options);
    let plan = compiled.plan.expect("the topology compiles");
    let webrtc = |name: &str| plan.worker(name).unwrap().webrtc.clone();
    let edge1 = webrtc("edge-1").unwrap();
    assert_eq!(edge1.udp, "0.0.0.0:8001".parse().unwrap());
    assert_eq!(edge1.candidates, ["203.0.113.5"]);
    assert_eq!(webrtc("edge-0").unwrap().udp.port(), 8000);
    let solo = webrtc("solo").unwrap();
    assert_eq!(solo.udp.port(), plan.worker("solo").unwrap().http.port());
    assert!(solo.candidates.is_empty());
    assert_eq!(webrtc("plain"), None);
    // Old plans keep their JSON: no `webrtc` key where there is none.
    let json = serde_json::to_value(plan.worker("plain").unwrap()).unwrap();
    assert!(json.get("webrtc").is_none());
}

#[test]
fn whip_and_whep_go_through_the_http_lb_to_the_streams_worker() {
    if !Page::available() {
        return;
    }
    use common::cluster;
    let mut workers = Vec::new();
    for name in ["a", "b"] {
        let mut worker = cluster::worker(name, oryx::compile::plan::WorkerKind::Embedded, None);
        worker.webrtc = Some(WebRtcPlan {
            udp: free_udp(),
            candidates: Vec::new(),
        });
        workers.push(worker);
    }
    let mut plan = cluster::plan(workers);
    plan.http_lb = Some(cluster::lb(&plan.workers));
    let lb = plan.http_lb.clone().unwrap().listen;
    let dir = tempfile::tempdir().unwrap();
    let _up = cluster::up_plan(&plan, dir.path(), 3);

    let publisher = Page::start(&chromium::whip_script(&format!(
        "http://{lb}/live/lb/whip?token=x"
    )));
    let sent = publisher
        .wait(Duration::from_secs(40), |r| {
            number(r, "frames") >= 10.0 && r["state"] == "connected"
        })
        .unwrap_or_else(|last| panic!("Chromium did not publish through the http-lb: {last:?}"));
    assert!(sent["location"].starts_with("/live/lb/whip/"), "{sent:?}");
    let player = Page::start(&chromium::whep_script(&format!(
        "http://{lb}/rtc/v1/whep/?app=live&stream=lb"
    )));
    player
        .wait(Duration::from_secs(40), playing)
        .unwrap_or_else(|last| panic!("Chromium did not play through the http-lb: {last:?}"));
    // DELETE through the LB ends the publisher's session on its worker.
    let delete = common::http::request(lb, "DELETE", &sent["location"]).expect("an answer");
    assert_eq!(delete.status, 200, "{}", delete.text());
}

#[test]
fn an_aac_source_plays_in_chromium_with_its_audio_transcoded_to_opus() {
    if !Page::available() {
        return;
    }
    let (worker, _) = webrtc_worker();
    let dir = tempfile::tempdir().unwrap();
    // Debian's ffmpeg: H.264 + AAC, the usual RTMP source; the worker encodes Opus for WebRTC.
    let media = common::make_media(dir.path(), 6);
    let _publisher = common::publish(&media, &worker.rtmp_url("live/aac"), true);
    common::wait::expect_within(
        Duration::from_secs(20),
        "the stream to be published",
        || common::media::probe(&worker.rtmp_url("live/aac")).then_some(()),
    );
    let url = worker.http_url("live/aac/whep");
    plays_with_audio(&url, "the AAC source with audio");
}
