//! WebRTC beyond H.264 with real clients: FFmpeg 9 publishes VP9+Opus and AV1+Opus over E-RTMP and
//! Chromium plays them over WHEP (getStats names the codec, frames are decoded); an HEVC stream is
//! refused with a reason naming the codecs the browser offers; trickle ICE `PATCH` is read.

mod common;

use common::chromium::{self, number, Page};
use common::ffmpeg9;
use common::webrtc::{webrtc_worker, BROWSER_OFFER};
use common::worker::Worker;
use std::time::Duration;

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
    let (worker, _) = webrtc_worker();
    let Some(_publisher) = published(&worker, clip, name) else {
        return;
    };
    let url = worker.http_url(&format!("live/{name}/whep"));
    let page = Page::start(&chromium::whep_script(&url));
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
    let (worker, _) = webrtc_worker();
    let Some(_publisher) = published(&worker, ffmpeg9::Clip::HevcAac, "hv") else {
        return;
    };
    let page = Page::start(&chromium::whep_script(&worker.http_url("live/hv/whep")));
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

#[test]
fn trickle_ice_patch_adds_candidates_and_refuses_restarts_and_garbage() {
    let (worker, _) = webrtc_worker();
    let send = |method: &str, path: &str, headers: &str, body: &str| {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        common::http::raw_request(worker.http, request.as_bytes()).expect("an answer")
    };
    let answer = send(
        "POST",
        "/live/t/whep",
        "Content-Type: application/sdp\r\n",
        BROWSER_OFFER,
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    let location = answer.header("location").unwrap().to_string();
    let etag = answer.header("etag").expect("an ETag").to_string();
    let frag = "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n\
a=candidate:2 1 udp 2122194687 host-xyz.local 50001 typ host\r\na=end-of-candidates\r\n";
    let sdpfrag = "Content-Type: application/trickle-ice-sdpfrag\r\n";
    let trickled = send(
        "PATCH",
        &location,
        &format!("{sdpfrag}If-Match: {etag}\r\n"),
        frag,
    );
    assert_eq!(trickled.status, 204, "{}", trickled.text());
    // Without If-Match (the RFC lets a client leave it out when it never restarts): the same.
    assert_eq!(send("PATCH", &location, sdpfrag, frag).status, 204);
    let stale = send(
        "PATCH",
        &location,
        &format!("{sdpfrag}If-Match: \"old\"\r\n"),
        frag,
    );
    assert_eq!(stale.status, 412, "{}", stale.text());
    let restart = send(
        "PATCH",
        &location,
        &format!("{sdpfrag}If-Match: *\r\n"),
        frag,
    );
    assert_eq!(restart.status, 422, "{}", restart.text());
    assert!(restart.text().contains("ICE restarts are not supported"));
    let new_creds = frag.replace("ice-ufrag:abcd", "ice-ufrag:wxyz");
    assert_eq!(send("PATCH", &location, sdpfrag, &new_creds).status, 422);
    let garbage = send("PATCH", &location, sdpfrag, "this is not a fragment");
    assert_eq!(garbage.status, 400, "{}", garbage.text());
    assert!(garbage.text().contains("malformed trickle ICE fragment"));
    let wrong_type = send("PATCH", &location, "Content-Type: text/plain\r\n", frag);
    assert_eq!(wrong_type.status, 415);
    let unknown = send("PATCH", "/live/t/whep/nosuchsession", sdpfrag, frag);
    assert_eq!(unknown.status, 404);
    assert_eq!(send("DELETE", &location, "", "").status, 200);
}

/// Chromium publishes `mime` video (and Opus) with WHIP; FFmpeg 9 reads it over RTMP as
/// `video: CODEC` without errors; another Chromium page plays it over WHEP in the same codec.
fn chromium_publishes_with_whip(mime: &str, codec: &str, name: &str) {
    let Some(ffmpeg) = ffmpeg9::require() else {
        return;
    };
    if !Page::available() {
        return;
    }
    let (worker, _) = webrtc_worker();
    let publisher = Page::start(&chromium::whip_codec_script(
        &worker.http_url(&format!("live/{name}/whip")),
        mime,
    ));
    let sent = publisher
        .wait(Duration::from_secs(40), |r| {
            r.get("state").map(String::as_str) == Some("connected") && number(r, "frames") >= 10.0
        })
        .unwrap_or_else(|last| panic!("Chromium did not publish {mime} over WHIP: {last:?}"));
    assert_eq!(sent["codec"], mime, "{sent:?}");
    // E-RTMP over RTMP, decoded by FFmpeg 9 without errors.
    let url = worker.rtmp_url(&format!("live/{name}"));
    ffmpeg9::read_clean(
        &ffmpeg,
        &url,
        2,
        &[&format!("video: {codec}"), "audio: opus"],
    );
    let player = Page::start(&chromium::whep_script(
        &worker.http_url(&format!("live/{name}/whep")),
    ));
    let played = player
        .wait(Duration::from_secs(40), |r| number(r, "frames") >= 20.0)
        .unwrap_or_else(|last| panic!("Chromium did not play the {mime} WHIP stream: {last:?}"));
    assert_eq!(played["codec"], mime, "{played:?}");
}

#[test]
fn chromium_publishes_vp9_with_whip_for_ffmpeg_over_rtmp_and_chromium_over_whep() {
    chromium_publishes_with_whip("video/VP9", "vp9", "cam9");
}

#[test]
fn chromium_publishes_av1_with_whip_for_ffmpeg_over_rtmp_and_chromium_over_whep() {
    chromium_publishes_with_whip("video/AV1", "av1", "cam1");
}

#[test]
fn a_vp8_only_whip_offer_is_refused_with_the_reason() {
    if !Page::available() {
        return;
    }
    let (worker, _) = webrtc_worker();
    let page = Page::start(&chromium::whip_codec_script(
        &worker.http_url("live/cam8/whip"),
        "video/VP8",
    ));
    let report = page
        .wait(Duration::from_secs(30), |r| number(r, "status") > 0.0)
        .unwrap_or_else(|last| panic!("no answer to Chromium's VP8 offer: {last:?}"));
    assert_eq!(report["status"], "400", "{report:?}");
    assert!(
        report["refusal"].starts_with("VP8 cannot be published here"),
        "{report:?}"
    );
}
