//! Validators and ranges: ETags (strong, per content-coded variant), `If-None-Match` /
//! `If-Modified-Since` (304), `If-Range`, and a single byte range per RFC 9110.

use super::Found;
use http::header::{self, HeaderMap};
use std::time::{SystemTime, UNIX_EPOCH};

/// An inclusive byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub(super) fn len(self) -> u64 {
        self.end - self.start + 1
    }
}

/// How a `Range` header applies to a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No usable range: send everything (absent, malformed, or several ranges).
    Full,
    Partial(ByteRange),
    Unsatisfiable,
}

/// The raw Range header, so the lookup hop can pre-read just that range of a small file; whether it
/// is honoured (If-Range) is decided when answering.
pub(super) fn raw_range(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// RFC 9110 13.2.2: If-None-Match decides when present; otherwise If-Modified-Since.
pub(super) fn not_modified(headers: &HeaderMap, found: &Found) -> bool {
    if let Some(list) = headers.get(header::IF_NONE_MATCH) {
        return list
            .to_str()
            .is_ok_and(|list| etag_list_matches(list, &found.all_tags));
    }
    let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    secs(found.modified) <= secs(since)
}

/// `If-Range` holds when absent, or when it names exactly the current tag or date.
pub(super) fn if_range_holds(headers: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(value) => value == etag || value == last_modified,
    }
}

/// Parse a `Range` header for a representation of `len` bytes. Only one range is honoured.
pub fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // Suffix: the last N bytes.
        let Ok(suffix) = last.parse::<u64>() else {
            return RangeAnswer::Full;
        };
        if suffix == 0 || len == 0 {
            return RangeAnswer::Unsatisfiable;
        }
        ByteRange {
            start: len.saturating_sub(suffix),
            end: len - 1,
        }
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return RangeAnswer::Full;
        };
        let end = if last.is_empty() {
            u64::MAX
        } else {
            match last.parse::<u64>() {
                Ok(end) if end >= start => end,
                _ => return RangeAnswer::Full,
            }
        };
        if start >= len {
            return RangeAnswer::Unsatisfiable;
        }
        ByteRange {
            start,
            end: end.min(len - 1),
        }
    };
    RangeAnswer::Partial(range)
}

/// A strong validator from the file's identity, size and modification time.
pub(super) fn entity_tag(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{:x}-{:x}-{:x}\"", meta.ino(), meta.len(), modified)
}

/// The tag of a content-coded variant: the same file compressed is a different representation.
pub(super) fn variant_tag(base: &str, encoding: &str) -> String {
    let encoding: String = encoding
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{}-{}\"", base.trim_end_matches('"'), encoding)
}

/// Whether an `If-None-Match` list names one of `tags` (weak comparison, as RFC 9110 asks for it).
pub(super) fn etag_list_matches(list: &str, tags: &[String]) -> bool {
    list.split(',').map(str::trim).any(|listed| {
        listed == "*" || {
            let listed = listed.strip_prefix("W/").unwrap_or(listed);
            tags.iter().any(|tag| tag == listed)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_weakly_and_by_variant() {
        let tags = vec!["\"1-2-3\"".to_string(), "\"1-2-3-gzip\"".to_string()];
        assert!(etag_list_matches("\"1-2-3\"", &tags));
        assert!(etag_list_matches("W/\"1-2-3\"", &tags));
        assert!(etag_list_matches("\"x\", \"1-2-3-gzip\"", &tags));
        assert!(etag_list_matches("*", &tags));
        assert!(!etag_list_matches("\"other\"", &tags));
    }

    #[test]
    fn ranges_parse_like_rfc_9110_says() {
        let partial = |start, end| RangeAnswer::Partial(ByteRange { start, end });
        assert_eq!(parse_range("bytes=0-9", 100), partial(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), partial(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), partial(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), partial(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), partial(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAnswer::Full);
        assert_eq!(parse_range("bytes=9-1", 100), RangeAnswer::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeAnswer::Full);
        assert_eq!(parse_range("bytes=x-", 100), RangeAnswer::Full);
    }
}
