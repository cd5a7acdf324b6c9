//! WHEP: a hub player whose frames go to the browser over RTP. Video frames of the negotiated codec
//! become packetizer input (`crate::webrtc::video`: Annex-B H.264/HEVC with parameter sets on key
//! frames, VP9 frames, AV1 OBUs; the engine packetizes them), Opus passes through (`audio.rs` for AAC sources). A keyframe request from the browser (PLI/FIR) restarts
//! the player at the GOP cache's keyframe (or the next one), the RTP clock running on.

use super::audio::AudioPath;
use super::session::Track;
use super::SessionHandle;
use crate::webrtc::video::{RtpVideo, VideoCodec};
use crate::worker::hub::{CachedFrame, FrameKind};
use crate::worker::playback::PlayerSink;
use std::sync::Arc;
use std::time::Duration;
use str0m::media::MediaTime;
use tokio::net::UdpSocket;

/// Least time between two timer ticks of a playing session, and the grid its ticks fall on. A
/// sending engine asks for a tick every ~33 ms (str0m's NACK timer, which only a receiver needs)
/// besides its RTCP reports; a tick per player at its own instant woke the worker's thread
/// thousands of times a second at 200 players. On a shared 100 ms grid the players' ticks come
/// together, one wake-up for all of them, and each player ticks at most ten times a second. What
/// cannot wait is not on the timer: frames go out as they come, and NACKs, PLIs and DELETE
/// wake the player at once.
const TICK: Duration = Duration::from_millis(100);

/// Fewest milliseconds between two restarts for keyframe requests (a browser asks repeatedly
/// while it waits for one).
const RESTART_EVERY: Duration = Duration::from_secs(1);

pub struct WhepSink {
    pub handle: Arc<SessionHandle>,
    pub socket: Arc<UdpSocket>,
    pub audio: AudioPath,
    pub publish_gap: Duration,
    video: RtpVideo,
    /// Added to the player's timestamps: the RTP clock runs on across restarts.
    offset: u32,
    last: u32,
    /// A keyframe request ended this playback: start again from the GOP cache.
    pub restart: bool,
    last_restart: Option<tokio::time::Instant>,
}

impl WhepSink {
    pub fn new(
        handle: Arc<SessionHandle>,
        socket: Arc<UdpSocket>,
        audio: AudioPath,
        publish_gap: Duration,
        codec: VideoCodec,
    ) -> WhepSink {
        WhepSink {
            handle,
            socket,
            audio,
            publish_gap,
            video: RtpVideo::new(codec),
            offset: 0,
            last: 0,
            restart: false,
            last_restart: None,
        }
    }

    /// Before the next playback: its timestamps continue after this one's.
    pub fn continue_clock(&mut self) {
        self.offset = self.last.wrapping_add(40);
        self.restart = false;
    }

    /// Video and audio packets of one frame, for the session's tracks.
    fn media(&mut self, frame: &CachedFrame, ts: u32) -> Vec<(Track, MediaTime, Vec<u8>)> {
        let ts = ts.wrapping_add(self.offset);
        self.last = self.last.max(ts);
        let (video, audio) = {
            let session = self.handle.lock();
            (session.video, session.audio)
        };
        match frame.frame.kind {
            FrameKind::Video => {
                let Some(track) = video else {
                    return Vec::new();
                };
                match self.video.push(&frame.frame.payload, ts) {
                    Some(out) => {
                        let rtp = MediaTime::from_90khz(out.pts_ms.max(0) as u64 * 90);
                        vec![(track, rtp, out.data)]
                    }
                    None => Vec::new(),
                }
            }
            FrameKind::Audio => {
                let Some(track) = audio else {
                    return Vec::new();
                };
                self.audio
                    .packets(frame, ts)
                    .into_iter()
                    .map(|(data, ts)| {
                        let rtp = MediaTime::new(
                            u64::from(ts) * 48,
                            str0m::media::Frequency::FORTY_EIGHT_KHZ,
                        );
                        (track, rtp, data.to_vec())
                    })
                    .collect()
            }
            FrameKind::Script => Vec::new(),
        }
    }
}

impl PlayerSink for WhepSink {
    async fn send_batch(&mut self, frames: &[(Arc<CachedFrame>, u32)]) -> anyhow::Result<u64> {
        let mut out = Vec::new();
        for (frame, ts) in frames {
            out.extend(self.media(frame, *ts));
        }
        let mut session = self.handle.lock();
        let before = session.sent_bytes;
        for (track, rtp, data) in out {
            session.write(&self.socket, track, rtp, data);
        }
        if let Some(reason) = &session.closed {
            anyhow::bail!("{reason}");
        }
        Ok(session.sent_bytes - before)
    }

    async fn on_publish(&mut self, _first: bool) -> anyhow::Result<()> {
        Ok(())
    }

    fn publish_gap(&self) -> Duration {
        self.publish_gap
    }

    async fn on_end(&mut self, _had_publisher: bool) -> anyhow::Result<()> {
        self.handle.close("the stream ended");
        Ok(())
    }

    /// The session's timer, a datagram's wake-up or DELETE: cancel-safe (only waits).
    async fn input(&mut self) -> anyhow::Result<usize> {
        let deadline = on_grid(self.handle.next_wake());
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            _ = self.handle.wake.notified() => {}
        }
        Ok(1)
    }

    async fn on_input(&mut self, _n: usize) -> anyhow::Result<bool> {
        let mut session = self.handle.lock();
        session.tick(&self.socket);
        if let Some(reason) = &session.closed {
            anyhow::bail!("{reason}");
        }
        if std::mem::take(&mut session.keyframe_requested) {
            let now = tokio::time::Instant::now();
            if self.last_restart.is_none_or(|t| now - t >= RESTART_EVERY) {
                self.last_restart = Some(now);
                self.restart = true;
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// `at`, or the next tick of the shared [`TICK`] grid after it.
fn on_grid(at: tokio::time::Instant) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let since = at.saturating_duration_since(epoch).as_nanos();
    let tick = TICK.as_nanos();
    let ticks = since.div_ceil(tick);
    epoch + Duration::from_nanos(u64::try_from(ticks * tick).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_a_shared_grid_never_before_they_are_due() {
        let now = tokio::time::Instant::now();
        for offset in [0, 1, 33, 99, 100, 101, 250, 999] {
            let at = now + Duration::from_millis(offset);
            let tick = on_grid(at);
            assert!(tick >= at);
            assert!(tick - at <= TICK);
            // Two instants within one grid step share a tick.
            assert!(on_grid(tick - Duration::from_millis(1)) == tick);
        }
    }
}
