//! Fuzz the media hls segmenter code (see `oryx::media::fuzzing::hls_segmenter`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing::hls_segmenter(data);
});
