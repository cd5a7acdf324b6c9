//! Fuzz the recording containers: fMP4 muxer, TS and FLV file writers (see
//! `oryx::media::fuzzing::record_muxers`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing::record_muxers(data);
});
