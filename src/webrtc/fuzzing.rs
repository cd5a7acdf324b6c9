//! Fuzz entry points for WebRTC input (`fuzz/fuzz_targets/`): a datagram on the worker's UDP port
//! (STUN and the demux, ours), a publisher's access unit and audio tags (ours), an access unit aggregated into STAP-As (ours), hub video tags for every WHEP codec (ours), a
//! trickle ICE fragment (ours), and an SDP offer
//! as the signaling hands it to `str0m` (parsed and accepted by an ICE-lite engine like the
//! worker's: a panic there would take the worker down).

use super::{demux::Demux, h264, opus, sdpfrag, stap, stun, video};

/// A datagram as the UDP demux sees it.
pub fn udp_datagram(data: &[u8]) {
    let _ = stun::username(data);
    let mut demux = Demux::default();
    demux.add_session(1, "ufrag");
    let from = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let _ = demux.route(data, from);
}

/// An access unit from a WHIP publisher, and the same bytes as a hub audio tag.
pub fn media(data: &[u8]) {
    let mut ingest = h264::AvcIngest::default();
    let _ = ingest.push(data);
    let _ = opus::packet(data);
    // The same bytes as hub video tags for each WHEP codec (a configuration first, then a frame).
    for codec in [
        video::VideoCodec::H264,
        video::VideoCodec::Hevc,
        video::VideoCodec::Vp9,
        video::VideoCodec::Av1,
    ] {
        let mut rtp = video::RtpVideo::new(codec);
        let _ = rtp.push(data, 0);
        let _ = rtp.push(data, 40);
    }
    // As an Annex-B access unit whose small NAL units become STAP-As (any budget).
    let units = h264::split_annexb(data);
    let _ = stap::aggregate(&units, stap::RTP_PAYLOAD_MAX);
    let _ = stap::aggregate(&units, usize::from(data.first().copied().unwrap_or(0)));
    let _ = video::offered_video_codecs(&String::from_utf8_lossy(data));
    // And as a WHIP publisher's depacketized VP9 and AV1 frames.
    let mut ex = super::ingest::ExIngest::default();
    let _ = ex.push(video::VideoCodec::Vp9, data);
    let _ = ex.push(video::VideoCodec::Av1, data);
}

/// A trickle ICE fragment as `PATCH` hands it over, its candidates as the engine parses them.
pub fn sdp_fragment(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = sdpfrag::ice_ufrag(text);
    if let Ok(frag) = sdpfrag::SdpFrag::parse(text) {
        for candidate in frag.candidates {
            let _ = str0m::Candidate::from_sdp_string(&candidate.attribute);
        }
    }
}

/// An offer as `POST …/whep` hands it to the engine.
pub fn sdp_offer(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(offer) = str0m::change::SdpOffer::from_sdp_string(text) else {
        return;
    };
    let mut rtc = str0m::RtcConfig::new()
        .set_ice_lite(true)
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .build(std::time::Instant::now());
    if let Ok(answer) = rtc.sdp_api().accept_offer(offer) {
        let _ = answer.to_sdp_string();
    }
}
