//! The HLS segmenters. The MPEG-TS one (this file) is fed FLV-style frames (kind, millisecond timestamp, payload), it muxes MPEG-TS
//! segments cut at keyframes once the fragment duration is reached (on time for audio-only streams),
//! keeps a bounded sliding window of them in memory and renders the playlist. This file holds the
//! state, the timeline (restarts, jumps, cuts); `frames.rs` muxes video and audio frames into the
//! open segment, `window.rs` keeps finished segments and renders the playlist. `cmaf.rs` is the
//! fMP4 segmenter (parts for LL-HLS), `ll_playlist.rs` its playlists and blocking-reload rules,
//! `format.rs` the choice between the two (`segment-format`).

pub mod cmaf;
mod format;
mod frames;
pub mod ll_playlist;
mod window;

pub use format::{SegmentFormat, StreamSegmenter};

use super::aac::AudioSpecificConfig;
use super::avc::AvcConfig;
use super::flv::TagKind;
use super::ts::{Tracks, TsMuxer};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// Completed segments kept beyond the playlist window, for readers that fetched the playlist just
/// before it slid.
pub const SPARE_SEGMENTS: usize = 2;
/// A segment is cut regardless of keyframes past this duration or size, so a stream without
/// keyframes cannot grow one without bound.
pub const MAX_SEGMENT_MS: u64 = 60_000;
pub const MAX_SEGMENT_BYTES: usize = 32 * 1024 * 1024;
/// A timestamp this far behind the previous one (or this far ahead) starts a new timeline.
const BACKWARD_JUMP_MS: u64 = 2_000;
const FORWARD_JUMP_MS: u64 = 30_000;

/// Segmenter settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsConfig {
    /// Segment names are `{stream}-{sequence}.ts`.
    pub stream: String,
    /// Target segment duration.
    pub fragment_ms: u64,
    /// Segments listed in the playlist.
    pub window: usize,
}

/// One finished MPEG-TS segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub sequence: u64,
    pub duration_ms: u64,
    /// Timestamps restart at this segment.
    pub discontinuity: bool,
    pub data: Bytes,
}

/// What a call changed, for callers that mirror segments elsewhere (files for a CDN).
#[derive(Debug, Default, Clone)]
pub struct Update {
    pub completed: Option<Arc<Segment>>,
    /// Sequence numbers dropped from memory.
    pub evicted: Vec<u64>,
    /// fMP4: a new init segment (its generation and bytes).
    pub init: Option<(u64, Bytes)>,
    /// fMP4: init segments dropped from memory.
    pub evicted_inits: Vec<u64>,
    /// fMP4: a part came (or the stream ended): blocked requests may be answered.
    pub part: bool,
    /// fMP4: the parts that came (for a mirror of an LL-HLS playlist).
    pub parts: Vec<Arc<ll_playlist::Part>>,
    /// fMP4: parts no longer listed nor served (by id).
    pub evicted_parts: Vec<u64>,
    /// Files of a format the stream left (`auto` after a republish with other codecs), by name.
    pub removed: Vec<String>,
}

impl Update {
    /// Whether the playlist changed.
    pub fn changed(&self) -> bool {
        self.completed.is_some()
            || !self.evicted.is_empty()
            || self.part
            || self.init.is_some()
            || !self.removed.is_empty()
    }

    /// Adds what `later` changed (`later` happened after `self`).
    pub fn merge(&mut self, later: Update) {
        self.completed = later.completed.or(self.completed.take());
        self.evicted.extend(later.evicted);
        self.init = later.init.or(self.init.take());
        self.evicted_inits.extend(later.evicted_inits);
        self.part |= later.part;
        self.parts.extend(later.parts);
        self.evicted_parts.extend(later.evicted_parts);
        self.removed.extend(later.removed);
    }
}

