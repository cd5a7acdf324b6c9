//! The playback driver every player protocol shares: waits on the merge clock and the hub's
//! wake-ups, polls the player's cursor a batch at a time, holds the wait window while a stream has
//! no publisher, and hands each batch to the protocol's [`PlayerSink`].
//!
//! A new player protocol is a new file with one `PlayerSink`; the driver is generic over it, so the
//! hot path (one wake-up writes every player) costs one static call per batch, never per frame.

use super::hub::{CachedFrame, ClientEntry, Player, PlayerEvent, Stream};
use super::merge_clock::MergeClock;
use std::future::Future;
use std::sync::Arc;
use tokio::time::Instant;

/// Frames taken from the ring per batch.
pub const BATCH_FRAMES: usize = 1024;

/// What a player protocol does with its stream: write batches, greet publishers, say goodbye.
pub trait PlayerSink: Send {
    /// Write one batch (timestamps already rebased for this player); returns the bytes written.
    fn send_batch(
        &mut self,
        frames: &[(Arc<CachedFrame>, u32)],
    ) -> impl Future<Output = anyhow::Result<u64>> + Send;

    /// A publisher (re)started; `first` when it is the first this player has seen.
    fn on_publish(&mut self, first: bool) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// How long to wait for a publisher to come back, read when the publisher leaves.
    fn publish_gap(&self) -> std::time::Duration;

    /// The wait window passed with no publisher: tell the client and end. `had_publisher` says
    /// whether one ever came (else the stream was never found).
    fn on_end(&mut self, had_publisher: bool) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Bytes from the client while the driver waits; must be cancel-safe (it loses every race
    /// with a wake-up). `Ok(0)` means the client closed. Protocols that read nothing never complete.
    fn input(&mut self) -> impl Future<Output = anyhow::Result<usize>> + Send;

    /// Handle the `n` bytes [`PlayerSink::input`] read; false when the client is done.
    fn on_input(&mut self, n: usize) -> impl Future<Output = anyhow::Result<bool>> + Send;
}

/// What one [`Playback::step`] did.
pub enum Step {
    /// One batch went to the sink.
    Sent,
    /// Playback is over (the client left or was kicked, the stream ended, or an error).
    Done(anyhow::Result<()>),
}

/// One player's playback: its cursor and the state of the wait for a publisher.
pub struct Playback {
    player: Player,
    stream: Arc<Stream>,
    entry: Arc<ClientEntry>,
    clock: Arc<MergeClock>,
    /// While there is no publisher: when to stop waiting for one. Set at the start (if the caller
    /// says so) and when the publisher leaves; a republish in time goes on in the same playback.
    give_up: Option<Instant>,
    had_publisher: bool,
    /// Wait for the merge tick before the next poll (not after a full batch: a burst goes at once).
    merge_next: bool,
}

impl Playback {
    /// `give_up`: when to end if no publisher has come by then (`None`: the caller waits first,
    /// with [`Playback::wait_for_publisher`]).
    pub fn new(
        player: Player,
        entry: &Arc<ClientEntry>,
        clock: &Arc<MergeClock>,
        give_up: Option<Instant>,
    ) -> Playback {
        Playback {
            stream: player.stream().clone(),
            player,
            entry: entry.clone(),
            clock: clock.clone(),
            give_up,
            had_publisher: false,
            merge_next: false,
        }
    }

