//! Fuzz WebRTC input (see `oryx::webrtc::fuzzing::sdp_offer`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::webrtc::fuzzing::sdp_offer(data);
});
