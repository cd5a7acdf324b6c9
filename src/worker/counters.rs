//! The slow-player counters the player cursor bumps: below the hub, so the hub's rooms count without
//! importing `metrics` (which reads the hub to render `/metrics`).

/// Makes the counters exist from the start, so dashboards see 0 rather than no data.
pub fn register() {
    metrics::counter!("oryx_player_dropped_frames_total").increment(0);
    metrics::counter!("oryx_player_skips_total").increment(0);
    metrics::counter!("oryx_player_too_slow_total").increment(0);
}

/// A slow player skipped `frames` frames ahead to a keyframe (called by the hub).
pub fn player_skipped(frames: u64) {
    metrics::counter!("oryx_player_dropped_frames_total").increment(frames);
    metrics::counter!("oryx_player_skips_total").increment(1);
}

/// A player fell behind too often and is disconnected (called by the hub).
pub fn player_too_slow() {
    metrics::counter!("oryx_player_too_slow_total").increment(1);
}
