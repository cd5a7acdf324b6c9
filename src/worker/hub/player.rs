//! A player's cursor into a stream's ring: where it is, what it has had, how it is stamped. Each
//! poll takes the next batch under the stream's lock; all per-player state is here and small.

use super::registry::StreamState;
use super::{CachedFrame, FrameKind, Hub, Stream};
use crate::compile::plan::StreamSettings;
use crate::media::interleave::MAX_HOLD_MS;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A player skipped ahead this many times within [`SKIP_WINDOW`] is disconnected.
pub(super) const MAX_SKIPS: u32 = 3;
const SKIP_WINDOW: Duration = Duration::from_secs(30);

/// What a player should do next.
#[derive(Debug)]
pub enum PlayerEvent {
    /// Frames to send, timestamps already rebased for this player (`(frame, timestamp)`).
    Frames(Vec<(Arc<CachedFrame>, u32)>),
    /// The publisher left (players keep waiting for a republish, at most `play-wait` over RTMP and
    /// `http-flv wait` over HTTP-FLV).
    Unpublished,
    /// A publisher (re)started.
    Published,
    /// Nothing yet; wait with [`Player::wait`].
    Idle,
    /// The player fell behind too often: disconnect it.
    TooSlow,
}

/// A player's cursor into a stream's ring: all its per-player state.
pub struct Player {
    hub: Arc<Hub>,
    stream: Arc<Stream>,
    next_seq: u64,
    started: bool,
    /// The generation this player has been told is publishing.
    playing_generation: Option<u64>,
    skips: VecDeque<Instant>,
    gop_cache: bool,
    queue_bytes: u64,
    /// Publisher timestamp that maps to `offset` for this player.
    base: Option<u32>,
    offset: u32,
    /// The newest timestamp sent, any track.
    last_out: u32,
    /// The newest timestamp sent per track (video, audio, other): each track stays monotonic on
    /// its own, and an SRT publisher's prompt video is ahead of its audio (`media/interleave.rs`).
    last_track: [u32; 3],
    sent_any: bool,
    /// Skipped ahead with no keyframe to land on: drop frames until one comes.
    await_keyframe: bool,
    /// Seq of the newest metadata this player has had (or was not to have again): older copies
    /// still in the ring are not sent.
    metadata_seq: Option<u64>,
}

