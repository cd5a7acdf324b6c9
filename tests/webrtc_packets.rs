//! WHEP sends a sliced H.264 frame in as few RTP packets as fit it: an RTMP stream whose frames are
//! four small slices each reaches a WebRTC player (the str0m client of `common::whep_client`, which
//! depacketizes every frame) in about one packet per frame, its slices aggregated into a STAP-A,
//! where one packet per slice would be four.

mod common;

use common::webrtc::webrtc_worker;
use common::whep_client::WhepClient;
use std::time::Duration;

/// 10 s of 160x120 H.264 at 10 fps, four slices a frame, ~64 kbit/s (frames of ~800 bytes, two
/// seconds between key frames), no audio.
fn sliced_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("sliced.flv");
    let (ok, _, err) = common::process::run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-t",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-x264-params",
            "slices=4",
            "-b:v",
            "64k",
            "-g",
            "20",
            "-bf",
            "0",
            "-f",
            "flv",
            &out.to_string_lossy(),
        ],
        Duration::from_secs(60),
    );
    assert!(ok, "ffmpeg makes the clip: {err}");
    out
}

#[test]
fn a_sliced_h264_frame_reaches_a_whep_player_in_one_stap_a_packet() {
    let (worker, _) = webrtc_worker();
    let dir = tempfile::tempdir().unwrap();
    let media = sliced_clip(dir.path());
    let _publisher = common::media::publish(&media, &worker.rtmp_url("live/sliced"), true);
    let client = common::wait::expect_within(
        Duration::from_secs(20),
        "the WHEP player to connect",
        || WhepClient::start(worker.http, "/live/sliced/whep").ok(),
    );
    common::wait::expect_within(Duration::from_secs(30), "40 frames decoded", || {
        (client.frames() >= 40).then_some(())
    });
    let (frames, packets) = (client.frames(), client.rtp_packets());
    println!("{frames} frames in {packets} RTP packets");
    // One packet a frame, plus the SPS/PPS packet and a split slice or two of each key frame;
    // a packet per slice would be four a frame.
    assert!(
        packets * 2 < frames * 3,
        "{packets} RTP packets for {frames} frames of four slices: not aggregated"
    );
}
