//! Fuzz trickle ICE fragments (see `oryx::webrtc::fuzzing::sdp_fragment`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::webrtc::fuzzing::sdp_fragment(data);
});
