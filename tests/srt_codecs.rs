//! SRT playback of codecs beyond H.264/AAC: FFmpeg 9 publishes E-RTMP over RTMP (HEVC+AAC,
//! H.264+Opus) and reads the stream back over SRT as MPEG-TS (`m=request`): FFmpeg 9 decodes it
//! without an error and Debian's ffprobe names the same codecs, so the TS carries HEVC as stream
//! type 0x24 and Opus as FFmpeg's demuxer expects it (registration descriptor, control header).

mod common;

use common::ffmpeg9::{self, Clip};
use common::wait::wait_for;
use common::worker::start_worker_with;
use common::{free_port, probe_codecs, settings, Worker};
use oryx::compile::plan::SrtListenPlan;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// A worker with an SRT listener on a free loopback port.
fn srt_worker() -> (Worker, SocketAddr) {
    let srt = loop {
        let port = free_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            break SocketAddr::from(([127, 0, 0, 1], port));
        }
    };
    let worker = start_worker_with(
        settings(),
        false,
        |w| {
            w.srt = Some(SrtListenPlan {
                listen: srt,
                latency_ms: 120,
                passphrase_env: None,
                pbkeylen: 16,
            })
        },
        &[],
    );
    (worker, srt)
}

/// Publishes `clip` with FFmpeg 9 over RTMP as `live/NAME` and checks its SRT playback.
fn plays_over_srt(clip: Clip, name: &str, video: &str, audio: &str) {
    let Some(ffmpeg) = ffmpeg9::require() else {
        return;
    };
    let (worker, srt) = srt_worker();
    let media = worker.dir.path().join(format!("{name}.flv"));
    ffmpeg9::make_clip(&ffmpeg, clip, 4, &media);
    let _publisher = ffmpeg9::publish(&ffmpeg, &media, &worker.rtmp_url(&format!("live/{name}")));
    let url = format!("srt://{srt}?streamid=#!::r=live/{name},m=request");
    let mut want = vec![audio.to_string(), video.to_string()];
    want.sort();
    // Debian's ffprobe (5.1) reads the TS once the publisher is in.
    let probed = wait_for(Duration::from_secs(30), || {
        // Each once: ffprobe lists the program's streams as well.
        let mut found = probe_codecs(&url);
        found.dedup();
        (found == want).then_some(found)
    });
    assert_eq!(probed, Some(want), "ffprobe {url}");
    // FFmpeg 9 decodes three seconds of it without a complaint.
    let (video, audio) = (format!("video: {video}"), format!("audio: {audio}"));
    ffmpeg9::read_clean(&ffmpeg, &url, 3, &[&video, &audio]);
}

#[test]
fn hevc_with_aac_plays_over_srt_as_ts() {
    plays_over_srt(Clip::HevcAac, "hevc", "hevc", "aac");
}

#[test]
fn h264_with_opus_plays_over_srt_as_ts() {
    plays_over_srt(Clip::H264Opus, "opus", "h264", "opus");
}
