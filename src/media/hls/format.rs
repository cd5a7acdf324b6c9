//! `segment-format`: MPEG-TS or fMP4 per stream. `auto` holds the first frames until the codecs
//! are known (the first coded video frame, or a bounded number of frames for audio-only streams),
//! then picks TS for H.264/AAC and fMP4 for anything else; low latency always means fMP4. A
//! republish under `auto` chooses again ([`StreamSegmenter::redecide`]): the same format continues
//! its segmenter, the other one continues its numbering after a discontinuity.

use super::cmaf::{CmafConfig, CmafSegmenter, Part};
use super::ll_playlist::Position;
use super::{HlsConfig, HlsSegmenter, HlsStats, Segment, Update};
use crate::media::ertmp::FourCc;
use crate::media::flv::TagKind;
use crate::media::fmp4::{AudioTrack, VideoTrack};
use crate::media::tag_class::{self, AudioClass, VideoClass};
use bytes::Bytes;
use std::sync::Arc;

/// Frames held while `auto` waits for the codecs (a few seconds of audio-only stream).
const MAX_HELD_FRAMES: usize = 128;

/// `hls segment-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SegmentFormat {
    #[default]
    Auto,
    Ts,
    Fmp4,
}

/// What `auto` has seen of the codecs so far.
#[derive(Debug, Default)]
struct Seen {
    /// Legacy H.264 (what the TS muxer reads) or not.
    video_ts: Option<bool>,
    /// AAC (legacy or `mp4a`) or not.
    audio_aac: Option<bool>,
}

/// `auto` before its choice: the frames so far.
pub struct Undecided {
    config: HlsConfig,
    held: Vec<(TagKind, u32, Bytes)>,
    seen: Seen,
    reconfigure: Option<(u64, usize)>,
    ended: bool,
    /// The segmenter of the previous publish (a republish under `auto`): it serves its playlist
    /// and segments until the choice is made.
    previous: Option<Box<StreamSegmenter>>,
}

/// One stream's segmenter, TS or fMP4 (or not chosen yet).
pub enum StreamSegmenter {
    Undecided(Box<Undecided>),
    Ts(Box<HlsSegmenter>),
    Cmaf(Box<CmafSegmenter>),
}

impl StreamSegmenter {
    pub fn new(config: HlsConfig, format: SegmentFormat, part_ms: Option<u64>) -> StreamSegmenter {
        match (format, part_ms) {
            (SegmentFormat::Ts, _) => StreamSegmenter::Ts(Box::new(HlsSegmenter::new(config))),
            (SegmentFormat::Fmp4, _) | (SegmentFormat::Auto, Some(_)) => {
                StreamSegmenter::Cmaf(Box::new(cmaf(config, part_ms)))
            }
            (SegmentFormat::Auto, None) => StreamSegmenter::Undecided(Box::new(Undecided {
                config,
                held: Vec::new(),
                seen: Seen::default(),
                reconfigure: None,
                ended: false,
                previous: None,
            })),
        }
    }

    /// A republish under `auto`: the codecs are chosen again from its first frames; meanwhile the
    /// previous publish's playlist and segments stay served. Nothing changes before a first choice.
    pub fn redecide(&mut self) {
        let config = match self {
            StreamSegmenter::Undecided(_) => return,
            StreamSegmenter::Ts(ts) => ts.config().clone(),
            StreamSegmenter::Cmaf(cmaf) => {
                let config = cmaf.config();
                if config.part_ms.is_some() {
                    // Low latency is fMP4 whatever the codecs.
                    return;
                }
                HlsConfig {
                    stream: config.stream.clone(),
                    fragment_ms: config.fragment_ms,
                    window: config.window,
                }
            }
        };
        let previous = std::mem::replace(
            self,
            StreamSegmenter::Undecided(Box::new(Undecided {
                config,
                held: Vec::new(),
                seen: Seen::default(),
                reconfigure: None,
                ended: false,
                previous: None,
            })),
        );
        if let StreamSegmenter::Undecided(undecided) = self {
            undecided.ended = previous.ended();
            undecided.previous = Some(Box::new(previous));
        }
    }

    /// What answers for the stream now: the previous publish's segmenter while a republish under
    /// `auto` has not chosen yet.
    fn serving(&self) -> &StreamSegmenter {
        match self {
            StreamSegmenter::Undecided(undecided) => undecided.previous.as_deref().unwrap_or(self),
            _ => self,
        }
    }

    pub fn push(&mut self, kind: TagKind, timestamp: u32, payload: &Bytes) -> Update {
        match self {
            StreamSegmenter::Ts(ts) => ts.push(kind, timestamp, payload),
            StreamSegmenter::Cmaf(cmaf) => cmaf.push(kind, timestamp, payload),
            StreamSegmenter::Undecided(undecided) => {
                undecided.ended = false;
                undecided.held.push((kind, timestamp, payload.clone()));
                let Some(fmp4) = undecided.observe(kind, payload) else {
                    return Update::default();
                };
                self.decide(fmp4)
            }
        }
    }

