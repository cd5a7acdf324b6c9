//! Enhanced RTMP end to end with real clients: FFmpeg 9 publishes HEVC+AAC, AV1+Opus and VP9+Opus
//! through an rtmp-lb to an embedded worker and reads each back over RTMP (through the LB) and
//! HTTP-FLV (from the worker and through an http-lb), decoding without errors; the API reports the codecs. A player that announced only
//! H.264 is told `NetStream.Play.Failed`; a malformed E-RTMP tag closes its publisher only.

mod common;

use common::cluster::*;
use common::ffmpeg9::{self, Clip};
use common::worker::{settings, start_worker, TestClient};
use oryx::compile::plan::WorkerKind;
use oryx::rtmp::client::{ClientConfig, ClientEvent, ClientMode};
use oryx::rtmp::message::MediaKind;
use std::time::Duration;

/// The stream `name` in the worker's `/api/v1/streams/`, once its video and audio are known.
fn api_stream(control_addr: std::net::SocketAddr, name: &str) -> serde_json::Value {
    wait_for(Duration::from_secs(20), "the stream in the API", || {
        let (_, body) = control(control_addr, "GET", "/api/v1/streams/").ok()?;
        let value: serde_json::Value = serde_json::from_str(&body).ok()?;
        let stream = value["streams"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == name)?
            .clone();
        (!stream["video"].is_null() && !stream["audio"].is_null()).then_some(stream)
    })
}

#[test]
fn ffmpeg9_publishes_hevc_av1_and_vp9_through_the_lb_and_reads_them_back() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let worker_plan = worker("w-0", WorkerKind::Embedded, None);
    let mut plan = plan(vec![worker_plan.clone()]);
    plan.rtmp_lb = Some(lb(&plan.workers));
    plan.http_lb = Some(lb(&plan.workers));
    let lb_plan = plan.rtmp_lb.clone().unwrap();
    let http_lb = plan.http_lb.clone().unwrap();
    let plan_file = dir.path().join("plan.json");
    write_plan(&plan_file, &plan);
    let _worker = worker_role(&plan_file, &worker_plan, dir.path());
    let _lb = role("rtmp-lb", &plan, lb_plan.control, dir.path());
    let _http_lb = role("http-lb", &plan, http_lb.control, dir.path());

    // The VP9 publisher announces its codecs in `connect` (`-rtmp_enhanced_codecs`), so the LB's
    // and the worker's E-RTMP answers reach a real client too.
    let hevc = (
        Clip::HevcAac,
        "hevc",
        ["audio: aac", "video: hevc"],
        "H265",
        "AAC",
        None,
    );
    let av1 = (
        Clip::Av1Opus,
        "av1",
        ["audio: opus", "video: av1"],
        "AV1",
        "Opus",
        None,
    );
    let vp9 = (
        Clip::Vp9Opus,
        "vp9",
        ["audio: opus", "video: vp9"],
        "VP9",
        "Opus",
        Some("vp09,Opus"),
    );
    let cases = [hevc, av1, vp9];
    let mut publishers = Vec::new();
    for (clip, name, _, _, _, announce) in &cases {
        let media = dir.path().join(format!("{name}.flv"));
        ffmpeg9::make_clip(&ff, *clip, 4, &media);
        let url = format!("rtmp://{}/live/{name}", lb_plan.listen);
        publishers.push(ffmpeg9::publish_announcing(&ff, &media, &url, *announce));
    }
    for (_, name, codecs, video, audio, _) in &cases {
        let stream = api_stream(worker_plan.control, name);
        assert_eq!(stream["video"]["codec"], *video, "{stream}");
        assert_eq!(stream["video"]["width"], 160, "{stream}");
        assert_eq!(stream["video"]["height"], 96, "{stream}");
        assert!(stream["video"]["profile"].is_string(), "{stream}");
        assert_eq!(stream["audio"]["codec"], *audio, "{stream}");

        for url in [
            format!("rtmp://{}/live/{name}", lb_plan.listen),
            format!("http://{}/live/{name}.flv", worker_plan.http),
            format!("http://{}/live/{name}.flv", http_lb.listen),
        ] {
            let read = ffmpeg9::read(&ff, &url, 3);
            assert!(read.ok, "{url}: {}", read.log);
            assert_eq!(read.codecs, codecs, "{url}: {}", read.log);
            assert!(read.errors.is_empty(), "{url}: {:?}", read.errors);
        }
    }
    drop(publishers);
}

#[test]
fn a_player_that_announced_only_h264_is_refused_an_hevc_stream_with_the_reason() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let worker = start_worker(settings(), false);
    let media = worker.dir.path().join("hevc.flv");
    ffmpeg9::make_clip(&ff, Clip::HevcAac, 3, &media);
    let _publisher = ffmpeg9::publish(&ff, &media, &worker.rtmp_url("live/h"));
    api_stream(worker.control, "h");

    let url = worker.rtmp_url("live/h");
    let mut config = ClientConfig::from_url(&url, ClientMode::Play).unwrap();
    config.fourcc_list = Some(vec!["avc1".into(), "mp4a".into()]);
    let sock = std::net::TcpStream::connect(&config.address).unwrap();
    let mut player = TestClient::over(sock, config);
    let failed = player.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, ClientEvent::Status { code, .. } if code == "NetStream.Play.Failed"),
    );
    let Some(ClientEvent::Status { description, .. }) = failed else {
        panic!("no NetStream.Play.Failed: {:?}", player.events);
    };
    assert!(description.contains("hvc1"), "{description}");

    // A player that announced HEVC, and one that announced nothing (as FFmpeg does), get media.
    for list in [Some(vec!["hvc1".to_string(), "mp4a".into()]), None] {
        let mut config = ClientConfig::from_url(&url, ClientMode::Play).unwrap();
        config.fourcc_list = list.clone();
        let sock = std::net::TcpStream::connect(&config.address).unwrap();
        let mut player = TestClient::over(sock, config);
        let media = player.wait_for(Duration::from_secs(10), |e| {
            matches!(
                e,
                ClientEvent::Media {
                    kind: MediaKind::Video,
                    ..
                }
            )
        });
        assert!(media.is_some(), "{list:?}: {:?}", player.events);
    }
}

#[test]
fn a_malformed_fourcc_closes_that_publisher_only() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let worker = start_worker(settings(), false);
    let media = worker.dir.path().join("vp9.flv");
    ffmpeg9::make_clip(&ff, Clip::Vp9Opus, 3, &media);
    let _good = ffmpeg9::publish(&ff, &media, &worker.rtmp_url("live/good"));
    api_stream(worker.control, "good");

    let mut bad = TestClient::connect(&worker.rtmp_url("live/bad"), ClientMode::Publish);
    assert!(bad
        .wait_for(Duration::from_secs(10), |e| *e == ClientEvent::Started)
        .is_some());
    bad.session.send_media(MediaKind::Video, 0, b"\x90hvc1\x01");
    bad.session
        .send_media(MediaKind::Video, 40, b"\x91xyz!\x00\x00\x00\x00");
    bad.flush().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut closed = false;
    while std::time::Instant::now() < deadline && !closed {
        closed = !bad.pump();
    }
    assert!(
        closed,
        "the worker kept a publisher that sent a malformed FourCC"
    );
    let read = ffmpeg9::read(&ff, &worker.rtmp_url("live/good"), 2);
    assert!(read.ok, "{}", read.log);
    assert_eq!(read.codecs, ["audio: opus", "video: vp9"], "{}", read.log);
}
