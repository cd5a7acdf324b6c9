//! Fuzz the AMF0 decoder (and re-encode what it accepts).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::rtmp::fuzzing::amf0(data);
});
