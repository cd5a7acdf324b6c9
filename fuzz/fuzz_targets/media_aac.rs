//! Fuzz the media aac code (see `oryx::media::fuzzing::aac`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing::aac(data);
});