    /// Builds the chosen segmenter and replays the held frames into it.
    fn decide(&mut self, fmp4: bool) -> Update {
        let StreamSegmenter::Undecided(undecided) = self else {
            return Update::default();
        };
        let config = undecided.config.clone();
        let held = std::mem::take(&mut undecided.held);
        let reconfigure = undecided.reconfigure.take();
        let previous = undecided.previous.take();
        let mut merged = Update::default();
        *self = match previous {
            // The same format: the previous segmenter goes on (a codec change within fMP4 is its
            // own new init and discontinuity).
            Some(previous) if previous.is_fmp4() == Some(fmp4) => *previous,
            previous => {
                let mut next = if fmp4 {
                    StreamSegmenter::Cmaf(Box::new(cmaf(config, None)))
                } else {
                    StreamSegmenter::Ts(Box::new(HlsSegmenter::new(config)))
                };
                if let Some(previous) = previous {
                    next.continue_from(previous.continuation());
                    merged.removed = previous.held_files();
                }
                next
            }
        };
        if let Some((fragment_ms, window)) = reconfigure {
            self.reconfigure(fragment_ms, window);
        }
        for (kind, timestamp, payload) in held {
            let update = self.push(kind, timestamp, &payload);
            merged.merge(update);
        }
        merged
    }

    fn continuation(&self) -> super::Continuation {
        match self {
            StreamSegmenter::Ts(ts) => ts.continuation(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.continuation(),
            StreamSegmenter::Undecided(_) => super::Continuation::default(),
        }
    }

    fn continue_from(&mut self, from: super::Continuation) {
        match self {
            StreamSegmenter::Ts(ts) => ts.continue_from(from),
            StreamSegmenter::Cmaf(cmaf) => cmaf.continue_from(from),
            StreamSegmenter::Undecided(_) => {}
        }
    }

    /// The names of every file held: segments, init segments, parts.
    pub fn held_files(&self) -> Vec<String> {
        let segments = self
            .held_sequences()
            .into_iter()
            .map(|seq| self.segment_name(seq));
        let inits = self
            .held_inits()
            .into_iter()
            .filter_map(|g| self.init_name(g));
        let parts = self
            .held_parts()
            .into_iter()
            .filter_map(|id| self.part_name(id));
        segments.chain(inits).chain(parts).collect()
    }

    pub fn end_of_stream(&mut self) -> Update {
        match self {
            StreamSegmenter::Ts(ts) => ts.end_of_stream(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.end_of_stream(),
            StreamSegmenter::Undecided(undecided) => {
                undecided.held.clear();
                undecided.seen = Seen::default();
                undecided.ended = true;
                if let Some(previous) = undecided.previous.as_mut() {
                    // Ended already; its playlist gets `#EXT-X-ENDLIST` again.
                    previous.end_of_stream();
                }
                Update::default()
            }
        }
    }

    pub fn resume(&mut self) {
        match self {
            StreamSegmenter::Ts(ts) => ts.resume(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.resume(),
            StreamSegmenter::Undecided(undecided) => {
                undecided.ended = false;
                if let Some(previous) = undecided.previous.as_mut() {
                    previous.resume();
                }
            }
        }
    }

    pub fn ended(&self) -> bool {
        match self {
            StreamSegmenter::Ts(ts) => ts.ended(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.ended(),
            StreamSegmenter::Undecided(undecided) => undecided.ended,
        }
    }

    pub fn reconfigure(&mut self, fragment_ms: u64, window: usize) {
        match self {
            StreamSegmenter::Ts(ts) => ts.reconfigure(fragment_ms, window),
            StreamSegmenter::Cmaf(cmaf) => cmaf.reconfigure(fragment_ms, window),
            StreamSegmenter::Undecided(undecided) => {
                undecided.reconfigure = Some((fragment_ms, window))
            }
        }
    }

    pub fn stats(&self) -> HlsStats {
        match self.serving() {
            StreamSegmenter::Ts(ts) => ts.stats(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.stats(),
            StreamSegmenter::Undecided(_) => HlsStats::default(),
        }
    }

    pub fn target_duration_ms(&self) -> u64 {
        match self.serving() {
            StreamSegmenter::Ts(ts) => ts.target_duration_ms(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.target_duration_ms(),
            StreamSegmenter::Undecided(undecided) => {
                undecided.config.fragment_ms.div_ceil(1000).max(1) * 1000
            }
        }
    }

    /// The playlist of full segments (what the disk mirror writes).
    pub fn playlist(&self) -> Option<String> {
        match self.serving() {
            StreamSegmenter::Ts(ts) => ts.playlist(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.playlist(),
            StreamSegmenter::Undecided(_) => None,
        }
    }

    /// The playlist served over HTTP: with parts and LL-HLS tags when low latency is on (a delta
    /// update with `skip`).
    pub fn live_playlist(&self, skip: bool) -> Option<String> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) => cmaf.live_playlist(skip),
            _ => self.playlist(),
        }
    }

    pub fn segment(&self, sequence: u64) -> Option<Arc<Segment>> {
        match self.serving() {
            StreamSegmenter::Ts(ts) => ts.segment(sequence),
            StreamSegmenter::Cmaf(cmaf) => cmaf.segment(sequence),
            StreamSegmenter::Undecided(_) => None,
        }
    }

    pub fn part(&self, id: u64) -> Option<Arc<Part>> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) => cmaf.part(id),
            _ => None,
        }
    }

    pub fn init(&self, generation: u64) -> Option<Bytes> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) => cmaf.init(generation),
            _ => None,
        }
    }

    /// The live edge of an LL-HLS stream (`None` without low latency: nothing blocks).
    pub fn position(&self) -> Option<Position> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) if cmaf.low_latency() => Some(cmaf.position()),
            _ => None,
        }
    }

    /// Whether frames pushed now may be Opus: not into TS (whose muxer carries AAC only); `auto`
    /// before its choice holds them and picks fMP4 when it has seen Opus.
    pub fn carries_opus(&self) -> bool {
        !matches!(self, StreamSegmenter::Ts(_))
    }

    /// `Some(true)` for fMP4, `Some(false)` for TS, `None` while `auto` waits.
    pub fn is_fmp4(&self) -> Option<bool> {
        match self.serving() {
            StreamSegmenter::Ts(_) => Some(false),
            StreamSegmenter::Cmaf(_) => Some(true),
            StreamSegmenter::Undecided(_) => None,
        }
    }

    /// The fMP4 stream's tracks (for `CODECS`).
    pub fn tracks(&self) -> Option<(Option<VideoTrack>, Option<AudioTrack>)> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) => cmaf.tracks(),
            _ => None,
        }
    }

    pub fn held_sequences(&self) -> Vec<u64> {
        match self.serving() {
            StreamSegmenter::Ts(ts) => ts.held_sequences(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.held_sequences(),
            StreamSegmenter::Undecided(_) => Vec::new(),
        }
    }

    pub fn held_inits(&self) -> Vec<u64> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) => cmaf.held_inits(),
            _ => Vec::new(),
        }
    }

    pub fn segment_name(&self, sequence: u64) -> String {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) => cmaf.segment_name(sequence),
            StreamSegmenter::Ts(ts) => ts.segment_name(sequence),
            StreamSegmenter::Undecided(u) => format!("{}-{sequence}.ts", u.config.stream),
        }
    }

    /// Ids of the LL-HLS parts held.
    pub fn held_parts(&self) -> Vec<u64> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) if cmaf.low_latency() => cmaf.held_parts(),
            _ => Vec::new(),
        }
    }

    pub fn part_name(&self, id: u64) -> Option<String> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) => Some(cmaf.part_name(id)),
            _ => None,
        }
    }

    /// The playlist a file copy of the stream serves (the disk mirror): the LL-HLS one without
    /// blocking reload and delta updates when low latency is on, else the one of full segments.
    pub fn file_playlist(&self) -> Option<String> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) if cmaf.low_latency() => cmaf.file_playlist(),
            serving => serving.playlist(),
        }
    }

    pub fn init_name(&self, generation: u64) -> Option<String> {
        match self.serving() {
            StreamSegmenter::Cmaf(cmaf) => Some(cmaf.init_name(generation)),
            _ => None,
        }
    }

    pub fn memory_bytes(&self) -> usize {
        match self {
            StreamSegmenter::Ts(ts) => ts.memory_bytes(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.memory_bytes(),
            StreamSegmenter::Undecided(u) => {
                u.held.iter().map(|(_, _, p)| p.len()).sum::<usize>()
                    + u.previous.as_ref().map_or(0, |p| p.memory_bytes())
            }
        }
    }
}

