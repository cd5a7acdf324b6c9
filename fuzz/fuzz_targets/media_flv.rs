//! Fuzz the media flv code (see `oryx::media::fuzzing::flv`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing::flv(data);
});
