//! The fMP4 (CMAF) segmenter: frames go through the fMP4 muxer, whose fragments are the parts
//! (LL-HLS) and whose runs of fragments from a keyframe on are the segments (`.m4s`, cut at the
//! first independent fragment past the target duration). It keeps the init segments, a sliding
//! window of segments, the parts of the newest few, and renders the playlists
//! ([`super::ll_playlist`]). A codec change or a republish starts a new init segment and a
//! discontinuity.

pub use super::ll_playlist::Part;
use super::ll_playlist::{self, Listed, LowLatency, PlaylistView, Position};
use super::{
    Continuation, HlsStats, Segment, Update, MAX_SEGMENT_BYTES, MAX_SEGMENT_MS, SPARE_SEGMENTS,
};
use crate::media::flv::TagKind;
use crate::media::fmp4::{AudioTrack, Fmp4Muxer, Fmp4Output, FragmentInfo, VideoTrack};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;

/// Completed segments whose parts stay listed and served (the open one's always are).
const SEGMENTS_WITH_PARTS: usize = 3;
/// The share of the part target the muxer cuts at: it cuts at the first sample past it, so a part
/// stays within the target (RFC 8216bis: no part longer than PART-TARGET) for frame intervals up to
/// 15% of it.
const PART_CUT_PERCENT: u64 = 85;

/// fMP4 segmenter settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmafConfig {
    /// Names are `{stream}-{sequence}.m4s`, `{stream}-p{part}.m4s`, `{stream}-init.mp4`.
    pub stream: String,
    /// Target segment duration.
    pub fragment_ms: u64,
    /// Segments listed in the playlist.
    pub window: usize,
    /// LL-HLS part target; `None` without low latency.
    pub part_ms: Option<u64>,
}

struct Entry {
    segment: Arc<Segment>,
    init: u64,
    /// Emptied once the segment is older than [`SEGMENTS_WITH_PARTS`].
    parts: Vec<Arc<Part>>,
}

struct Open {
    sequence: u64,
    init: u64,
    discontinuity: bool,
    parts: Vec<Arc<Part>>,
    bytes: usize,
}

impl Open {
    fn duration_ms(&self) -> u64 {
        self.parts.iter().map(|p| p.duration_ms).sum()
    }
}

pub struct CmafSegmenter {
    config: CmafConfig,
    muxer: Fmp4Muxer,
    /// The newest sequence headers, fed to the muxer that a codec change starts.
    video_header: Option<Bytes>,
    audio_header: Option<Bytes>,
    /// Init segments by generation, with the tracks they carry.
    inits: VecDeque<(u64, Bytes, Option<VideoTrack>, Option<AudioTrack>)>,
    /// The generation the muxer's next init segment gets.
    next_init: u64,
    entries: VecDeque<Entry>,
    open: Option<Open>,
    next_sequence: u64,
    next_part: u64,
    pending_discontinuity: bool,
    discontinuity_sequence: u64,
    first_listed: u64,
    ended: bool,
    pending_config: Option<(u64, usize)>,
    stats: HlsStats,
    outputs: Vec<Fmp4Output>,
}

impl CmafSegmenter {
    pub fn new(mut config: CmafConfig) -> CmafSegmenter {
        config.window = config.window.max(1);
        config.fragment_ms = config.fragment_ms.max(100);
        config.part_ms = config.part_ms.map(|ms| ms.clamp(50, config.fragment_ms));
        CmafSegmenter {
            muxer: Fmp4Muxer::new(muxer_fragment_ms(&config)),
            config,
            video_header: None,
            audio_header: None,
            inits: VecDeque::new(),
            next_init: 0,
            entries: VecDeque::new(),
            open: None,
            next_sequence: 0,
            next_part: 0,
            pending_discontinuity: false,
            discontinuity_sequence: 0,
            first_listed: 0,
            ended: false,
            pending_config: None,
            stats: HlsStats::default(),
            outputs: Vec::new(),
        }
    }

    pub fn config(&self) -> &CmafConfig {
        &self.config
    }

    pub fn stats(&self) -> HlsStats {
        HlsStats {
            dropped_frames: self.stats.dropped_frames + self.muxer.dropped_frames(),
            segments: self.stats.segments,
        }
    }

