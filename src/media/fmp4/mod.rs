//! A sans-IO fragmented-MP4 muxer for H.264, HEVC, AV1 or VP9 with AAC or Opus, fed FLV-style frames (kind, millisecond timestamp,
//! payload): an init segment (`ftyp` + `moov`) once the codecs are known and a first keyframe came,
//! then fragments (`moof` + `mdat`) cut at every keyframe and at most every `fragment_ms`, so a file
//! written as it goes loses at most its last fragment in a crash. Independent of files: recording
//! writes its output to disk, and fMP4 HLS can cut the same fragments into segments and parts
//! (a `fragment_ms` of ~200 gives LL-HLS parts).
//!
//! Rooms: `boxes.rs` (box writer), `codec.rs` (tracks and their RFC 6381 names), `tags.rs` (legacy
//! and E-RTMP tag bodies), `init.rs` (the init segment), `fragment.rs` (`moof` + `mdat`);
//! this file turns frames into samples with durations and decides where fragments end.

mod boxes;
mod codec;
mod fragment;
mod init;
mod tags;

pub use codec::{AudioCodec, AudioTrack, VideoCodec, VideoTrack};
pub use fragment::{fragment, Sample, TrackRun};
pub use init::{init_segment, AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID};
pub use tags::{read_audio, read_video, AudioTag, VideoTag};

use super::flv::TagKind;
use super::vp9;
use bytes::Bytes;

/// A timestamp this far behind the previous one (or ahead) is a new timeline, not a reorder.
const BACKWARD_JUMP_MS: i64 = 1_000;
const FORWARD_JUMP_MS: i64 = 30_000;
/// A fragment is cut past this many bytes whatever the clock says, so memory stays bounded.
pub const MAX_FRAGMENT_BYTES: usize = 16 * 1024 * 1024;
/// The duration given to a track's last sample when nothing follows it (ms): one frame at 25 fps.
const DEFAULT_VIDEO_MS: u64 = 40;

/// What the muxer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fmp4Output {
    /// `ftyp` + `moov`: goes first, before any fragment.
    Init(Bytes),
    Fragment(FragmentInfo),
}

/// One `moof` + `mdat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentInfo {
    pub data: Bytes,
    /// Milliseconds since the muxer's first sample.
    pub start_ms: u64,
    pub duration_ms: u64,
    /// Starts with a video keyframe (or has no video): a player may start here.
    pub independent: bool,
}

#[derive(Debug, Clone)]
struct Pending {
    sample: Sample,
    /// Decode time in the track's timescale.
    dts: u64,
}

/// One track's samples: the one whose duration is not known yet, and those of the open fragment.
#[derive(Debug, Default)]
struct TrackState {
    pending: Option<Pending>,
    samples: Vec<Sample>,
    /// Decode time of `samples[0]`.
    base: u64,
    last_duration: u32,
    bytes: usize,
}

impl TrackState {
    /// Queues a sample at `dts`: the pending one gets its duration and joins the fragment.
    fn push(&mut self, mut next: Pending) {
        if let Some(previous) = self.pending.take() {
            // Decode times never go back within a track; a reordered one is pinned to its predecessor.
            next.dts = next.dts.max(previous.dts);
            let duration = (next.dts - previous.dts).min(u64::from(u32::MAX)) as u32;
            self.add(previous, duration);
        }
        self.pending = Some(next);
    }

    fn add(&mut self, mut pending: Pending, duration: u32) {
        if self.samples.is_empty() {
            self.base = pending.dts;
        }
        pending.sample.duration = duration;
        self.last_duration = duration;
        self.bytes += pending.sample.data.len();
        self.samples.push(pending.sample);
    }

    /// Ends the stream: the pending sample gets the last known duration (or `default`).
    fn flush(&mut self, default: u32) {
        if let Some(pending) = self.pending.take() {
            let duration = if self.last_duration > 0 {
                self.last_duration
            } else {
                default
            };
            self.add(pending, duration);
        }
    }

    fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }
}

