//! WebRTC beyond H.264 with real clients: FFmpeg 9 publishes VP9+Opus and AV1+Opus over E-RTMP and
//! Chromium plays them over WHEP (getStats names the codec, frames are decoded); an HEVC stream is
//! refused with a reason naming the codecs the browser offers; trickle ICE `PATCH` is read.

mod common;

use common::chromium::{self, number, Page};
use common::ffmpeg9;
use common::worker::{settings, start_worker_with, Worker};
use oryx::compile::plan::WebRtcPlan;
use std::net::UdpSocket;
use std::time::Duration;

/// A worker with WebRTC on a free loopback UDP port.
fn webrtc_worker() -> Worker {
    let udp = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let plan = WebRtcPlan {
        udp,
        candidates: Vec::new(),
    };
    start_worker_with(settings(), false, |w| w.webrtc = Some(plan), &[])
}

/// FFmpeg 9 publishes a looping `clip` to `live/NAME`; returns once the stream reads back (so a
/// WHEP offer finds its codec).
fn published(worker: &Worker, clip: ffmpeg9::Clip, name: &str) -> Option<common::ChildGuard> {
    let ffmpeg = ffmpeg9::require()?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.flv"));
    ffmpeg9::make_clip(&ffmpeg, clip, 4, &file);
    let url = worker.rtmp_url(&format!("live/{name}"));
    let publisher = ffmpeg9::publish(&ffmpeg, &file, &url);
    let read = ffmpeg9::read(&ffmpeg, &url, 1);
    assert!(
        read.ok,
        "the {clip:?} stream does not read back: {}",
        read.log
    );
    // The clip file may go: FFmpeg has it open.
    std::mem::forget(dir);
    Some(publisher)
}

fn plays_in_chromium(clip: ffmpeg9::Clip, name: &str, mime: &str) {
    if !Page::available() {
        return;
    }
    let worker = webrtc_worker();
    let Some(_publisher) = published(&worker, clip, name) else {
        return;
    };
    let url = worker.http_url(&format!("live/{name}/whep"));
    let page = Page::start(&chromium::whep_codec_script(&url));
    let first = page
        .wait(Duration::from_secs(40), |r| {
            number(r, "frames") >= 10.0 && number(r, "audio") >= 20.0
        })
        .unwrap_or_else(|last| panic!("Chromium did not play {name} over WHEP: {last:?}"));
    assert_eq!(first["status"], "201", "{first:?}");
    assert_eq!(first["codec"], mime, "{first:?}");
    assert_eq!(number(&first, "width"), 160.0, "{first:?}");
    // Decoding goes on (the clip loops: key frames keep coming from the GOP cache's stream).
    let frames = number(&first, "frames");
    page.wait(Duration::from_secs(20), |r| {
        number(r, "frames") >= frames + 20.0
    })
    .unwrap_or_else(|last| panic!("{name}: framesDecoded stopped at {frames}: {last:?}"));
}

#[test]
fn a_vp9_and_opus_stream_plays_in_chromium_over_whep() {
    plays_in_chromium(ffmpeg9::Clip::Vp9Opus, "vp", "video/VP9");
}

#[test]
fn an_av1_and_opus_stream_plays_in_chromium_over_whep() {
    plays_in_chromium(ffmpeg9::Clip::Av1Opus, "av", "video/AV1");
}

#[test]
fn an_hevc_stream_is_refused_with_the_codecs_the_browser_offers() {
    if !Page::available() {
        return;
    }
    let worker = webrtc_worker();
    let Some(_publisher) = published(&worker, ffmpeg9::Clip::HevcAac, "hv") else {
        return;
    };
    let page = Page::start(&chromium::whep_codec_script(
        &worker.http_url("live/hv/whep"),
    ));
    let report = page
        .wait(Duration::from_secs(30), |r| number(r, "status") > 0.0)
        .unwrap_or_else(|last| panic!("no answer to Chromium's offer: {last:?}"));
    // Chromium on Linux without hardware decoding does not offer H265.
    assert_eq!(report["status"], "400", "{report:?}");
    let refusal = &report["refusal"];
    assert!(
        refusal.starts_with("stream is HEVC; this browser offers "),
        "{refusal}"
    );
    for codec in ["H264", "VP8", "VP9"] {
        assert!(refusal.contains(codec), "{refusal}");
    }
}