    /// Use `fragment_ms` and `window` from the next segment on.
    pub fn reconfigure(&mut self, fragment_ms: u64, window: usize) {
        self.pending_config = Some((fragment_ms.max(100), window.max(1)));
    }

    /// Feeds one FLV frame.
    pub fn push(&mut self, kind: TagKind, timestamp_ms: u32, payload: &Bytes) -> Update {
        self.ended = false;
        let mut update = Update::default();
        let header = match kind {
            TagKind::Video
                if crate::media::tag_class::video(payload)
                    == crate::media::tag_class::VideoClass::Config =>
            {
                Some(&mut self.video_header)
            }
            TagKind::Audio
                if crate::media::tag_class::audio(payload)
                    == crate::media::tag_class::AudioClass::Config =>
            {
                Some(&mut self.audio_header)
            }
            _ => None,
        };
        if let Some(slot) = header {
            *slot = Some(payload.clone());
        }
        self.muxer
            .push(kind, timestamp_ms, payload, &mut self.outputs);
        if self.muxer.config_changed() {
            // The codecs changed: what the old init covers ends here, a new init starts.
            self.restart_muxer(&mut update);
            self.pending_discontinuity = self.next_sequence > 0;
        }
        self.drain(&mut update);
        update
    }

    /// The publisher left: the open segment completes; the next publish starts a new init.
    pub fn end_of_stream(&mut self) -> Update {
        let mut update = Update::default();
        self.restart_muxer(&mut update);
        self.video_header = None;
        self.audio_header = None;
        self.muxer = Fmp4Muxer::new(muxer_fragment_ms(&self.config));
        self.pending_discontinuity = self.next_sequence > 0;
        self.ended = true;
        update.part = true;
        update
    }

