//! Fuzz entry points for what oryx itself parses of WebRTC input (`fuzz/fuzz_targets/`): a datagram
//! on the worker's UDP port (STUN and the demux), a publisher's access unit and audio tags.

use super::{demux::Demux, h264, opus, stun};

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
}
