//! Fuzz the AAC decoder of the WebRTC audio transcode (see `oryx::media::fuzzing::aac_decode`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing::aac_decode(data);
});