/// Where a segmenter's numbering stands, so that one of the other format (`auto` after a
/// republish with other codecs) continues it: media sequence, discontinuity sequence, init and
/// part names never go back, so no player or cache mixes the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Continuation {
    pub next_sequence: u64,
    /// Discontinuities before the next segment (what its playlist's first line of them says).
    pub discontinuity_sequence: u64,
    pub next_init: u64,
    pub next_part: u64,
}

/// Counters for monitoring.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HlsStats {
    /// Frames dropped: before the first keyframe, unsupported codecs, malformed payloads.
    pub dropped_frames: u64,
    pub segments: u64,
}

struct Building {
    sequence: u64,
    start_ms: u64,
    /// The latest timestamp seen plus one frame interval: the segment's end if nothing follows.
    end_ms: u64,
    tracks: Tracks,
    discontinuity: bool,
    data: Vec<u8>,
}

pub struct HlsSegmenter {
    config: HlsConfig,
    muxer: TsMuxer,
    avc: Option<AvcConfig>,
    aac: Option<AudioSpecificConfig>,
    current: Option<Building>,
    segments: VecDeque<Arc<Segment>>,
    next_sequence: u64,
    /// The next segment starts a new timeline (republish, timestamp restart).
    pending_discontinuity: bool,
    /// The publisher left and none came back yet: the playlist ends with `#EXT-X-ENDLIST`.
    ended: bool,
    discontinuity_sequence: u64,
    last_timestamp: Option<u64>,
    last_video_ms: Option<u64>,
    video_interval_ms: u64,
    last_audio_ms: Option<u64>,
    audio_interval_ms: u64,
    /// Timestamp of the first audio frame dropped while waiting for video; `None` when not waiting.
    waiting_for_video_since: Option<u64>,
    /// The announced video track never delivered a keyframe; audio is segmented alone.
    video_absent: bool,
    stats: HlsStats,
    scratch: Vec<u8>,
    /// ADTS frames waiting to be muxed as one PES, with the first one's timestamp (90 kHz).
    pending_audio: Vec<u8>,
    pending_audio_pts: u64,
    pending_audio_frames: usize,
    /// A new fragment and window (a reload), taken when the open segment closes.
    pending_config: Option<(u64, usize)>,
    /// Sequence of the first listed segment; it only grows, so a wider window never lists a spare
    /// again (the media sequence must not go back).
    first_listed: u64,
    /// Init and part numbers an fMP4 segmenter before this one reached, for one after it.
    fmp4_names: (u64, u64),
}

impl HlsSegmenter {
    pub fn new(mut config: HlsConfig) -> HlsSegmenter {
        config.window = config.window.max(1);
        config.fragment_ms = config.fragment_ms.max(100);
        HlsSegmenter {
            config,
            muxer: TsMuxer::default(),
            avc: None,
            aac: None,
            current: None,
            segments: VecDeque::new(),
            next_sequence: 0,
            pending_discontinuity: false,
            ended: false,
            discontinuity_sequence: 0,
            last_timestamp: None,
            last_video_ms: None,
            video_interval_ms: 40,
            last_audio_ms: None,
            audio_interval_ms: 23,
            waiting_for_video_since: None,
            video_absent: false,
            stats: HlsStats::default(),
            scratch: Vec::new(),
            pending_audio: Vec::new(),
            pending_audio_pts: 0,
            pending_audio_frames: 0,
            pending_config: None,
            first_listed: 0,
            fmp4_names: (0, 0),
        }
    }

    /// Use `fragment_ms` and `window` from the next segment on (the open one ends as it began).
    pub fn reconfigure(&mut self, fragment_ms: u64, window: usize) {
        self.pending_config = Some((fragment_ms.max(100), window.max(1)));
    }

    pub fn config(&self) -> &HlsConfig {
        &self.config
    }

    pub fn stats(&self) -> HlsStats {
        self.stats
    }

    /// Feeds one FLV frame. Script data is ignored; sequence headers update the codec configuration.
    pub fn push(&mut self, kind: TagKind, timestamp_ms: u32, payload: &[u8]) -> Update {
        self.ended = false;
        match kind {
            TagKind::Script => Update::default(),
            TagKind::Video => self.push_video(u64::from(timestamp_ms), payload),
            TagKind::Audio => self.push_audio(u64::from(timestamp_ms), payload),
        }
    }

