//! Fuzz the media codecs code (see `oryx::media::fuzzing_ertmp::codecs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing_ertmp::codecs(data);
});
