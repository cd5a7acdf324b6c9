//! The outputs of an Opus stream that cannot carry Opus get AAC from the stream's one shared
//! transcoder (`src/worker/audio_legacy.rs`): FFmpeg 9 publishes H.264 + Opus (E-RTMP, and WHIP),
//! and Debian's ffmpeg 5.1 decodes AAC audio and H.264 video without an error from TS HLS
//! (`segment-format "ts"`), from nginx-rtmp fed by a `forward`, and from an FLV recording; a
//! forward to another oryx worker, which lists Opus in its `connect` answer, keeps Opus. An HLS
//! segmenter and a legacy RTMP player of one stream share one transcoder
//! (`oryx_audio_transcodes{direction="opus_to_aac"}`), gone when the publisher leaves.

mod common;

use common::control::opus_to_aac_transcodes;
use common::ffmpeg9::{self, Clip};
use common::media::play_to_null;
use common::media::probe_codec_set;
use common::net::free_port;
use common::nginx_rtmp;
use common::process::run_tool;
use common::wait::{expect_within, wait_for};
use common::webrtc::free_udp;
use common::worker::{settings, start_worker, start_worker_with};
use oryx::compile::plan::{
    ForwardTarget, HlsSegmentFormat, RecordFormat, RecordRule, StreamRule, StreamSettings,
    WebRtcPlan,
};
use std::path::Path;
use std::time::Duration;

/// Debian's ffprobe finds H.264 + AAC at `url`, and its ffmpeg decodes `seconds` of it with
/// `-v error` quiet: every decoded frame is listed (`framecrc`), and both streams have some.
fn legacy_decodes_aac(url: &str, seconds: u32) {
    let mut last = Vec::new();
    let codecs = wait_for(Duration::from_secs(40), || {
        last = probe_codec_set(url);
        (last.len() == 2).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("ffprobe found no audio and video in {url}: {last:?}"));
    assert_eq!(codecs, ["aac", "h264"], "{url}");
    let seconds = seconds.to_string();
    let (ok, out, errors) = run_tool(
        "/usr/bin/ffmpeg",
        &[
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-i",
            url,
            "-t",
            &seconds,
            "-f",
            "framecrc",
            "-",
        ],
        Duration::from_secs(60),
    );
    assert!(ok, "{url}: {errors}");
    assert!(errors.trim().is_empty(), "{url}: {errors}");
    // framecrc: `stream_index, dts, pts, duration, size, crc` per decoded frame.
    let frames = |index: &str| {
        out.lines()
            .filter(|l| l.split(',').next().map(str::trim) == Some(index))
            .count()
    };
    let (first, second) = (frames("0"), frames("1"));
    assert!(
        first > 5 && second > 5,
        "{url}: {first} and {second} frames"
    );
}

/// A 4 s H.264 + Opus clip (E-RTMP tags) made by FFmpeg 9 in `dir`.
fn h264_opus_clip(ff: &Path, dir: &Path) -> std::path::PathBuf {
    let media = dir.join("h264opus.flv");
    ffmpeg9::make_clip(ff, Clip::H264Opus, 4, &media);
    media
}

fn ts_hls() -> StreamSettings {
    let mut settings = settings();
    settings.hls.enabled = true;
    settings.hls.fragment_ms = 1000;
    settings.hls.segment_format = HlsSegmentFormat::Ts;
    settings
}

/// Settings whose one rule for `live/*` forwards to `forward` or records to `record`.
fn with_rule(
    mut settings: StreamSettings,
    forward: Option<String>,
    record: Option<&Path>,
) -> StreamSettings {
    settings.rules = vec![StreamRule {
        pattern: "live/*".into(),
        record: record.map(|path| RecordRule {
            path: path.display().to_string(),
            format: RecordFormat::Flv,
            segment_ms: None,
        }),
        forwards: forward
            .map(|url| ForwardTarget { url, ca: None })
            .into_iter()
            .collect(),
        transcode: None,
        exec: Vec::new(),
        on_record: Vec::new(),
    }];
    settings
}

#[test]
fn ts_hls_of_an_opus_stream_has_aac_shared_with_legacy_players() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let worker = start_worker(ts_hls(), false);
    let media = h264_opus_clip(&ff, worker.dir.path());
    let publisher = ffmpeg9::publish(&ff, &media, &worker.rtmp_url("live/o"));
    let playlist = worker.http_url("live/o.m3u8");
    legacy_decodes_aac(&playlist, 4);
    let (status, body) = common::http::http_get(worker.http, "/live/o.m3u8").unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(status == 200 && text.contains(".ts"), "{text}");

    // The segmenter and a legacy RTMP player share the stream's one transcoder.
    let _player = play_to_null(&worker.rtmp_url("live/o"));
    std::thread::sleep(Duration::from_secs(2));
    for _ in 0..5 {
        assert_eq!(opus_to_aac_transcodes(worker.control), Some(1));
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(_player);
    // The segmenter alone still needs it; with the publisher gone, nobody does.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(opus_to_aac_transcodes(worker.control), Some(1));
    drop(publisher);
    let gone = wait_for(Duration::from_secs(20), || {
        (opus_to_aac_transcodes(worker.control)? == 0).then_some(())
    });
    assert!(gone.is_some(), "the transcoder outlived the publish");
}

#[test]
fn ts_hls_of_a_whip_stream_from_ffmpeg9_has_aac() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let plan = WebRtcPlan {
        udp: free_udp(),
        candidates: Vec::new(),
    };
    let worker = start_worker_with(ts_hls(), false, |w| w.webrtc = Some(plan), &[]);
    let media = worker.dir.path().join("whip.flv");
    ffmpeg9::make_whip_clip(&ff, &media);
    let _whip = ffmpeg9::publish_whip(&ff, &media, &worker.http_url("live/w/whip"));
    legacy_decodes_aac(&worker.http_url("live/w.m3u8"), 4);
}

