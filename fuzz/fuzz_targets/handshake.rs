//! Fuzz the server and client handshakes with arbitrary bytes, fed in two pieces.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::rtmp::fuzzing::handshake(data);
});
