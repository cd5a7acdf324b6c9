//! Fuzz the media avc code (see `oryx::media::fuzzing::avc`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing::avc(data);
});