#[test]
fn a_forward_to_nginx_rtmp_carries_aac_and_one_to_oryx_keeps_opus() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _nginx = nginx_rtmp::start(dir.path(), "nginx", port, None);
    // An oryx target: its `connect` answer lists Opus.
    let target = start_worker(settings(), false);
    let legacy = start_worker(
        with_rule(
            settings(),
            Some(format!("rtmp://127.0.0.1:{port}/live/{{stream}}")),
            None,
        ),
        false,
    );
    let modern = start_worker(
        with_rule(settings(), Some(target.rtmp_url("live/{stream}")), None),
        false,
    );
    let media = h264_opus_clip(&ff, dir.path());
    let _to_nginx = ffmpeg9::publish(&ff, &media, &legacy.rtmp_url("live/n"));
    let _to_oryx = ffmpeg9::publish(&ff, &media, &modern.rtmp_url("live/m"));

    legacy_decodes_aac(&format!("rtmp://127.0.0.1:{port}/live/n"), 4);
    assert_eq!(opus_to_aac_transcodes(legacy.control), Some(1));

    // FFmpeg 9 announcing what it decodes reads Opus from the oryx target.
    let url = target.rtmp_url("live/m");
    let read = expect_within(Duration::from_secs(40), "the forwarded stream", || {
        let read = ffmpeg9::read(&ff, &url, 2);
        (read.ok && read.codecs.len() == 2).then_some(read)
    });
    assert_eq!(read.codecs, ["audio: opus", "video: h264"], "{}", read.log);
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    assert_eq!(
        opus_to_aac_transcodes(modern.control),
        Some(0),
        "nothing to transcode"
    );
}

#[test]
fn an_flv_recording_of_an_opus_stream_holds_aac() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rec.flv");
    let worker = start_worker(with_rule(settings(), None, Some(&file)), false);
    let media = h264_opus_clip(&ff, dir.path());
    let publisher = ffmpeg9::publish(&ff, &media, &worker.rtmp_url("live/r"));
    std::thread::sleep(Duration::from_secs(5));
    drop(publisher);
    expect_within(Duration::from_secs(20), "the recording's file", || {
        (std::fs::metadata(&file).ok()?.len() > 10_000).then_some(())
    });
    // Written out once the publish ended (the recorder closes the file at once).
    expect_within(Duration::from_secs(20), "the transcoder to stop", || {
        (opus_to_aac_transcodes(worker.control)? == 0).then_some(())
    });
    legacy_decodes_aac(&file.display().to_string(), 3);
}
