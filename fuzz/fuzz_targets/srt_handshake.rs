//! Fuzz the SRT handshake parser, its encoder and the stream-id conventions with arbitrary datagrams.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::srt::fuzzing::handshake(data);
});
