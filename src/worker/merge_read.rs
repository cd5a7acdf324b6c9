//! Merged reads and the players that cannot take them: a publisher's reads wait out `merge-read`
//! (one wakeup per window instead of one per TCP segment or SRT message: SRS's merged read), which
//! hands its frames to the hub in bursts of a window. RTMP/FLV/HLS players buffer and never see it;
//! a WebRTC player does: its frames go out as they come, so the browser gets 2–3 frames at once
//! every 100 ms, and Chromium's renderer drops some of each burst (README, "Glass-to-glass
//! latency"). So while a stream has a player that takes its frames as they come (a WHEP session
//! holds a [`PromptHold`]), its publisher's reads are not merged; without one they are again, and
//! fan-out to RTMP/FLV keeps the CPU saving. Sans-IO: the decision is [`ReadMerge::window`], the
//! callers (`rtmp_conn.rs`, `srt/bridge.rs`) do the waiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How many players of one stream want its frames as they come (shared by the stream, its
/// publisher's read loop and those players).
#[derive(Debug, Default)]
pub struct PromptDemand(AtomicUsize);

impl PromptDemand {
    /// A player that takes frames as they come: reads are unmerged until the hold is dropped.
    pub fn hold(self: &Arc<Self>) -> PromptHold {
        self.0.fetch_add(1, Ordering::AcqRel);
        PromptHold(self.clone())
    }

    pub fn players(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One player's claim on prompt reads; released when dropped.
#[derive(Debug)]
pub struct PromptHold(Arc<PromptDemand>);

impl Drop for PromptHold {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A publisher's read merging: the configured window and its stream's demand.
#[derive(Debug, Clone)]
pub struct ReadMerge {
    configured: Duration,
    demand: Arc<PromptDemand>,
}

impl ReadMerge {
    pub fn new(configured: Duration, demand: Arc<PromptDemand>) -> ReadMerge {
        ReadMerge { configured, demand }
    }

    /// Whether a player takes the stream's frames as they come (the SRT publisher's interleaver
    /// then releases video unheld: `media/interleave.rs`).
    pub fn prompt(&self) -> bool {
        self.demand.players() > 0
    }

    /// How long to gather input before handing it on now: `merge-read`, or zero while a player
    /// takes the stream's frames as they come.
    pub fn window(&self) -> Duration {
        if self.demand.players() > 0 {
            Duration::ZERO
        } else {
            self.configured
        }
    }

    /// Whether a read that returned `read` bytes into a buffer of `capacity` is followed by a wait
    /// of [`ReadMerge::window`]: only a read that drained the socket (a full buffer means more is
    /// waiting, and is read at once).
    pub fn wait_after(&self, read: usize, capacity: usize) -> Option<Duration> {
        let window = self.window();
        (read < capacity && !window.is_zero()).then_some(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(100);

    #[test]
    fn reads_merge_until_a_prompt_player_comes_and_again_after_it_leaves() {
        let demand = Arc::new(PromptDemand::default());
        let merge = ReadMerge::new(WINDOW, demand.clone());
        assert_eq!(merge.window(), WINDOW);
        assert!(!merge.prompt());
        assert_eq!(merge.wait_after(1000, 65536), Some(WINDOW));
        let first = demand.hold();
        let second = demand.hold();
        assert_eq!(demand.players(), 2);
        assert_eq!(merge.window(), Duration::ZERO);
        assert!(merge.prompt());
        assert_eq!(merge.wait_after(1000, 65536), None);
        drop(first);
        assert_eq!(
            merge.wait_after(1000, 65536),
            None,
            "one player still holds"
        );
        drop(second);
        assert_eq!(demand.players(), 0);
        assert_eq!(merge.wait_after(1000, 65536), Some(WINDOW));
    }

    #[test]
    fn a_full_buffer_is_read_again_at_once_and_a_zero_window_never_waits() {
        let merge = ReadMerge::new(WINDOW, Arc::default());
        assert_eq!(merge.wait_after(65536, 65536), None);
        let off = ReadMerge::new(Duration::ZERO, Arc::default());
        assert_eq!(off.window(), Duration::ZERO);
        assert_eq!(off.wait_after(10, 65536), None);
    }
}
