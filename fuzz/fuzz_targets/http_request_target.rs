//! Fuzz the HTTP request parsing of the LBs and the worker's HTTP port (`HOST\nTARGET`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::runtime::fuzzing::http_request_target(data);
});
