//! Fuzz WebRTC input (see `oryx::webrtc::fuzzing::media`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::webrtc::fuzzing::media(data);
});
