//! Fuzz the chunk stream decoder and message parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::rtmp::fuzzing::chunk_decoder(data);
});