/// Maps the publisher's 32-bit millisecond timestamps onto one timeline starting at 0: wraps and
/// jumps (a restarted encoder) continue it instead of going back.
#[derive(Debug, Default)]
struct Timeline {
    last_in: Option<u32>,
    last_out: i64,
}

impl Timeline {
    fn map(&mut self, ts: u32) -> u64 {
        let out = match self.last_in {
            None => 0,
            Some(last) => {
                let delta = i64::from(ts.wrapping_sub(last) as i32);
                if !(-BACKWARD_JUMP_MS..=FORWARD_JUMP_MS).contains(&delta) {
                    self.last_out
                } else {
                    self.last_out + delta
                }
            }
        };
        self.last_in = Some(ts);
        self.last_out = out;
        out.max(0) as u64
    }
}

/// Frames in, init segment and fragments out.
#[derive(Debug)]
pub struct Fmp4Muxer {
    fragment_ms: u64,
    video_config: Option<VideoTrack>,
    audio_config: Option<AudioTrack>,
    /// The tracks of the init segment written, `None` before it.
    init: Option<(Option<VideoTrack>, Option<AudioTrack>)>,
    config_changed: bool,
    timeline: Timeline,
    video: TrackState,
    audio: TrackState,
    sequence: u32,
    dropped: u64,
}

impl Fmp4Muxer {
    /// A muxer cutting a fragment at every keyframe and at least every `fragment_ms`.
    pub fn new(fragment_ms: u64) -> Fmp4Muxer {
        Fmp4Muxer {
            fragment_ms: fragment_ms.max(1),
            video_config: None,
            audio_config: None,
            init: None,
            config_changed: false,
            timeline: Timeline::default(),
            video: TrackState::default(),
            audio: TrackState::default(),
            sequence: 0,
            dropped: 0,
        }
    }

    /// A sequence header changed (or a track appeared) after the init segment: the output needs a
    /// new init segment, i.e. a new file or a discontinuity. Frames of a new track are dropped.
    pub fn config_changed(&self) -> bool {
        self.config_changed
    }

    /// Whether the init segment has been produced.
    pub fn started(&self) -> bool {
        self.init.is_some()
    }

