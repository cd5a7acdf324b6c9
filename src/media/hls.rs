//! The HLS segmenter: fed FLV-style frames (kind, millisecond timestamp, payload), it muxes MPEG-TS
//! segments cut at keyframes once the fragment duration is reached (on time for audio-only streams),
//! keeps a bounded sliding window of them in memory and renders the playlist.

use super::aac::AudioSpecificConfig;
use super::avc::{self, AvcConfig, NAL_AUD, NAL_IDR, NAL_SPS};
use super::flv::TagKind;
use super::playlist::{MediaPlaylist, PlaylistEntry};
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
/// Audio dropped this long while waiting for a first video keyframe means the video track announced
/// by its sequence header is not coming: segment the audio alone until a keyframe shows up.
const VIDEO_GIVE_UP_MS: u64 = 5_000;
/// AAC frames (~23 ms each) carried per audio PES: one frame per PES would spend about 40% of the
/// audio bytes on TS headers and stuffing.
const AUDIO_FRAMES_PER_PES: usize = 4;
/// The access unit delimiter NAL unit (primary_pic_type 7: any slice type).
const AUD: [u8; 6] = [0, 0, 0, 1, NAL_AUD, 0xf0];

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

    /// `#EXT-X-TARGETDURATION` of the current playlist in milliseconds (the configured fragment
    /// before the first segment): how often a player reloads the playlist.
    pub fn target_duration_ms(&self) -> u64 {
        self.media_playlist().target_duration_secs() * 1000
    }

    /// The current playlist, `None` until the first segment is complete.
    pub fn playlist(&self) -> Option<String> {
        if self.segments.is_empty() {
            return None;
        }
        Some(self.media_playlist().render())
    }

    fn media_playlist(&self) -> MediaPlaylist {
        let listed = self.listed();
        let entries = listed
            .iter()
            .map(|segment| PlaylistEntry {
                uri: self.segment_name(segment.sequence),
                duration_ms: segment.duration_ms,
                discontinuity: segment.discontinuity,
            })
            .collect();
        MediaPlaylist {
            min_target_ms: self.config.fragment_ms,
            media_sequence: listed.first().map_or(0, |segment| segment.sequence),
            discontinuity_sequence: self.discontinuity_sequence,
            entries,
            ended: self.ended,
        }
    }

    /// A segment still in memory (listed, or one of the spares that just slid out).
    pub fn segment(&self, sequence: u64) -> Option<Arc<Segment>> {
        self.segments
            .iter()
            .find(|segment| segment.sequence == sequence)
            .cloned()
    }

    /// The segments the playlist lists, oldest first.
    pub fn listed(&self) -> Vec<Arc<Segment>> {
        self.segments
            .iter()
            .filter(|segment| segment.sequence >= self.first_listed)
            .cloned()
            .collect()
    }

    /// Sequence numbers of every segment held in memory (listed and spares), oldest first.
    pub fn held_sequences(&self) -> Vec<u64> {
        self.segments
            .iter()
            .map(|segment| segment.sequence)
            .collect()
    }

    /// `{stream}-{sequence}.ts`
    pub fn segment_name(&self, sequence: u64) -> String {
        format!("{}-{}.ts", self.config.stream, sequence)
    }

    /// Bytes held in completed segments and the open one.
    pub fn memory_bytes(&self) -> usize {
        self.segments.iter().map(|s| s.data.len()).sum::<usize>()
            + self.current.as_ref().map_or(0, |b| b.data.len())
    }

    fn push_video(&mut self, ts: u64, payload: &[u8]) -> Update {
        let mut update = Update::default();
        if payload.len() < 5 || payload[0] & 0x0f != 7 {
            self.stats.dropped_frames += 1;
            return update;
        }
        match payload[1] {
            0 => {
                match AvcConfig::parse(&payload[5..]) {
                    Ok(config) => self.avc = Some(config),
                    Err(_) => self.stats.dropped_frames += 1,
                }
                return update;
            }
            1 => {}
            _ => return update, // end of sequence
        }
        let Some(length_size) = self.avc.as_ref().map(|avc| avc.nalu_length_size) else {
            self.stats.dropped_frames += 1;
            return update;
        };
        let keyframe = payload[0] >> 4 == 1;
        if keyframe {
            self.video_absent = false;
            self.waiting_for_video_since = None;
        }
        let composition = i64::from(
            ((u32::from(payload[2]) << 16 | u32::from(payload[3]) << 8 | u32::from(payload[4]))
                << 8) as i32
                >> 8,
        );
        // Convert first: a malformed frame is dropped before it can cut or open a segment.
        if self
            .annexb_access_unit(&payload[5..], length_size, keyframe)
            .is_err()
        {
            self.stats.dropped_frames += 1;
            return update;
        }

        self.observe_timestamp(ts, &mut update);
        learn_interval(&mut self.last_video_ms, &mut self.video_interval_ms, ts);
        let desired = self.desired_tracks();
        if keyframe {
            self.cut_if_due(ts, desired, &mut update);
        }
        self.enforce_bounds(ts, &mut update);
        if self.current.is_none() {
            if !keyframe {
                self.stats.dropped_frames += 1;
                return update;
            }
            self.start_segment(ts, desired);
        }

        let dts = ts * 90;
        let pts = (ts as i64 + composition).max(0) as u64 * 90;
        let video_interval = self.video_interval_ms;
        if let Some(current) = self.current.as_mut() {
            self.muxer
                .write_video(&mut current.data, pts, dts, &self.scratch, keyframe);
            current.end_ms = current.end_ms.max(ts + video_interval);
        }
        update
    }

    /// Builds the Annex-B access unit in `scratch`: AUD, SPS/PPS before a keyframe that lacks them,
    /// then the frame's NAL units (minus any AUD of its own).
    fn annexb_access_unit(
        &mut self,
        data: &[u8],
        length_size: u8,
        keyframe: bool,
    ) -> Result<(), avc::AvcError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&AUD);
        let has_sps = avc::nal_units(data, length_size)
            .any(|nalu| nalu.is_ok_and(|n| n.first().is_some_and(|h| h & 0x1f == NAL_SPS)));
        let has_idr = avc::nal_units(data, length_size)
            .any(|nalu| nalu.is_ok_and(|n| n.first().is_some_and(|h| h & 0x1f == NAL_IDR)));
        if (keyframe || has_idr) && !has_sps {
            if let Some(config) = &self.avc {
                for nalu in config.sps.iter().chain(config.pps.iter()) {
                    avc::push_annexb(&mut self.scratch, nalu);
                }
            }
        }
        for nalu in avc::nal_units(data, length_size) {
            let nalu = nalu?;
            if nalu.first().is_some_and(|h| h & 0x1f != NAL_AUD) {
                avc::push_annexb(&mut self.scratch, nalu);
            }
        }
        Ok(())
    }

    fn push_audio(&mut self, ts: u64, payload: &[u8]) -> Update {
        let mut update = Update::default();
        if payload.len() < 2 || payload[0] >> 4 != 10 {
            self.stats.dropped_frames += 1;
            return update;
        }
        if payload[1] == 0 {
            match AudioSpecificConfig::parse(&payload[2..]) {
                Ok(config) => self.aac = Some(config),
                Err(_) => self.stats.dropped_frames += 1,
            }
            return update;
        }
        let Some(aac) = self.aac.clone() else {
            self.stats.dropped_frames += 1;
            return update;
        };
        let raw = &payload[2..];
        let Ok(header) = aac.adts_header(raw.len()) else {
            self.stats.dropped_frames += 1;
            return update;
        };
        self.observe_timestamp(ts, &mut update);
        learn_interval(&mut self.last_audio_ms, &mut self.audio_interval_ms, ts);
        let desired = self.desired_tracks();
        if !desired.video {
            self.cut_if_due(ts, desired, &mut update);
        }
        self.enforce_bounds(ts, &mut update);
        if self.current.is_none() {
            if desired.video {
                // Wait for the video keyframe that opens the segment, but not forever.
                let since = *self.waiting_for_video_since.get_or_insert(ts);
                if ts.saturating_sub(since) < VIDEO_GIVE_UP_MS {
                    self.stats.dropped_frames += 1;
                    return update;
                }
                self.video_absent = true;
            }
            let desired = self.desired_tracks();
            self.start_segment(ts, desired);
        }
        if self.pending_audio_frames == 0 {
            self.pending_audio_pts = ts * 90;
        }
        self.pending_audio.extend_from_slice(&header);
        self.pending_audio.extend_from_slice(raw);
        self.pending_audio_frames += 1;
        if self.pending_audio_frames >= AUDIO_FRAMES_PER_PES {
            self.flush_audio();
        }
        let audio_interval = self.audio_interval_ms;
        if let Some(current) = self.current.as_mut() {
            current.end_ms = current.end_ms.max(ts + audio_interval);
        }
        update
    }

    /// Muxes the buffered audio frames into the open segment as one PES.
    fn flush_audio(&mut self) {
        if self.pending_audio_frames == 0 {
            return;
        }
        if let Some(current) = self.current.as_mut() {
            self.muxer.write_audio(
                &mut current.data,
                self.pending_audio_pts,
                &self.pending_audio,
            );
        }
        self.pending_audio.clear();
        self.pending_audio_frames = 0;
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

    /// Completes the open segment, ending at `end_ms` (the next segment's start) or at its last
    /// frame's end, and slides the window.
    fn finish_segment(&mut self, end_ms: Option<u64>, update: &mut Update) {
        self.flush_audio();
        let Some(building) = self.current.take() else {
            return;
        };
        let end = end_ms.unwrap_or(building.end_ms).max(building.start_ms);
        let segment = Arc::new(Segment {
            sequence: building.sequence,
            duration_ms: end - building.start_ms,
            discontinuity: building.discontinuity,
            data: Bytes::from(building.data),
        });
        self.stats.segments += 1;
        self.segments.push_back(segment.clone());
        if let Some((fragment_ms, window)) = self.pending_config.take() {
            self.config.fragment_ms = fragment_ms;
            self.config.window = window;
        }
        let window = self.config.window;
        let first = self.segments[self.segments.len().saturating_sub(window)].sequence;
        let first = first.max(self.first_listed);
        // The segments that just left the listed window (one, unless the window shrank).
        let left = self
            .segments
            .iter()
            .filter(|s| s.sequence >= self.first_listed && s.sequence < first)
            .filter(|s| s.discontinuity)
            .count();
        self.discontinuity_sequence += left as u64;
        self.first_listed = first;
        let listed = self.segments.iter().filter(|s| s.sequence >= first).count();
        while self.segments.len() > listed + SPARE_SEGMENTS {
            if let Some(old) = self.segments.pop_front() {
                update.evicted.push(old.sequence);
            }
        }
        update.completed = Some(segment);
    }
}

