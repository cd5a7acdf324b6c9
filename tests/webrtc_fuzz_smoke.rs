//! The WebRTC fuzz targets' entry points on seeded random and mutated inputs, so `cargo test`
//! exercises them without nightly or cargo-fuzz. Deterministic, seconds long.

mod common;

use common::fuzz::Rng;
use common::webrtc::BROWSER_OFFER;
use oryx::webrtc::{fuzzing, stun};

#[test]
fn webrtc_entry_points_survive_random_and_mutated_input() {
    let mut rng = Rng(0x5eed_0fc0_ffee);
    let stun_seed = stun::binding_request("ufrag:remote");
    let access_unit = [
        &[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda][..],
        &[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80],
        &[0, 0, 1, 0x65, 1, 2, 3, 4],
    ]
    .concat();
    for _ in 0..3000 {
        let len = rng.below(300);
        let random = rng.bytes(len);
        fuzzing::udp_datagram(&random);
        fuzzing::udp_datagram(&rng.mutate(&stun_seed));
        fuzzing::media(&random);
        fuzzing::media(&rng.mutate(&access_unit));
    }
    // An offer is parsed and accepted whole: fewer, costlier rounds.
    fuzzing::sdp_offer(BROWSER_OFFER.as_bytes());
    for _ in 0..300 {
        fuzzing::sdp_offer(&rng.mutate(BROWSER_OFFER.as_bytes()));
    }
}

/// A browser's trickle fragment, mutated: parsed, and its candidates read by the engine.
#[test]
fn trickle_fragments_survive_mutation() {
    let mut rng = Rng(0x7e1c_c1e0);
    let frag = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\na=end-of-candidates\r\n";
    for _ in 0..3000 {
        fuzzing::sdp_fragment(&rng.mutate(frag.as_bytes()));
        let len = rng.below(200);
        fuzzing::sdp_fragment(&rng.bytes(len));
    }
}
