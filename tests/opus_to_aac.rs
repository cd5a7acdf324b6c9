//! Opus to AAC for legacy players: FFmpeg 9 publishes H.264 + Opus over E-RTMP; Debian's ffprobe
//! and ffmpeg 5.1 (which announce no E-RTMP codecs) read it over RTMP and HTTP-FLV as H.264 + AAC
//! and decode it without errors; FFmpeg 9 announcing Opus still gets Opus; two legacy players
//! share one transcoder (`oryx_audio_transcodes{direction="opus_to_aac"}`). FFmpeg 9 publishing with
//! its `whip` muxer gives legacy players AAC too.

mod common;

use common::control::opus_to_aac_transcodes;
use common::media::probe_codec_set;

use common::ffmpeg9::{self, Clip};
use common::media::play_to_null;
use common::process::run_tool;
use common::wait::wait_for;
use common::webrtc::webrtc_worker;
use common::worker::{settings, start_worker};
use std::time::Duration;

/// Debian's ffprobe finds H.264 + AAC at `url` and its ffmpeg decodes 4 s of it without an error.
fn legacy_reads_aac(url: &str) {
    let mut last = Vec::new();
    let codecs = wait_for(Duration::from_secs(30), || {
        last = probe_codec_set(url);
        (last.len() == 2).then(|| last.clone())
    })
    .unwrap_or_else(|| panic!("ffprobe found no audio and video in {url}: {last:?}"));
    assert_eq!(codecs, ["aac", "h264"], "{url}");
    let (ok, _, log) = run_tool(
        "/usr/bin/ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-rw_timeout",
            "10000000",
            "-i",
            url,
            "-t",
            "4",
            "-f",
            "null",
            "-",
        ],
        Duration::from_secs(40),
    );
    assert!(ok, "{url}: {log}");
    assert!(log.contains("Audio: aac"), "{url}: {log}");
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .collect();
    assert!(errors.is_empty(), "{url}: {errors:?}");
}

#[test]
fn legacy_players_of_an_opus_stream_get_aac_and_e_rtmp_players_keep_opus() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let worker = start_worker(settings(), false);
    let media = worker.dir.path().join("h264opus.flv");
    ffmpeg9::make_clip(&ff, Clip::H264Opus, 4, &media);
    let _publisher = ffmpeg9::publish(&ff, &media, &worker.rtmp_url("live/o"));
    let rtmp = worker.rtmp_url("live/o");
    let flv = worker.http_url("live/o.flv");

    for url in [&rtmp, &flv] {
        legacy_reads_aac(url);
    }

    // FFmpeg 9 announcing Opus in `fourCcList` (RTMP) or the query (HTTP-FLV) gets Opus.
    // (`ffmpeg9::read` announces what FFmpeg 9 decodes).
    for url in [&rtmp, &flv] {
        let read = ffmpeg9::read(&ff, url, 2);
        assert!(read.ok, "{url}: {}", read.log);
        assert_eq!(
            read.codecs,
            ["audio: opus", "video: h264"],
            "{url}: {}",
            read.log
        );
        assert!(read.errors.is_empty(), "{url}: {:?}", read.errors);
    }

    // Two legacy players at once: one transcoder, gone after them.
    let first = play_to_null(&rtmp);
    let second = play_to_null(&flv);
    let shared = wait_for(Duration::from_secs(20), || {
        (opus_to_aac_transcodes(worker.control)? == 1).then_some(())
    });
    assert!(shared.is_some(), "no transcoder for the two players");
    // Both stay on it (never a second one) while they play.
    for _ in 0..10 {
        assert_eq!(opus_to_aac_transcodes(worker.control), Some(1));
        std::thread::sleep(Duration::from_millis(200));
    }
    drop((first, second));
    let gone = wait_for(Duration::from_secs(20), || {
        (opus_to_aac_transcodes(worker.control)? == 0).then_some(())
    });
    assert!(gone.is_some(), "the transcoder outlived its players");
}

#[test]
fn a_whip_stream_from_ffmpeg9_plays_with_aac_in_legacy_players() {
    let Some(ff) = ffmpeg9::require() else {
        return;
    };
    let (worker, _) = webrtc_worker();
    let media = worker.dir.path().join("whip.flv");
    ffmpeg9::make_whip_clip(&ff, &media);
    let _whip = ffmpeg9::publish_whip(&ff, &media, &worker.http_url("live/w/whip"));
    legacy_reads_aac(&worker.rtmp_url("live/w"));
    legacy_reads_aac(&worker.http_url("live/w.flv"));
}
