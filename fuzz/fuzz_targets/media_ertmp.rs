//! Fuzz the media ertmp code (see `oryx::media::fuzzing_ertmp::ertmp`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing_ertmp::ertmp(data);
});