    /// Frames dropped: before the first keyframe, unsupported codecs, malformed payloads.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped
    }

    /// Feeds one frame; what it completes is appended to `out`.
    pub fn push(
        &mut self,
        kind: TagKind,
        timestamp: u32,
        payload: &Bytes,
        out: &mut Vec<Fmp4Output>,
    ) {
        match kind {
            TagKind::Video => self.push_video(timestamp, payload, out),
            TagKind::Audio => self.push_audio(timestamp, payload, out),
            TagKind::Script => {}
        }
    }

    /// Ends the stream: the last samples go out in a final fragment.
    pub fn finish(&mut self, out: &mut Vec<Fmp4Output>) {
        if self.init.is_none() {
            return;
        }
        self.video
            .flush((DEFAULT_VIDEO_MS * u64::from(VIDEO_TIMESCALE) / 1000) as u32);
        self.audio.flush(1024);
        self.cut(out);
    }

    fn push_video(&mut self, timestamp: u32, payload: &Bytes, out: &mut Vec<Fmp4Output>) {
        let (codec, data, composition_ms, keyframe) = match read_video(payload) {
            VideoTag::Config(codec, record) => return self.video_sequence_header(codec, record),
            VideoTag::Frame {
                codec,
                data,
                composition_ms,
                keyframe,
            } => (codec, data, composition_ms, keyframe),
            VideoTag::Skip => return,
            VideoTag::Unusable => {
                self.dropped += 1;
                return;
            }
        };
        if self.video_config.as_ref().is_none_or(|v| v.codec != codec) {
            self.dropped += 1;
            return;
        }
        let data = if codec == VideoCodec::Av1 {
            without_temporal_delimiters(data)
        } else {
            data
        };
        if data.is_empty() {
            self.dropped += 1;
            return;
        }
        if self.init.is_none() {
            if !keyframe {
                self.dropped += 1;
                return;
            }
            self.learn_vp9_size(&data);
            self.write_init(out);
        }
        if self.init.as_ref().is_some_and(|(video, _)| video.is_none()) {
            self.dropped += 1;
            return;
        }
        let ms = self.timeline.map(timestamp);
        self.video.push(Pending {
            sample: Sample {
                data,
                duration: 0,
                composition_offset: composition_ms.saturating_mul(90),
                sync: keyframe,
            },
            dts: ms * u64::from(VIDEO_TIMESCALE) / 1000,
        });
        // The samples before this keyframe are complete now: they make a fragment of their own.
        if keyframe && self.has_samples() {
            self.cut(out);
        }
        self.cut_if_due(ms, out);
    }

    /// vpcC has no picture size; the first key frame's header has it.
    fn learn_vp9_size(&mut self, frame: &[u8]) {
        if let Some(track) = self.video_config.as_mut() {
            if track.codec == VideoCodec::Vp9 && track.width == 0 {
                if let Some((width, height)) = vp9::frame_info(frame).and_then(|f| f.size) {
                    track.width = width;
                    track.height = height;
                }
            }
        }
    }

    fn video_sequence_header(&mut self, codec: VideoCodec, record: Bytes) {
        let Some(mut track) = VideoTrack::from_config(codec, record) else {
            self.dropped += 1;
            return;
        };
        if let Some((video, _)) = &self.init {
            // A repeated VP9 record is the same track although the init learnt its size since.
            if let Some(video) = video.as_ref().filter(|v| v.codec == VideoCodec::Vp9) {
                if video.config == track.config {
                    (track.width, track.height) = (video.width, video.height);
                }
            }
            if video.as_ref() != Some(&track) {
                self.config_changed = true;
            }
        }
        self.video_config = Some(track);
    }

    fn push_audio(&mut self, timestamp: u32, payload: &Bytes, out: &mut Vec<Fmp4Output>) {
        let (codec, data) = match read_audio(payload) {
            AudioTag::Config(codec, config) => return self.audio_sequence_header(codec, config),
            AudioTag::Frame(codec, data) => (codec, data),
            AudioTag::Skip => return,
            AudioTag::Unusable => {
                self.dropped += 1;
                return;
            }
        };
        let Some(rate) = self
            .audio_config
            .as_ref()
            .filter(|a| a.codec == codec)
            .map(AudioTrack::timescale)
        else {
            self.dropped += 1;
            return;
        };
        if self.init.is_none() {
            // With video announced, the file starts at its first keyframe.
            if self.video_config.is_some() {
                self.dropped += 1;
                return;
            }
            self.write_init(out);
        }
        if self.init.as_ref().is_some_and(|(_, audio)| audio.is_none()) {
            self.dropped += 1;
            return;
        }
        let ms = self.timeline.map(timestamp);
        self.audio.push(Pending {
            sample: Sample {
                data,
                duration: 0,
                composition_offset: 0,
                sync: true,
            },
            dts: ms * u64::from(rate) / 1000,
        });
        self.cut_if_due(ms, out);
    }

    fn audio_sequence_header(&mut self, codec: AudioCodec, config: Bytes) {
        let Some(track) = AudioTrack::from_config(codec, config) else {
            self.dropped += 1;
            return;
        };
        if let Some((_, audio)) = &self.init {
            if audio.as_ref() != Some(&track) {
                self.config_changed = true;
            }
        }
        self.audio_config = Some(track);
    }

    /// The tracks of the init segment, once written: what a playlist's `CODECS` names.
    pub fn tracks(&self) -> Option<(Option<&VideoTrack>, Option<&AudioTrack>)> {
        self.init
            .as_ref()
            .map(|(video, audio)| (video.as_ref(), audio.as_ref()))
    }

    fn write_init(&mut self, out: &mut Vec<Fmp4Output>) {
        let (video, audio) = (self.video_config.clone(), self.audio_config.clone());
        out.push(Fmp4Output::Init(Bytes::from(init_segment(
            video.as_ref(),
            audio.as_ref(),
        ))));
        self.init = Some((video, audio));
    }

    fn has_samples(&self) -> bool {
        !self.video.samples.is_empty() || !self.audio.samples.is_empty()
    }

    fn cut_if_due(&mut self, now_ms: u64, out: &mut Vec<Fmp4Output>) {
        if !self.has_samples() {
            return;
        }
        let start = self.open_start_ms();
        let bytes = self.video.bytes + self.audio.bytes;
        if now_ms.saturating_sub(start) >= self.fragment_ms || bytes >= MAX_FRAGMENT_BYTES {
            self.cut(out);
        }
    }

    /// Timeline ms of the open fragment's first sample (video's when it has video).
    fn open_start_ms(&self) -> u64 {
        if self.video.samples.is_empty() {
            let rate = self
                .audio_config
                .as_ref()
                .map_or(1000, AudioTrack::timescale);
            self.audio.base * 1000 / u64::from(rate)
        } else {
            self.video.base * 1000 / u64::from(VIDEO_TIMESCALE)
        }
    }

    /// The open fragment's samples go out as one `moof` + `mdat`.
    fn cut(&mut self, out: &mut Vec<Fmp4Output>) {
        if !self.has_samples() {
            return;
        }
        self.sequence = self.sequence.wrapping_add(1);
        let rate = self
            .audio_config
            .as_ref()
            .map_or(1000, AudioTrack::timescale);
        let video_ms = |ticks: u64| ticks * 1000 / u64::from(VIDEO_TIMESCALE);
        let audio_ms = |ticks: u64| ticks * 1000 / u64::from(rate);
        let (start_ms, duration_ms) = if self.video.samples.is_empty() {
            (audio_ms(self.audio.base), audio_ms(self.audio.duration()))
        } else {
            (video_ms(self.video.base), video_ms(self.video.duration()))
        };
        let independent = self.video.samples.first().is_none_or(|s| s.sync);
        let data = fragment(
            self.sequence,
            &[
                TrackRun {
                    track_id: VIDEO_TRACK_ID,
                    base_decode_time: self.video.base,
                    samples: &self.video.samples,
                    video: true,
                },
                TrackRun {
                    track_id: AUDIO_TRACK_ID,
                    base_decode_time: self.audio.base,
                    samples: &self.audio.samples,
                    video: false,
                },
            ],
        );
        for track in [&mut self.video, &mut self.audio] {
            track.samples.clear();
            track.bytes = 0;
        }
        out.push(Fmp4Output::Fragment(FragmentInfo {
            data: Bytes::from(data),
            start_ms,
            duration_ms,
            independent,
        }));
    }
}

