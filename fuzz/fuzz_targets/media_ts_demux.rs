//! Fuzz the MPEG-TS demuxer and its frame conversion (see `oryx::media::fuzzing_ts::ts_demux`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::media::fuzzing_ts::ts_demux(data);
});
