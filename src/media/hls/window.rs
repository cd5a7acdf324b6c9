//! The segment window: finished segments kept in memory (the listed ones plus a few spares), the
//! playlist rendered from them, and the oldest evicted as new ones complete.

use super::{HlsSegmenter, Segment, Update, SPARE_SEGMENTS};
use crate::media::playlist::{MediaPlaylist, PlaylistEntry};
use bytes::Bytes;
use std::sync::Arc;

impl HlsSegmenter {
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

    /// Completes the open segment, ending at `end_ms` (the next segment's start) or at its last
    /// frame's end, and slides the window.
    pub(super) fn finish_segment(&mut self, end_ms: Option<u64>, update: &mut Update) {
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
