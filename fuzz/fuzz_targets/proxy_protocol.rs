//! Fuzz the PROXY protocol v2 decoder.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::rtmp::fuzzing::proxy_protocol(data);
});
