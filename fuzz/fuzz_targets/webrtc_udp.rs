//! Fuzz WebRTC input (see `oryx::webrtc::fuzzing::udp_datagram`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::webrtc::fuzzing::udp_datagram(data);
});
