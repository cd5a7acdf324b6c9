//! Renders an HLS media playlist (RFC 8216, version 3) for a sliding window of segments, a master
//! playlist over a stream's variants (a source and its transcoded renditions, with their RFC 6381
//! `CODECS`), and adds a query (a play session, a vhost) to every URI of a rendered one.

use std::fmt::Write;

/// One listed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistEntry {
    pub uri: String,
    pub duration_ms: u64,
    /// Timestamps restart at this segment (`#EXT-X-DISCONTINUITY` before it).
    pub discontinuity: bool,
}

/// A media playlist: live (the window slides) until its publisher leaves, then `#EXT-X-ENDLIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlaylist {
    /// The lower bound of `#EXT-X-TARGETDURATION` in milliseconds (the configured fragment).
    pub min_target_ms: u64,
    /// Sequence number of the first listed segment.
    pub media_sequence: u64,
    /// Discontinuities that slid out of the window before the first listed segment.
    pub discontinuity_sequence: u64,
    pub entries: Vec<PlaylistEntry>,
    /// The publisher left: `#EXT-X-ENDLIST` tells players (and a CDN's) that no segment follows.
    pub ended: bool,
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
        if self.ended {
            text.push_str("#EXT-X-ENDLIST\n");
        }
        text
    }
}

/// One `#EXT-X-STREAM-INF` of a master playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub uri: String,
    /// Peak bits per second.
    pub bandwidth: u64,
    /// Width and height in pixels, when known.
    pub resolution: Option<(u32, u32)>,
    /// RFC 6381 codec names (`avc1.64001f`, `mp4a.40.2`); none when unknown.
    pub codecs: Vec<String>,
}

/// A master playlist listing `variants` in the order given (players start with the first).
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for variant in variants {
        let _ = write!(
            text,
            "#EXT-X-STREAM-INF:BANDWIDTH={}",
            variant.bandwidth.max(1)
        );
        if let Some((width, height)) = variant.resolution {
            let _ = write!(text, ",RESOLUTION={width}x{height}");
        }
        if !variant.codecs.is_empty() {
            let _ = write!(text, ",CODECS=\"{}\"", variant.codecs.join(","));
        }
        let _ = writeln!(text, "\n{}", variant.uri);
    }
    text
}

/// `avc1.PPCCLL`: the avcC's profile, compatibility flags and level in hex (RFC 6381 §3.3).
pub fn avc_codec(profile: u8, compatibility: u8, level: u8) -> String {
    format!("avc1.{profile:02x}{compatibility:02x}{level:02x}")
}

/// `mp4a.40.N`: MPEG-4 audio with its AudioSpecificConfig object type (2 = AAC LC).
pub fn aac_codec(object_type: u8) -> String {
    format!("mp4a.40.{object_type}")
}

/// Appends `query` (`a=1&b=2`, no `?`) to every URI of a rendered playlist: the URI lines (segments)
/// and every `URI="…"` attribute of a tag (`#EXT-X-KEY`, `#EXT-X-MAP`, `#EXT-X-PART`, …), with `?` or
/// `&` as the URI already has a query or not. Players resolve relative URIs against the playlist's
/// URL without its query, so whatever must reach the segment requests has to be written here.
pub fn with_uri_query(text: &str, query: &str) -> String {
    if query.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8 + 64);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let trimmed = body.trim_end_matches('\r');
        if trimmed.is_empty() {
            out.push_str(line);
        } else if trimmed.starts_with('#') {
            out.push_str(&with_attribute_query(trimmed, query));
            out.push_str(&body[trimmed.len()..]);
            out.push_str(newline);
        } else {
            out.push_str(trimmed);
            out.push(if trimmed.contains('?') { '&' } else { '?' });
            out.push_str(query);
            out.push_str(&body[trimmed.len()..]);
            out.push_str(newline);
        }
    }
    out
}