    pub fn resume(&mut self) {
        self.ended = false;
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Flushes the muxer's last fragment, completes the open segment and starts a fresh muxer fed
    /// the newest sequence headers.
    fn restart_muxer(&mut self, update: &mut Update) {
        self.muxer.finish(&mut self.outputs);
        self.drain(update);
        self.finish_segment(update);
        self.muxer = Fmp4Muxer::new(muxer_fragment_ms(&self.config));
        let mut ignored = Vec::new();
        for (kind, header) in [
            (TagKind::Video, self.video_header.clone()),
            (TagKind::Audio, self.audio_header.clone()),
        ] {
            if let Some(header) = header {
                self.muxer.push(kind, 0, &header, &mut ignored);
            }
        }
    }

    fn drain(&mut self, update: &mut Update) {
        let outputs = std::mem::take(&mut self.outputs);
        for output in outputs {
            match output {
                Fmp4Output::Init(data) => {
                    let generation = self.next_init;
                    self.next_init += 1;
                    let (video, audio) = self
                        .muxer
                        .tracks()
                        .map(|(v, a)| (v.cloned(), a.cloned()))
                        .unwrap_or_default();
                    self.inits
                        .push_back((generation, data.clone(), video, audio));
                    update.init = Some((generation, data));
                }
                Fmp4Output::Fragment(fragment) => self.add_part(fragment, update),
            }
        }
    }

    fn add_part(&mut self, fragment: FragmentInfo, update: &mut Update) {
        let due = self.open.as_ref().is_some_and(|open| {
            let duration = open.duration_ms();
            (fragment.independent && duration >= self.config.fragment_ms)
                || duration >= MAX_SEGMENT_MS
                || open.bytes >= MAX_SEGMENT_BYTES
        });
        if due {
            self.finish_segment(update);
        }
        let init = self.next_init.saturating_sub(1);
        if self.open.is_none() {
            self.open = Some(Open {
                sequence: self.next_sequence,
                init,
                discontinuity: std::mem::take(&mut self.pending_discontinuity),
                parts: Vec::new(),
                bytes: 0,
            });
            self.next_sequence += 1;
        }
        let part = Arc::new(Part {
            id: self.next_part,
            duration_ms: fragment.duration_ms,
            independent: fragment.independent,
            data: fragment.data,
        });
        self.next_part += 1;
        if let Some(open) = self.open.as_mut() {
            open.bytes += part.data.len();
            open.parts.push(part.clone());
        }
        update.part = true;
        update.parts.push(part);
    }

    /// Completes the open segment (its parts concatenated) and slides the window.
    fn finish_segment(&mut self, update: &mut Update) {
        let Some(open) = self.open.take() else {
            return;
        };
        let mut data = BytesMut::with_capacity(open.bytes);
        for part in &open.parts {
            data.extend_from_slice(&part.data);
        }
        let segment = Arc::new(Segment {
            sequence: open.sequence,
            duration_ms: open.duration_ms(),
            discontinuity: open.discontinuity,
            data: data.freeze(),
        });
        self.stats.segments += 1;
        self.entries.push_back(Entry {
            segment: segment.clone(),
            init: open.init,
            parts: open.parts,
        });
        if let Some((fragment_ms, window)) = self.pending_config.take() {
            self.config.fragment_ms = fragment_ms;
            self.config.window = window;
            self.config.part_ms = self.config.part_ms.map(|ms| ms.min(fragment_ms));
        }
        let count = self.entries.len();
        for entry in self
            .entries
            .iter_mut()
            .take(count.saturating_sub(SEGMENTS_WITH_PARTS))
        {
            update
                .evicted_parts
                .extend(entry.parts.drain(..).map(|part| part.id));
        }
        let first = self.entries[count.saturating_sub(self.config.window)]
            .segment
            .sequence;
        let first = first.max(self.first_listed);
        let left = self
            .entries
            .iter()
            .filter(|e| e.segment.sequence >= self.first_listed && e.segment.sequence < first)
            .filter(|e| e.segment.discontinuity)
            .count();
        self.discontinuity_sequence += left as u64;
        self.first_listed = first;
        let listed = self
            .entries
            .iter()
            .filter(|e| e.segment.sequence >= first)
            .count();
        while self.entries.len() > listed + SPARE_SEGMENTS {
            if let Some(old) = self.entries.pop_front() {
                update.evicted.push(old.segment.sequence);
                update
                    .evicted_parts
                    .extend(old.parts.iter().map(|part| part.id));
            }
        }
        // Init segments no held segment (or the open one, or the muxer) uses any more go.
        let oldest = self.entries.front().map_or(self.next_init, |e| e.init);
        while self.inits.len() > 1 && self.inits.front().is_some_and(|(g, ..)| *g < oldest) {
            if let Some((generation, ..)) = self.inits.pop_front() {
                update.evicted_inits.push(generation);
            }
        }
        update.completed = Some(segment);
    }

    /// Where the numbering stands (the publisher left: nothing is open).
    pub fn continuation(&self) -> Continuation {
        let listed = self
            .entries
            .iter()
            .filter(|e| e.segment.sequence >= self.first_listed);
        Continuation {
            next_sequence: self.next_sequence,
            discontinuity_sequence: self.discontinuity_sequence
                + listed.filter(|e| e.segment.discontinuity).count() as u64,
            next_init: self.next_init,
            next_part: self.next_part,
        }
    }

    /// Continues `from` another segmenter: the first segment opens a discontinuity with a new
    /// init segment.
    pub fn continue_from(&mut self, from: Continuation) {
        self.next_sequence = from.next_sequence;
        self.first_listed = from.next_sequence;
        self.discontinuity_sequence = from.discontinuity_sequence;
        self.pending_discontinuity = from.next_sequence > 0;
        self.next_init = from.next_init;
        self.next_part = from.next_part;
    }

    /// Where the live edge is: what blocking requests wait for.
    pub fn position(&self) -> Position {
        Position {
            msn: self
                .open
                .as_ref()
                .map_or(self.next_sequence, |o| o.sequence),
            parts: self.open.as_ref().map_or(0, |o| o.parts.len() as u64),
            next_part: self.next_part,
            ended: self.ended,
            started: !self.entries.is_empty(),
        }
    }

    fn view(&self) -> PlaylistView<'_> {
        let listed = self
            .entries
            .iter()
            .filter(|e| e.segment.sequence >= self.first_listed)
            .map(|e| Listed {
                segment: &e.segment,
                init: e.init,
                parts: &e.parts,
            })
            .collect();
        PlaylistView {
            stream: &self.config.stream,
            min_target_ms: self.config.fragment_ms,
            discontinuity_sequence: self.discontinuity_sequence,
            listed,
            open: self
                .open
                .as_ref()
                .map(|o| (o.init, o.discontinuity, &o.parts[..])),
            next_part: self.next_part,
            ended: self.ended,
        }
    }