fn cmaf(config: HlsConfig, part_ms: Option<u64>) -> CmafSegmenter {
    CmafSegmenter::new(CmafConfig {
        stream: config.stream,
        fragment_ms: config.fragment_ms,
        window: config.window,
        part_ms,
    })
}

impl Undecided {
    /// Notes what `payload` says of the codecs; `Some(fmp4)` once the choice can be made.
    fn observe(&mut self, kind: TagKind, payload: &Bytes) -> Option<bool> {
        match kind {
            TagKind::Video => {
                if let Some(codec) = tag_class::video_codec(payload) {
                    let legacy = !crate::media::ertmp::is_ex_video(payload);
                    self.seen.video_ts = Some(legacy && codec == FourCc::AVC1);
                }
                let coded = !matches!(
                    tag_class::video(payload),
                    VideoClass::Config | VideoClass::ConfigExtra
                );
                if coded && self.seen.video_ts.is_some() {
                    return Some(self.fmp4());
                }
            }
            TagKind::Audio if tag_class::audio(payload) == AudioClass::Config => {
                // The TS muxer reads legacy AAC tags only.
                let aac = payload.first().is_some_and(|b| b >> 4 == 10);
                self.seen.audio_aac = Some(aac);
            }
            _ => {}
        }
        (self.held.len() >= MAX_HELD_FRAMES).then(|| self.fmp4())
    }

    /// TS carries H.264 and AAC; anything else takes fMP4.
    fn fmp4(&self) -> bool {
        let video_ts = self.seen.video_ts.unwrap_or(true);
        let audio_ts = self.seen.audio_aac.unwrap_or(true);
        !(video_ts && audio_ts)
    }
}