/// A tag line with `query` added to the value of each `URI="…"` attribute it has.
fn with_attribute_query(tag: &str, query: &str) -> String {
    const ATTRIBUTE: &str = "URI=\"";
    let mut out = String::with_capacity(tag.len() + query.len() + 1);
    let mut rest = tag;
    while let Some(start) = rest.find(ATTRIBUTE) {
        let value_start = start + ATTRIBUTE.len();
        // `URI=` only as a whole attribute name, not the tail of another one (`XURI=`).
        let whole = start == 0 || matches!(rest.as_bytes()[start - 1], b':' | b',');
        let Some(length) = rest[value_start..].find('"') else {
            break;
        };
        let value = &rest[value_start..value_start + length];
        out.push_str(&rest[..value_start]);
        out.push_str(value);
        if whole && !value.is_empty() {
            out.push(if value.contains('?') { '&' } else { '?' });
            out.push_str(query);
        }
        out.push('"');
        rest = &rest[value_start + length + 1..];
    }
    out.push_str(rest);
    out
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
            ended: false,
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
            ended: false,
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
            ended: false,
        };
        assert_eq!(empty.target_duration_secs(), 1);
    }

    #[test]
    fn an_ended_playlist_says_so_last() {
        let playlist = MediaPlaylist {
            min_target_ms: 1000,
            media_sequence: 3,
            discontinuity_sequence: 0,
            entries: vec![entry("s-3.ts", 1000, false)],
            ended: true,
        };
        assert!(playlist
            .render()
            .ends_with("#EXTINF:1.000,\ns-3.ts\n#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn renders_a_master_playlist() {
        let variants = [
            Variant {
                uri: "cam.m3u8?variant=source".into(),
                bandwidth: 2_500_000,
                resolution: Some((1280, 720)),
                codecs: vec![avc_codec(0x64, 0, 0x1f), aac_codec(2)],
            },
            Variant {
                uri: "cam_360p.m3u8".into(),
                bandwidth: 0,
                resolution: None,
                codecs: vec![],
            },
        ];
        assert_eq!(
            master_playlist(&variants),
            "#EXTM3U\n#EXT-X-VERSION:3\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\n\
             cam.m3u8?variant=source\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1\ncam_360p.m3u8\n"
        );
        assert_eq!(avc_codec(0x42, 0xc0, 0x0d), "avc1.42c00d");
        // The session and vhost reach every variant like any other URI.
        assert!(with_uri_query(&master_playlist(&variants), "hls_ctx=a")
            .ends_with("cam.m3u8?variant=source&hls_ctx=a\n#EXT-X-STREAM-INF:BANDWIDTH=1\ncam_360p.m3u8?hls_ctx=a\n"));
    }

    #[test]
    fn every_uri_gets_the_query() {
        let text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n\
                    #EXT-X-MAP:URI=\"init.mp4\"\n\
                    #EXT-X-KEY:METHOD=AES-128,URI=\"key?k=1\",IV=0x1\n\
                    #EXT-X-PART:DURATION=0.5,URI=\"s-1.0.ts\"\n\
                    #EXT-X-FOOURI=\"no\"\n\
                    #EXTINF:2.000,\ns-1.ts\n#EXTINF:2.000,\ns-2.ts?x=y\r\n\n#EXT-X-ENDLIST\n";
        assert_eq!(
            with_uri_query(text, "hls_ctx=abc&vhost=b"),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n\
             #EXT-X-MAP:URI=\"init.mp4?hls_ctx=abc&vhost=b\"\n\
             #EXT-X-KEY:METHOD=AES-128,URI=\"key?k=1&hls_ctx=abc&vhost=b\",IV=0x1\n\
             #EXT-X-PART:DURATION=0.5,URI=\"s-1.0.ts?hls_ctx=abc&vhost=b\"\n\
             #EXT-X-FOOURI=\"no\"\n\
             #EXTINF:2.000,\ns-1.ts?hls_ctx=abc&vhost=b\n#EXTINF:2.000,\n\
             s-2.ts?x=y&hls_ctx=abc&vhost=b\r\n\n#EXT-X-ENDLIST\n"
        );
        assert_eq!(with_uri_query(text, ""), text);
        // A tag cut short (no closing quote) is left as it is.
        assert_eq!(
            with_uri_query("#EXT-X-MAP:URI=\"x\ns.ts", "q=1"),
            "#EXT-X-MAP:URI=\"x\ns.ts?q=1"
        );
    }
}
