//! The MPEG-TS ingest path's fuzz entry (`fuzz/fuzz_targets/media_ts_demux.rs`, also driven by
//! `tests/ts_fuzz_smoke.rs` on stable): demuxer and frame conversion never panic, whatever the
//! bytes and however they are split, and what they hold stays bounded.

use super::ts_demux::{TsDemuxer, MAX_PES_BYTES};
use super::ts_frames::TsFrames;

/// Feed `data` split at a point its first byte picks, then convert every unit to frames.
pub fn ts_demux(data: &[u8]) {
    let split = data
        .first()
        .map_or(0, |b| usize::from(*b) * 3)
        .min(data.len());
    let mut demux = TsDemuxer::new();
    let mut units = Vec::new();
    demux.push(&data[..split], &mut units);
    demux.push(&data[split..], &mut units);
    demux.flush(&mut units);
    let mut frames = TsFrames::new();
    let mut out = Vec::new();
    for unit in &units {
        assert!(unit.data.len() <= MAX_PES_BYTES);
        frames.push(unit, &mut out);
    }
    frames.flush(&mut out);
    for (_, _, payload) in &out {
        // A frame is never larger than the PES it came from plus its headers.
        assert!(payload.len() <= MAX_PES_BYTES * 2 + 64);
    }
}
