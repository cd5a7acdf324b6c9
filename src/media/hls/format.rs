//! `segment-format`: MPEG-TS or fMP4 per stream. `auto` holds the first frames until the codecs
//! are known (the first coded video frame, or a bounded number of frames for audio-only streams),
//! then picks TS for H.264/AAC and fMP4 for anything else; low latency always means fMP4.

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
            })),
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
        *self = if fmp4 {
            StreamSegmenter::Cmaf(Box::new(cmaf(config, None)))
        } else {
            StreamSegmenter::Ts(Box::new(HlsSegmenter::new(config)))
        };
        if let Some((fragment_ms, window)) = reconfigure {
            self.reconfigure(fragment_ms, window);
        }
        let mut merged = Update::default();
        for (kind, timestamp, payload) in held {
            let update = self.push(kind, timestamp, &payload);
            merged.completed = update.completed.or(merged.completed);
            merged.evicted.extend(update.evicted);
            merged.init = update.init.or(merged.init);
            merged.evicted_inits.extend(update.evicted_inits);
            merged.part |= update.part;
        }
        merged
    }

    pub fn end_of_stream(&mut self) -> Update {
        match self {
            StreamSegmenter::Ts(ts) => ts.end_of_stream(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.end_of_stream(),
            StreamSegmenter::Undecided(undecided) => {
                undecided.held.clear();
                undecided.seen = Seen::default();
                undecided.ended = true;
                Update::default()
            }
        }
    }

    pub fn resume(&mut self) {
        match self {
            StreamSegmenter::Ts(ts) => ts.resume(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.resume(),
            StreamSegmenter::Undecided(undecided) => undecided.ended = false,
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
        match self {
            StreamSegmenter::Ts(ts) => ts.stats(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.stats(),
            StreamSegmenter::Undecided(_) => HlsStats::default(),
        }
    }

    pub fn target_duration_ms(&self) -> u64 {
        match self {
            StreamSegmenter::Ts(ts) => ts.target_duration_ms(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.target_duration_ms(),
            StreamSegmenter::Undecided(undecided) => {
                undecided.config.fragment_ms.div_ceil(1000).max(1) * 1000
            }
        }
    }

    /// The playlist of full segments (what the disk mirror writes).
    pub fn playlist(&self) -> Option<String> {
        match self {
            StreamSegmenter::Ts(ts) => ts.playlist(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.playlist(),
            StreamSegmenter::Undecided(_) => None,
        }
    }

    /// The playlist served over HTTP: with parts and LL-HLS tags when low latency is on (a delta
    /// update with `skip`).
    pub fn live_playlist(&self, skip: bool) -> Option<String> {
        match self {
            StreamSegmenter::Cmaf(cmaf) => cmaf.live_playlist(skip),
            _ => self.playlist(),
        }
    }

    pub fn segment(&self, sequence: u64) -> Option<Arc<Segment>> {
        match self {
            StreamSegmenter::Ts(ts) => ts.segment(sequence),
            StreamSegmenter::Cmaf(cmaf) => cmaf.segment(sequence),
            StreamSegmenter::Undecided(_) => None,
        }
    }

    pub fn part(&self, id: u64) -> Option<Arc<Part>> {
        match self {
            StreamSegmenter::Cmaf(cmaf) => cmaf.part(id),
            _ => None,
        }
    }

    pub fn init(&self, generation: u64) -> Option<Bytes> {
        match self {
            StreamSegmenter::Cmaf(cmaf) => cmaf.init(generation),
            _ => None,
        }
    }

    /// The live edge of an LL-HLS stream (`None` without low latency: nothing blocks).
    pub fn position(&self) -> Option<Position> {
        match self {
            StreamSegmenter::Cmaf(cmaf) if cmaf.low_latency() => Some(cmaf.position()),
            _ => None,
        }
    }

    /// `Some(true)` for fMP4, `Some(false)` for TS, `None` while `auto` waits.
    pub fn is_fmp4(&self) -> Option<bool> {
        match self {
            StreamSegmenter::Ts(_) => Some(false),
            StreamSegmenter::Cmaf(_) => Some(true),
            StreamSegmenter::Undecided(_) => None,
        }
    }

    /// The fMP4 stream's tracks (for `CODECS`).
    pub fn tracks(&self) -> Option<(Option<VideoTrack>, Option<AudioTrack>)> {
        match self {
            StreamSegmenter::Cmaf(cmaf) => cmaf.tracks(),
            _ => None,
        }
    }

    pub fn held_sequences(&self) -> Vec<u64> {
        match self {
            StreamSegmenter::Ts(ts) => ts.held_sequences(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.held_sequences(),
            StreamSegmenter::Undecided(_) => Vec::new(),
        }
    }

    pub fn held_inits(&self) -> Vec<u64> {
        match self {
            StreamSegmenter::Cmaf(cmaf) => cmaf.held_inits(),
            _ => Vec::new(),
        }
    }

    pub fn segment_name(&self, sequence: u64) -> String {
        match self {
            StreamSegmenter::Cmaf(cmaf) => cmaf.segment_name(sequence),
            StreamSegmenter::Ts(ts) => ts.segment_name(sequence),
            StreamSegmenter::Undecided(u) => format!("{}-{sequence}.ts", u.config.stream),
        }
    }

    pub fn init_name(&self, generation: u64) -> Option<String> {
        match self {
            StreamSegmenter::Cmaf(cmaf) => Some(cmaf.init_name(generation)),
            _ => None,
        }
    }

    pub fn memory_bytes(&self) -> usize {
        match self {
            StreamSegmenter::Ts(ts) => ts.memory_bytes(),
            StreamSegmenter::Cmaf(cmaf) => cmaf.memory_bytes(),
            StreamSegmenter::Undecided(u) => u.held.iter().map(|(_, _, p)| p.len()).sum(),
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
