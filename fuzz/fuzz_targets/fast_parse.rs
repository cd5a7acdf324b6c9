//! Fuzz the topology fast parser against the `kdl` crate (see `oryx::compile::fast_parse::compare_with_kdl`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::compile::fast_parse::compare_with_kdl(data);
});