    /// The playlist without parts (what the disk gets, and players without low latency).
    pub fn playlist(&self) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        Some(ll_playlist::render(&self.view(), None))
    }

    /// The LL-HLS playlist (parts, preload hint, server control), a delta update with `skip`;
    /// the plain one without low latency.
    pub fn live_playlist(&self, skip: bool) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        let low_latency = self.config.part_ms.map(|part_ms| LowLatency {
            part_ms,
            skip,
            server: true,
        });
        Some(ll_playlist::render(&self.view(), low_latency))
    }

    /// The playlist a file copy serves (the disk mirror): with parts and the preload hint as the
    /// worker serves it, without blocking reload or delta updates (a static server has neither).
    pub fn file_playlist(&self) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        let low_latency = self.config.part_ms.map(|part_ms| LowLatency {
            part_ms,
            skip: false,
            server: false,
        });
        Some(ll_playlist::render(&self.view(), low_latency))
    }

    pub fn low_latency(&self) -> bool {
        self.config.part_ms.is_some()
    }

    pub fn target_duration_ms(&self) -> u64 {
        self.view().target_duration_secs() * 1000
    }

    pub fn segment(&self, sequence: u64) -> Option<Arc<Segment>> {
        self.entries
            .iter()
            .find(|e| e.segment.sequence == sequence)
            .map(|e| e.segment.clone())
    }

    /// A part of the open segment or of one of the newest completed ones.
    pub fn part(&self, id: u64) -> Option<Arc<Part>> {
        let open = self.open.iter().flat_map(|o| o.parts.iter());
        let recent = self.entries.iter().rev().flat_map(|e| e.parts.iter());
        open.chain(recent).find(|p| p.id == id).cloned()
    }

    /// An init segment still in use.
    pub fn init(&self, generation: u64) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|(g, ..)| *g == generation)
            .map(|(_, data, ..)| data.clone())
    }

    /// The newest init's tracks: what the stream's `CODECS` are.
    pub fn tracks(&self) -> Option<(Option<VideoTrack>, Option<AudioTrack>)> {
        self.inits.back().map(|(_, _, v, a)| (v.clone(), a.clone()))
    }

    pub fn held_sequences(&self) -> Vec<u64> {
        self.entries.iter().map(|e| e.segment.sequence).collect()
    }

    /// Ids of the parts held (listed or served), oldest first.
    pub fn held_parts(&self) -> Vec<u64> {
        let completed = self.entries.iter().flat_map(|e| e.parts.iter());
        let open = self.open.iter().flat_map(|o| o.parts.iter());
        completed.chain(open).map(|p| p.id).collect()
    }

    pub fn part_name(&self, id: u64) -> String {
        ll_playlist::part_name(&self.config.stream, id)
    }

    pub fn held_inits(&self) -> Vec<u64> {
        self.inits.iter().map(|(g, ..)| *g).collect()
    }

    pub fn segment_name(&self, sequence: u64) -> String {
        ll_playlist::segment_name(&self.config.stream, sequence)
    }

    pub fn init_name(&self, generation: u64) -> String {
        ll_playlist::init_name(&self.config.stream, generation)
    }

    /// Bytes held: init segments, completed segments, and the open one's parts (the listed parts
    /// of completed segments share nothing with their segment's copy, so they count too).
    pub fn memory_bytes(&self) -> usize {
        let inits: usize = self.inits.iter().map(|(_, d, ..)| d.len()).sum();
        let segments: usize = self
            .entries
            .iter()
            .map(|e| e.segment.data.len() + e.parts.iter().map(|p| p.data.len()).sum::<usize>())
            .sum();
        inits + segments + self.open.as_ref().map_or(0, |o| o.bytes)
    }
}

/// The muxer's fragment duration: a part with low latency, else the segment target (a fragment
/// per GOP, more in long GOPs).
fn muxer_fragment_ms(config: &CmafConfig) -> u64 {
    match config.part_ms {
        Some(part) => (part * PART_CUT_PERCENT / 100).max(1),
        None => config.fragment_ms,
    }
}