impl Player {
    pub(super) fn new(hub: Arc<Hub>, stream: Arc<Stream>, settings: &StreamSettings) -> Player {
        Player {
            hub,
            stream,
            next_seq: 0,
            started: false,
            playing_generation: None,
            skips: VecDeque::new(),
            gop_cache: settings.gop_cache,
            queue_bytes: settings.player_queue_bytes.max(64 * 1024),
            base: None,
            offset: 0,
            last_out: 0,
            last_track: [0; 3],
            sent_any: false,
            await_keyframe: false,
            metadata_seq: None,
        }
    }

    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }

    fn rebase(&mut self, ts: u32, kind: FrameKind) -> u32 {
        let base = *self.base.get_or_insert(ts);
        let out = self.offset.wrapping_add(ts.wrapping_sub(base));
        // Keep each track monotonic: a frame stamped before the start (audio interleaving) or a
        // jump backwards maps to its track's last timestamp (never before this publish's start).
        let track = &mut self.last_track[match kind {
            FrameKind::Video => 0,
            FrameKind::Audio => 1,
            FrameKind::Script => 2,
        }];
        let floor = (*track).max(self.offset);
        let out = if ts < base || out < floor { floor } else { out };
        *track = out;
        self.last_out = self.last_out.max(out);
        out
    }

    /// Take the next batch (at most `max_frames`).
    pub fn poll(&mut self, max_frames: usize) -> PlayerEvent {
        let stream = self.stream.clone();
        let state = stream.lock();
        if let Some(event) = self.follow_publisher(&state) {
            return event;
        }
        let mut frames = Vec::new();
        if !self.started {
            if !self.start(&state, &mut frames) {
                return PlayerEvent::Idle;
            }
        } else if self.skip_if_behind(&state) {
            return PlayerEvent::TooSlow;
        }
        self.take(&state, max_frames, &mut frames);
        drop(state);
        if frames.is_empty() {
            return PlayerEvent::Idle;
        }
        self.sent_any = true;
        PlayerEvent::Frames(frames)
    }

    /// Notice a publish or an unpublish since the last poll; `Some` is what to tell the player.
    fn follow_publisher(&mut self, state: &StreamState) -> Option<PlayerEvent> {
        let publishing = state.publisher.is_some();
        match self.playing_generation {
            Some(generation) => {
                let ended = !publishing || state.generation != generation;
                let drained = !self.started
                    || state.next_seq <= self.next_seq
                    || state.generation != generation;
                if ended && drained {
                    self.playing_generation = None;
                    self.started = false;
                    return Some(PlayerEvent::Unpublished);
                }
                None
            }
            None if publishing => {
                self.playing_generation = Some(state.generation);
                self.started = false;
                self.await_keyframe = false;
                self.next_seq = state.ring.front().map_or(state.next_seq, |f| f.seq);
                // Continue just after what this player saw, so timestamps stay monotonic.
                self.base = None;
                self.offset = if self.sent_any {
                    self.last_out.wrapping_add(1)
                } else {
                    0
                };
                Some(PlayerEvent::Published)
            }
            None => Some(PlayerEvent::Idle),
        }
    }

    /// Find where this player starts (the GOP cache, else the next keyframe) and put what must
    /// come first into `frames`; false while there is no place to start yet.
    fn start(&mut self, state: &StreamState, frames: &mut Vec<(Arc<CachedFrame>, u32)>) -> bool {
        let front_seq = state.ring.front().map_or(state.next_seq, |f| f.seq);
        let index_of = |seq: u64| seq.checked_sub(front_seq).map(|i| i as usize);
        let cached_start = if self.gop_cache {
            state.gop_start
        } else {
            None
        };
        let start_seq = match cached_start {
            Some(seq) => seq,
            None => {
                // No cache to start from: wait for the next place a decoder can start.
                let has_video = state.has_video;
                let from = index_of(self.next_seq).unwrap_or(0);
                let found = state
                    .ring
                    .iter()
                    .skip(from)
                    .find(|f| f.keyframe || (!has_video && f.frame.kind == FrameKind::Audio));
                match found {
                    Some(f) => f.seq,
                    None => {
                        self.next_seq = state.next_seq;
                        return false;
                    }
                }
            }
        };
        self.started = true;
        self.next_seq = start_seq;
        if let Some(f) = index_of(start_seq).and_then(|i| state.ring.get(i)) {
            self.base = Some(f.frame.timestamp);
        }
        // The metadata goes first, wherever it sits in the ring: an encoder that repeats it
        // (no `@setDataFrame`) has its newest copy inside the GOP, and a player must learn the
        // stream before its media. A player continuing across a republish gets the new
        // sequence headers (decoders need them) but not the metadata again: the codec facts it
        // repeats are all in the sequence headers.
        if let Some(m) = &state.metadata {
            if !self.sent_any {
                frames.push((m.clone(), 0));
            }
            self.metadata_seq = Some(m.seq);
        }
        let headers = [
            &state.video_sh,
            &state.video_extra,
            &state.audio_sh,
            &state.audio_extra,
        ];
        for f in headers.into_iter().flatten() {
            if f.seq < start_seq {
                frames.push((f.clone(), self.stamp(f)));
            }
        }
        true
    }

    /// Fallen off the ring, or lagging more than the queue allows: skip to the newest keyframe.
    /// True when the player has skipped too often and is to be disconnected.
    fn skip_if_behind(&mut self, state: &StreamState) -> bool {
        let front_seq = state.ring.front().map_or(state.next_seq, |f| f.seq);
        let lag = self
            .next_seq
            .checked_sub(front_seq)
            .and_then(|i| state.ring.get(i as usize))
            .map_or(0, |f| state.next_offset - f.offset);
        if self.next_seq >= front_seq && lag <= self.queue_bytes {
            return false;
        }
        let now = Instant::now();
        self.skips.push_back(now);
        while self
            .skips
            .front()
            .is_some_and(|t| now.duration_since(*t) > SKIP_WINDOW)
        {
            self.skips.pop_front();
        }
        if self.skips.len() as u32 > MAX_SKIPS {
            crate::worker::counters::player_too_slow();
            return true;
        }
        let skipped_from = self.next_seq;
        match state.gop_start {
            Some(g) if g > self.next_seq => self.next_seq = g,
            // No newer keyframe yet: drop everything queued and resume at the next one.
            _ => {
                self.next_seq = state.next_seq;
                self.await_keyframe = true;
            }
        }
        crate::worker::counters::player_skipped(self.next_seq.saturating_sub(skipped_from));
        false
    }

    /// Move the cursor over at most `max_frames` frames, putting those this player gets in `frames`.
    fn take(
        &mut self,
        state: &StreamState,
        max_frames: usize,
        frames: &mut Vec<(Arc<CachedFrame>, u32)>,
    ) {
        let front_seq = state.ring.front().map_or(state.next_seq, |f| f.seq);
        let first = self
            .next_seq
            .checked_sub(front_seq)
            .map_or(0, |i| i as usize);
        let audio_only = !state.has_video;
        frames.reserve(state.ring.len().saturating_sub(first).min(max_frames));
        for f in state.ring.iter().skip(first).take(max_frames) {
            if self.await_keyframe {
                if !(f.keyframe || audio_only && f.frame.kind == FrameKind::Audio) {
                    self.next_seq = f.seq + 1;
                    continue;
                }
                self.await_keyframe = false;
            }
            self.next_seq = f.seq + 1;
            // Audio stamped before the keyframe this player started on (an SRT publisher's prompt
            // video runs ahead of its audio bursts) would all be squeezed onto its first timestamp;
            // a publisher whose clock went back further is kept (squeezed, as before).
            if f.frame.kind == FrameKind::Audio
                && !f.header
                && self.base.is_some_and(|base| {
                    f.frame.timestamp < base && base - f.frame.timestamp <= MAX_HOLD_MS
                })
            {
                continue;
            }
            if f.metadata && self.metadata_seq.is_some_and(|seen| f.seq <= seen) {
                continue;
            }
            frames.push((f.clone(), self.stamp(f)));
        }
    }

    /// This player's timestamp for `f`: metadata at 0, headers at the current position, media
    /// rebased. FFmpeg's FLV reader (RTMP and HTTP-FLV alike) reads `onMetaData` at timestamp 0 as
    /// metadata and at any other as the packet of a new `text` subtitle stream.
    fn stamp(&mut self, f: &CachedFrame) -> u32 {
        if f.metadata {
            0
        } else if f.header {
            self.last_out.max(self.offset)
        } else {
            self.rebase(f.frame.timestamp, f.frame.kind)
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let last = {
            let mut state = self.stream.lock();
            state.players = state.players.saturating_sub(1);
            state.players == 0
        };
        if last {
            self.hub.demand_changed(&self.stream, false);
        }
        self.hub.release(&self.stream);
    }
}