/// An AV1 temporal unit as an ISOBMFF sample: without its temporal delimiter OBUs (AV1-ISOBMFF
/// §2.4: they SHOULD NOT be in samples; the sample is the temporal unit). E-RTMP's coded frames
/// are a temporal unit with or without them, so RTMP/FLV passes them on untouched. A unit whose
/// OBUs do not parse is kept as it came (the decoder judges it).
pub fn without_temporal_delimiters(data: Bytes) -> Bytes {
    let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let Some(end) = obu_end(&data, pos) else {
            return data;
        };
        if (data[pos] >> 3) & 0x0f != super::av1::OBU_TEMPORAL_DELIMITER {
            match kept.last_mut() {
                Some(last) if last.end == pos => last.end = end,
                _ => kept.push(pos..end),
            }
        }
        pos = end;
    }
    match kept.as_slice() {
        [] => Bytes::new(),
        [only] => data.slice(only.clone()),
        ranges => {
            let mut out = Vec::with_capacity(data.len());
            for range in ranges {
                out.extend_from_slice(&data[range.clone()]);
            }
            Bytes::from(out)
        }
    }
}

/// Where the OBU starting at `pos` ends (`None` when it runs past the data or its size does not
/// parse); one without a size field runs to the end.
fn obu_end(data: &[u8], pos: usize) -> Option<usize> {
    let header = *data.get(pos)?;
    let mut at = pos + 1 + usize::from(header & 0x04 != 0);
    if header & 0x02 == 0 {
        return (at <= data.len()).then_some(data.len());
    }
    let mut size: u64 = 0;
    for i in 0..8 {
        let byte = *data.get(at)?;
        at += 1;
        size |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let end = at.checked_add(usize::try_from(size).ok()?)?;
            return (end <= data.len()).then_some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests;