/// Learns a track's usual frame interval from consecutive timestamps (gaps of a second or more are
/// pauses, not the frame rate).
fn learn_interval(last_ms: &mut Option<u64>, interval_ms: &mut u64, ts: u64) {
    if let Some(previous) = last_ms.replace(ts) {
        if ts > previous && ts - previous < 1000 {
            *interval_ms = ts - previous;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: [u8; 22] = [
        0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40,
        0x00, 0x00, 0x0c, 0x83, 0xc5, 0x0a, 0xa8,
    ];
    const PPS: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];

    fn video_sequence_header() -> Vec<u8> {
        let mut payload = vec![0x17, 0, 0, 0, 0, 1, SPS[1], SPS[2], SPS[3], 0xff, 0xe1];
        payload.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
        payload.extend_from_slice(&SPS);
        payload.push(1);
        payload.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
        payload.extend_from_slice(&PPS);
        payload
    }

    fn video_frame(keyframe: bool) -> Vec<u8> {
        let nal_type = if keyframe { 0x65 } else { 0x41 };
        vec![
            if keyframe { 0x17 } else { 0x27 },
            1,
            0,
            0,
            0,
            0,
            0,
            0,
            3,
            nal_type,
            0x88,
            0x84,
        ]
    }

    fn segmenter(window: usize) -> HlsSegmenter {
        HlsSegmenter::new(HlsConfig {
            stream: "cam".into(),
            fragment_ms: 2000,
            window,
        })
    }

    /// Feeds `seconds` of 25 fps video with a keyframe every `gop` frames, starting at `start_ms`.
    fn feed_video(seg: &mut HlsSegmenter, start_ms: u32, frames: u32, gop: u32) -> Vec<Update> {
        (0..frames)
            .map(|i| {
                seg.push(
                    TagKind::Video,
                    start_ms + i * 40,
                    &video_frame(i % gop == 0),
                )
            })
            .collect()
    }

    #[test]
    fn cuts_at_keyframes_after_the_fragment() {
        let mut seg = segmenter(3);
        seg.push(TagKind::Video, 0, &video_sequence_header());
        // 10 s at 25 fps, keyframe every 30 frames (1.2 s): cuts at 2.4, 4.8, 7.2, 9.6 s.
        feed_video(&mut seg, 0, 250, 30);
        let listed = seg.listed();
        let durations: Vec<u64> = listed.iter().map(|s| s.duration_ms).collect();
        assert_eq!(durations, vec![2400, 2400, 2400]);
        assert_eq!(listed[0].sequence, 1);
        let playlist = seg.playlist().unwrap();
        assert!(playlist.contains("#EXT-X-TARGETDURATION:3\n"), "{playlist}");
        assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:1\n"), "{playlist}");
        assert!(
            playlist.contains("#EXTINF:2.400,\ncam-3.ts\n"),
            "{playlist}"
        );
        // Each segment starts with PAT, PMT, then a keyframe PES carrying AUD, SPS, PPS.
        let data = &listed[1].data;
        assert_eq!(data.len() % 188, 0);
        assert_eq!(data[188 * 2 + 1] & 0x40, 0x40);
        let pes_start = data[188 * 2..].windows(6).position(|w| w == AUD).unwrap();
        let after_aud = &data[188 * 2 + pes_start + 6..];
        assert_eq!(&after_aud[..5], &[0, 0, 0, 1, 0x67]);
        end_of_stream_flushes(&mut seg);
    }

    fn end_of_stream_flushes(seg: &mut HlsSegmenter) {
        let update = seg.end_of_stream();
        let last = update.completed.unwrap();
        assert_eq!(last.sequence, 4);
        // 9.6 s to 9.96 s plus one frame.
        assert_eq!(last.duration_ms, 400);
    }

    #[test]
    fn window_slides_and_memory_stays_bounded() {
        let mut seg = segmenter(2);
        seg.push(TagKind::Video, 0, &video_sequence_header());
        let updates = feed_video(&mut seg, 0, 25 * 60, 50);
        let evicted: Vec<u64> = updates.iter().flat_map(|u| u.evicted.clone()).collect();
        assert_eq!(evicted.first(), Some(&0));
        assert_eq!(seg.segments.len(), 2 + SPARE_SEGMENTS);
        let playlist = seg.playlist().unwrap();
        let first = seg.listed()[0].sequence;
        assert!(first > 10);
        assert!(playlist.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n")));
        assert!(seg.segment(first - 1).is_some(), "a spare is still served");
        assert!(seg.segment(0).is_none());
    }

    #[test]
    fn a_new_window_and_fragment_apply_from_the_next_segment() {
        let mut seg = segmenter(2);
        seg.push(TagKind::Video, 0, &video_sequence_header());
        // Keyframes every second: 2 s segments.
        feed_video(&mut seg, 0, 25 * 20, 25);
        assert_eq!(seg.listed().len(), 2);
        let first = seg.listed()[0].sequence;
        seg.reconfigure(1000, 5);
        assert_eq!(seg.listed().len(), 2, "nothing changes before the next cut");
        feed_video(&mut seg, 20_000, 25 * 20, 25);
        let listed = seg.listed();
        assert_eq!(listed.len(), 5);
        assert_eq!(listed.last().unwrap().duration_ms, 1000);
        assert!(
            listed[0].sequence > first,
            "the media sequence never goes back"
        );
        assert_eq!(seg.segments.len(), 5 + SPARE_SEGMENTS);
        // Shrinking drops the oldest listed at the next cut.
        seg.reconfigure(1000, 1);
        feed_video(&mut seg, 40_000, 50, 25);
        assert_eq!(seg.listed().len(), 1);
        assert_eq!(seg.segments.len(), 1 + SPARE_SEGMENTS);
    }

    #[test]
    fn drops_until_the_first_keyframe() {
        let mut seg = segmenter(3);
        seg.push(TagKind::Video, 0, &video_sequence_header());
        seg.push(TagKind::Video, 0, &video_frame(false));
        seg.push(TagKind::Video, 40, &video_frame(false));
        assert_eq!(seg.stats().dropped_frames, 2);
        feed_video(&mut seg, 80, 100, 50);
        assert_eq!(seg.listed()[0].duration_ms, 2000);
    }

    #[test]
    fn audio_only_cuts_on_time() {
        let mut seg = segmenter(5);
        seg.push(TagKind::Audio, 0, &[0xaf, 0, 0x12, 0x10]);
        for i in 0..500u32 {
            // 1024 samples at 44.1 kHz ≈ 23.2 ms.
            let ts = i * 1024 * 1000 / 44100;
            seg.push(TagKind::Audio, ts, &[0xaf, 1, 0x21, 0x10, 0x04]);
        }
        let listed = seg.listed();
        assert!(listed.len() >= 4);
        for segment in &listed {
            assert!(
                (2000..2100).contains(&segment.duration_ms),
                "{}",
                segment.duration_ms
            );
        }
        assert_eq!(seg.stats().dropped_frames, 0);
    }

    #[test]
    fn audio_is_segmented_alone_when_announced_video_never_comes() {
        let mut seg = segmenter(5);
        seg.push(TagKind::Video, 0, &video_sequence_header());
        seg.push(TagKind::Audio, 0, &[0xaf, 0, 0x12, 0x10]);
        for i in 0..500u32 {
            seg.push(TagKind::Audio, i * 23, &[0xaf, 1, 0x21, 0x10, 0x04]);
        }
        let listed = seg.listed();
        assert!(listed.len() >= 2, "audio was not segmented");
        // The PMT lists audio only: no H.264 stream type.
        assert!(!listed[0].data[188..376]
            .windows(3)
            .any(|w| w == [0x1b, 0xe1, 0x00]));
        // Video arriving later opens a new segment with both tracks.
        let before = seg.stats().segments;
        feed_video(&mut seg, 11_500, 100, 25);
        assert!(seg.stats().segments > before);
        let last = seg.listed().last().cloned().unwrap();
        assert!(last.data[188..376]
            .windows(3)
            .any(|w| w == [0x1b, 0xe1, 0x00]));
    }

    #[test]
    fn republish_and_timestamp_restart_mark_discontinuities() {
        let mut seg = segmenter(10);
        seg.push(TagKind::Video, 0, &video_sequence_header());
        feed_video(&mut seg, 0, 150, 25);
        seg.end_of_stream();
        seg.push(TagKind::Video, 0, &video_sequence_header());
        feed_video(&mut seg, 0, 150, 25);
        // The timeline restarts without an unpublish.
        feed_video(&mut seg, 100_000, 150, 25);
        feed_video(&mut seg, 0, 100, 25);
        let playlist = seg.playlist().unwrap();
        assert_eq!(
            playlist.matches("#EXT-X-DISCONTINUITY\n").count(),
            3,
            "{playlist}"
        );
        assert!(!playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    }

    #[test]
    fn unpublish_ends_the_playlist_until_a_republish() {
        let mut seg = segmenter(3);
        seg.push(TagKind::Video, 0, &video_sequence_header());
        feed_video(&mut seg, 0, 100, 25);
        assert!(!seg.playlist().unwrap().contains("#EXT-X-ENDLIST"));
        seg.end_of_stream();
        assert!(seg.ended());
        let ended = seg.playlist().unwrap();
        assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
        seg.resume();
        assert!(!seg.playlist().unwrap().contains("#EXT-X-ENDLIST"));
        seg.end_of_stream();
        // A frame of a new publish makes it live again too.
        seg.push(TagKind::Video, 0, &video_sequence_header());
        assert!(!seg.ended());
        assert!(seg.target_duration_ms() >= 2000);
    }

    #[test]
    fn discontinuity_sequence_counts_slid_out_tags() {
        let mut seg = segmenter(2);
        seg.push(TagKind::Video, 0, &video_sequence_header());
        feed_video(&mut seg, 0, 100, 25);
        seg.end_of_stream();
        seg.push(TagKind::Video, 0, &video_sequence_header());
        feed_video(&mut seg, 0, 500, 25);
        let playlist = seg.playlist().unwrap();
        assert!(
            playlist.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
            "{playlist}"
        );
    }

    #[test]
    fn ignores_garbage_without_panicking() {
        let mut seg = segmenter(3);
        for payload in [
            &[][..],
            &[0x17],
            &[0x17, 0, 0, 0, 0, 1],
            &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65],
            &[0x12, 1, 0, 0, 0],
        ] {
            seg.push(TagKind::Video, 0, payload);
            seg.push(TagKind::Audio, 0, payload);
        }
        seg.push(TagKind::Video, 0, &video_sequence_header());
        seg.push(TagKind::Video, 0, &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65]);
        assert!(seg.stats().dropped_frames > 0);
        assert!(seg.playlist().is_none());
    }
}
