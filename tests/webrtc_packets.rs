//! WHEP sends a sliced H.264 frame in as few RTP packets as fit it: an RTMP stream whose frames are
//! four small slices each reaches a WebRTC player (the str0m client of `common::whep_client`, which
//! depacketizes every frame) in about one packet per frame, its slices aggregated into a STAP-A,
//! where one packet per slice would be four.

mod common;

use common::webrtc::webrtc_worker;
use common::whep_client::WhepClient;
use std::time::Duration;

#[test]
fn a_sliced_h264_frame_reaches_a_whep_player_in_one_stap_a_packet() {
    let (worker, _) = webrtc_worker();
    let dir = tempfile::tempdir().unwrap();
    let media = common::media::tiny_h264_clip(dir.path(), "sliced.flv", 20, Some("slices=4"));
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