    /// The publisher left: finish the open segment; the next publish starts a new timeline.
    pub fn end_of_stream(&mut self) -> Update {
        let mut update = Update::default();
        self.finish_segment(None, &mut update);
        self.avc = None;
        self.aac = None;
        self.last_timestamp = None;
        self.last_video_ms = None;
        self.last_audio_ms = None;
        self.waiting_for_video_since = None;
        self.video_absent = false;
        self.pending_discontinuity = self.next_sequence > 0;
        self.ended = true;
        update
    }

    /// A publisher is back: the playlist is live again (no `#EXT-X-ENDLIST`) before its first frame.
    pub fn resume(&mut self) {
        self.ended = false;
    }

    /// The playlist ends with `#EXT-X-ENDLIST`: the publisher left and none came back yet.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Where the numbering stands (the publisher left: nothing is open).
    pub fn continuation(&self) -> Continuation {
        let listed = self.listed();
        Continuation {
            next_sequence: self.next_sequence,
            discontinuity_sequence: self.discontinuity_sequence
                + listed.iter().filter(|s| s.discontinuity).count() as u64,
            next_init: self.fmp4_names.0,
            next_part: self.fmp4_names.1,
        }
    }

    /// Continues `from` another segmenter: the first segment opens a discontinuity.
    pub fn continue_from(&mut self, from: Continuation) {
        self.next_sequence = from.next_sequence;
        self.first_listed = from.next_sequence;
        self.discontinuity_sequence = from.discontinuity_sequence;
        self.pending_discontinuity = from.next_sequence > 0;
        self.fmp4_names = (from.next_init, from.next_part);
    }

    /// Ends the open segment at `ts` when its tracks are no longer `desired` or it is a fragment long.
    fn cut_if_due(&mut self, ts: u64, desired: Tracks, update: &mut Update) {
        if let Some(current) = &self.current {
            if current.tracks != desired
                || ts.saturating_sub(current.start_ms) >= self.config.fragment_ms
            {
                self.finish_segment(Some(ts), update);
            }
        }
    }

    fn desired_tracks(&self) -> Tracks {
        Tracks {
            video: self.avc.is_some() && !self.video_absent,
            audio: self.aac.is_some(),
        }
    }

    /// Detects a restarted or jumping timeline: closes the open segment and flags the next one.
    fn observe_timestamp(&mut self, ts: u64, update: &mut Update) {
        if let Some(last) = self.last_timestamp {
            let backwards = last > ts && last - ts > BACKWARD_JUMP_MS;
            let forwards = ts > last && ts - last > FORWARD_JUMP_MS;
            if backwards || forwards {
                self.finish_segment(None, update);
                self.pending_discontinuity = true;
                self.last_video_ms = None;
                self.last_audio_ms = None;
                self.last_timestamp = Some(ts);
                return;
            }
        }
        self.last_timestamp = Some(self.last_timestamp.map_or(ts, |last| last.max(ts)));
    }

    fn enforce_bounds(&mut self, ts: u64, update: &mut Update) {
        let too_big = self.current.as_ref().is_some_and(|current| {
            ts.saturating_sub(current.start_ms) >= MAX_SEGMENT_MS
                || current.data.len() >= MAX_SEGMENT_BYTES
        });
        if too_big {
            self.finish_segment(Some(ts), update);
        }
    }

    fn start_segment(&mut self, ts: u64, tracks: Tracks) {
        let mut data = Vec::with_capacity(256 * 1024);
        self.muxer.set_tracks(tracks);
        self.muxer.write_tables(&mut data);
        self.current = Some(Building {
            sequence: self.next_sequence,
            start_ms: ts,
            end_ms: ts,
            tracks,
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
            data,
        });
        self.next_sequence += 1;
    }
}

#[cfg(test)]
mod cmaf_tests;
#[cfg(test)]
mod tests;