    /// Wait until the stream has a publisher, at most until `deadline`; false when none came.
    pub async fn wait_for_publisher(&mut self, deadline: Instant) -> bool {
        loop {
            let notified = self.stream.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if matches!(self.player.poll(0), PlayerEvent::Published) {
                self.give_up = None;
                self.had_publisher = true;
                return true;
            }
            if tokio::time::timeout_at(deadline, &mut notified)
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// Drive until the end of playback.
    pub async fn run<S: PlayerSink>(&mut self, sink: &mut S) -> anyhow::Result<()> {
        loop {
            if let Step::Done(result) = self.step(sink).await {
                return result;
            }
        }
    }

    /// Drive until one batch is sent or playback ends (for pull-based bodies, one chunk a call).
    pub async fn step<S: PlayerSink>(&mut self, sink: &mut S) -> Step {
        if std::mem::take(&mut self.merge_next) && !self.clock.window().is_zero() {
            if let Some(done) = self.merge_wait(sink).await {
                return Step::Done(done);
            }
        }
        loop {
            let notified = self.stream.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.player.poll(BATCH_FRAMES) {
                PlayerEvent::Frames(frames) => {
                    let full_batch = frames.len() >= BATCH_FRAMES;
                    match sink.send_batch(&frames).await {
                        Ok(written) => {
                            self.entry.add_send(written);
                            self.stream.add_send_bytes(written);
                        }
                        Err(err) => return Step::Done(Err(err)),
                    }
                    self.merge_next = !full_batch;
                    return Step::Sent;
                }
                PlayerEvent::Published => {
                    self.give_up = None;
                    let first = !std::mem::replace(&mut self.had_publisher, true);
                    if let Err(err) = sink.on_publish(first).await {
                        return Step::Done(Err(err));
                    }
                }
                PlayerEvent::Unpublished => {
                    self.give_up = Some(Instant::now() + sink.publish_gap());
                }
                PlayerEvent::TooSlow => {
                    return Step::Done(Err(anyhow::anyhow!("player fell behind too often")));
                }
                PlayerEvent::Idle => {
                    if self.give_up.is_some_and(|t| t <= Instant::now()) {
                        return Step::Done(sink.on_end(self.had_publisher).await);
                    }
                    let deadline = self.give_up.unwrap_or_else(Instant::now);
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(deadline), if self.give_up.is_some() => {}
                        read = sink.input() => {
                            if let Some(done) = client_input(sink, read).await {
                                return Step::Done(done);
                            }
                        }
                        _ = self.entry.cancel.cancelled() => return Step::Done(Ok(())),
                    }
                }
            }
        }
    }

    /// Wait for the worker's merge tick (not registered as a waiter of the stream, so the
    /// publisher does not touch this player), still answering the client meanwhile.
    async fn merge_wait<S: PlayerSink>(&mut self, sink: &mut S) -> Option<anyhow::Result<()>> {
        let tick = self.clock.next_tick();
        tokio::pin!(tick);
        loop {
            tokio::select! {
                _ = &mut tick => return None,
                read = sink.input() => {
                    if let Some(done) = client_input(sink, read).await {
                        return Some(done);
                    }
                }
                _ = self.entry.cancel.cancelled() => return Some(Ok(())),
            }
        }
    }
}

/// Hand what the client sent to the sink; `Some` when playback ends with it.
async fn client_input<S: PlayerSink>(
    sink: &mut S,
    read: anyhow::Result<usize>,
) -> Option<anyhow::Result<()>> {
    match read {
        Err(err) => Some(Err(err)),
        Ok(n) => match sink.on_input(n).await {
            Ok(true) => None,
            Ok(false) => Some(Ok(())),
            Err(err) => Some(Err(err)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::hub::{ClientKind, Frame, FrameKind, Hub};
    use bytes::Bytes;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// A protocol that only records what the driver asked of it.
    #[derive(Default)]
    struct Recorder {
        batches: Vec<Vec<u32>>,
        publishes: Vec<bool>,
        ended: Option<bool>,
    }

    impl PlayerSink for Recorder {
        async fn send_batch(&mut self, frames: &[(Arc<CachedFrame>, u32)]) -> anyhow::Result<u64> {
            self.batches
                .push(frames.iter().map(|(_, ts)| *ts).collect());
            Ok(frames.len() as u64)
        }

        async fn on_publish(&mut self, first: bool) -> anyhow::Result<()> {
            self.publishes.push(first);
            Ok(())
        }

        fn publish_gap(&self) -> std::time::Duration {
            Duration::ZERO
        }

        async fn on_end(&mut self, had_publisher: bool) -> anyhow::Result<()> {
            self.ended = Some(had_publisher);
            Ok(())
        }

        async fn input(&mut self) -> anyhow::Result<usize> {
            std::future::pending().await
        }

        async fn on_input(&mut self, _n: usize) -> anyhow::Result<bool> {
            Ok(true)
        }
    }

    fn video(timestamp: u32, key: bool) -> Frame {
        Frame {
            kind: FrameKind::Video,
            timestamp,
            payload: Bytes::from(vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0]),
        }
    }

    async fn step(playback: &mut Playback, sink: &mut Recorder) -> Step {
        tokio::time::timeout(Duration::from_secs(5), playback.step(sink))
            .await
            .expect("a step within 5 s")
    }

    #[tokio::test]
    async fn a_republish_continues_the_playback_and_a_gap_past_the_window_ends_it() {
        let hub = Hub::new(crate::worker::hub::tests::settings());
        let name = crate::stream_name::StreamName::from_rtmp(
            crate::stream_name::VhostRule::HostName,
            "rtmp://127.0.0.1/live",
            "live",
            "s",
        );
        let guard = hub.register_client("127.0.0.1", ClientKind::RtmpPlay);
        let clock = MergeClock::new(Duration::ZERO);
        let give_up = Some(Instant::now() + Duration::from_secs(30));
        let mut playback = Playback::new(hub.play(&name), &guard.entry, &clock, give_up);
        let mut sink = Recorder::default();

        let mut publisher = hub.publish(&name, "", 1).unwrap();
        publisher.push(video(1000, true));
        publisher.push(video(1040, false));
        assert!(matches!(step(&mut playback, &mut sink).await, Step::Sent));
        assert_eq!(sink.publishes, [true]);
        assert_eq!(sink.batches, [vec![0, 40]]);
        assert_eq!(guard.entry.send_bytes.load(Ordering::Relaxed), 2);

        // The publisher leaves and one comes back: the same playback goes on, timestamps after
        // the last one sent.
        drop(publisher);
        let mut publisher = hub.publish(&name, "", 1).unwrap();
        publisher.push(video(5000, true));
        assert!(matches!(step(&mut playback, &mut sink).await, Step::Sent));
        assert_eq!(sink.publishes, [true, false]);
        assert_eq!(sink.batches[1], [41]);

        // It leaves for longer than the (zero) window: the sink is told, and playback ends.
        drop(publisher);
        assert!(matches!(
            step(&mut playback, &mut sink).await,
            Step::Done(Ok(()))
        ));
        assert_eq!(sink.ended, Some(true));
        assert_eq!(sink.batches.len(), 2);
    }

    #[tokio::test]
    async fn no_publisher_within_the_window_ends_without_one() {
        let hub = Hub::new(crate::worker::hub::tests::settings());
        let name = crate::stream_name::StreamName::from_rtmp(
            crate::stream_name::VhostRule::HostName,
            "rtmp://127.0.0.1/live",
            "live",
            "never",
        );
        let guard = hub.register_client("127.0.0.1", ClientKind::RtmpPlay);
        let clock = MergeClock::new(Duration::ZERO);
        let give_up = Some(Instant::now() + Duration::from_millis(50));
        let mut playback = Playback::new(hub.play(&name), &guard.entry, &clock, give_up);
        let mut sink = Recorder::default();
        assert!(matches!(
            step(&mut playback, &mut sink).await,
            Step::Done(Ok(()))
        ));
        assert_eq!(sink.ended, Some(false));
        assert!(sink.batches.is_empty() && sink.publishes.is_empty());
    }
}
