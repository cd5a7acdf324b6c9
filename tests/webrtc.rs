//! WebRTC end to end with real clients: Chromium plays with WHEP and publishes with WHIP
//! (fake camera), FFmpeg 9 publishes with its `whip` muxer and over RTMP with H.264 + Opus,
//! ffprobe reads WHIP-published streams over RTMP/HLS; bad SDP and garbage UDP are refused.

mod common;

use common::chromium::{self, number, Page};
use common::ffmpeg9;
use common::process::run_tool;
use common::worker::{settings, start_worker_with, Worker};
use oryx::compile::plan::WebRtcPlan;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

/// A UDP port free right now on loopback.
fn free_udp() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

fn webrtc_worker() -> Worker {
    let plan = WebRtcPlan {
        udp: free_udp(),
        candidates: Vec::new(),
    };
    start_worker_with(settings(), false, Some(plan))
}

/// A 320x240, 25 fps H.264 (no B-frames, a key frame a second) + Opus clip as FLV (E-RTMP Opus).
fn h264_opus_clip(ffmpeg: &Path, out: &Path) {
    let out = out.to_string_lossy().into_owned();
    let (ok, _, err) = run_tool(
        &ffmpeg.to_string_lossy(),
        &[
            "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", "6", "-pix_fmt", "yuv420p",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0",
            "-c:a", "libopus", "-f", "flv", &out,
        ],
        Duration::from_secs(120),
    );
    assert!(ok, "FFmpeg 9 could not make the H.264/Opus clip: {err}");
}

fn playing(report: &chromium::Report) -> bool {
    number(report, "frames") >= 30.0 && number(report, "t") >= 1.0
}

#[test]
fn an_rtmp_stream_with_h264_and_opus_plays_in_chromium_over_whep() {
    let Some(ffmpeg) = ffmpeg9::require() else { return };
    if !Page::available() {
        return;
    }
    let worker = webrtc_worker();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.flv");
    h264_opus_clip(&ffmpeg, &clip);
    let _publisher = ffmpeg9::publish(&ffmpeg, &clip, &worker.rtmp_url("live/cam"));
    let page = Page::start(&chromium::whep_script(&worker.http_url("live/cam/whep")));
    let report = page
        .wait(Duration::from_secs(40), |r| playing(r) && number(r, "audio") >= 20.0)
        .unwrap_or_else(|last| panic!("Chromium did not play over WHEP with audio: {last:?}"));
    assert_eq!(report["status"], "201");
    assert!(report["location"].starts_with("/live/cam/whep/"), "{report:?}");
    assert_eq!(number(&report, "width"), 320.0);
}
