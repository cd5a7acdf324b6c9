//! Renders an HLS media playlist (RFC 8216, version 3) for a sliding window of segments.

use std::fmt::Write;

/// One listed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistEntry {
    pub uri: String,
    pub duration_ms: u64,
    /// Timestamps restart at this segment (`#EXT-X-DISCONTINUITY` before it).
    pub discontinuity: bool,
}

/// A live media playlist: no `#EXT-X-ENDLIST`, the window slides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlaylist {
    /// The lower bound of `#EXT-X-TARGETDURATION` in milliseconds (the configured fragment).
    pub min_target_ms: u64,
    /// Sequence number of the first listed segment.
    pub media_sequence: u64,
    /// Discontinuities that slid out of the window before the first listed segment.
    pub discontinuity_sequence: u64,
    pub entries: Vec<PlaylistEntry>,
}

impl MediaPlaylist {
    /// Whole seconds no listed segment exceeds (`EXTINF` ≤ target, as RFC 8216 §4.3.3.1 requires).
    pub fn target_duration_secs(&self) -> u64 {
        self.entries
            .iter()
            .map(|entry| entry.duration_ms)
            .chain(std::iter::once(self.min_target_ms))
            .map(|ms| ms.div_ceil(1000))
            .max()
            .unwrap_or(1)
            .max(1)
    }

    pub fn render(&self) -> String {
        let mut text = String::with_capacity(128 + self.entries.len() * 48);
        text.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
        let _ = writeln!(
            text,
            "#EXT-X-TARGETDURATION:{}",
            self.target_duration_secs()
        );
        let _ = writeln!(text, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence);
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                text,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        for entry in &self.entries {
            if entry.discontinuity {
                text.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(
                text,
                "#EXTINF:{}.{:03},\n{}",
                entry.duration_ms / 1000,
                entry.duration_ms % 1000,
                entry.uri
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uri: &str, duration_ms: u64, discontinuity: bool) -> PlaylistEntry {
        PlaylistEntry {
            uri: uri.to_string(),
            duration_ms,
            discontinuity,
        }
    }

    #[test]
    fn renders_a_live_window() {
        let playlist = MediaPlaylist {
            min_target_ms: 2000,
            media_sequence: 7,
            discontinuity_sequence: 0,
            entries: vec![entry("s-7.ts", 2040, false), entry("s-8.ts", 1960, true)],
        };
        assert_eq!(
            playlist.render(),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXTINF:2.040,\ns-7.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.960,\ns-8.ts\n"
        );
    }

    #[test]
    fn target_duration_covers_every_segment() {
        let playlist = MediaPlaylist {
            min_target_ms: 2000,
            media_sequence: 0,
            discontinuity_sequence: 3,
            entries: vec![entry("a.ts", 4001, false), entry("b.ts", 2000, false)],
        };
        assert_eq!(playlist.target_duration_secs(), 5);
        assert!(playlist
            .render()
            .contains("#EXT-X-DISCONTINUITY-SEQUENCE:3\n"));
        let empty = MediaPlaylist {
            min_target_ms: 0,
            media_sequence: 0,
            discontinuity_sequence: 0,
            entries: vec![],
        };
        assert_eq!(empty.target_duration_secs(), 1);
    }
}
