//! The one query-string parser: what every part of oryx reads from a client's `?a=1&b=2` (the
//! vhost, a hook's token, the HLS play session, the api-lb's `worker`), so the worker and the LBs
//! never read one query two ways.
//!
//! A query may come with or without its `?`. Pairs are separated by `&` and also by `?`: RTMP clients
//! append a second query to a stream name that already has one (`cam?token=1?vhost=v`), and SRS reads
//! both. A pair without `=` has an empty value; empty pairs are skipped. Values are percent-decoded
//! when asked for with [`value`] (the worker percent-encodes the vhost it puts in playlist URIs).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::borrow::Cow;

/// What a query value may hold unescaped (RFC 3986 unreserved).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` percent-encoded for a query (what [`value`] decodes).
pub fn encode(value: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(value, VALUE)
}

/// The `(key, value)` pairs of `query`, raw (not decoded), in order.
pub fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .strip_prefix('?')
        .unwrap_or(query)
        .split(['&', '?'])
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// The first value of `key` in `query`, percent-decoded (invalid UTF-8 replaced); `Some("")` when
/// the key is there without a value.
pub fn value<'a>(query: &'a str, key: &str) -> Option<Cow<'a, str>> {
    pairs(query)
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_encoding::percent_decode_str(v).decode_utf8_lossy())
}

/// `query` split into the last raw value of `key` (`None` when absent or empty) and the other pairs
/// as a query with its `?` (empty when nothing is left). The HLS play session is taken out this way,
/// so hooks see the player's own query.
pub fn take<'a>(query: &'a str, key: &str) -> (Option<&'a str>, String) {
    let mut found = None;
    let mut rest = Vec::new();
    let body = query.strip_prefix('?').unwrap_or(query);
    for pair in body.split(['&', '?']).filter(|pair| !pair.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == key {
            found = Some(v).filter(|v| !v.is_empty());
        } else {
            rest.push(pair);
        }
    }
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!("?{}", rest.join("&"))
    };
    (found, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_with_or_without_the_question_mark() {
        assert_eq!(value("a=1&vhost=v&b", "vhost").as_deref(), Some("v"));
        assert_eq!(value("?vhost=v", "vhost").as_deref(), Some("v"));
        assert_eq!(value("a=1&b", "b").as_deref(), Some(""));
        assert_eq!(value("a=1", "vhost"), None);
        assert_eq!(value("", "a"), None);
        // A second query appended by a client, and the first of two values.
        assert_eq!(value("token=1?vhost=v", "vhost").as_deref(), Some("v"));
        assert_eq!(value("k=1&k=2", "k").as_deref(), Some("1"));
        // Percent-decoded, as the worker encodes it into playlist URIs.
        assert_eq!(value("vhost=a%26b", "vhost").as_deref(), Some("a&b"));
        assert_eq!(value("vhost=%ff", "vhost").as_deref(), Some("\u{fffd}"));
        let pairs: Vec<_> = pairs("?a=1&&b&c=").collect();
        assert_eq!(pairs, [("a", "1"), ("b", ""), ("c", "")]);
    }

    #[test]
    fn takes_a_key_out() {
        assert_eq!(take("", "s"), (None, String::new()));
        assert_eq!(take("?token=a", "s"), (None, "?token=a".to_string()));
        assert_eq!(
            take("?token=a&s=abc&vhost=b", "s"),
            (Some("abc"), "?token=a&vhost=b".to_string())
        );
        assert_eq!(take("?s=abc", "s"), (Some("abc"), String::new()));
        assert_eq!(take("?s=&x=1", "s"), (None, "?x=1".to_string()));
        assert_eq!(take("?s", "s"), (None, String::new()));
        assert_eq!(take("?ss=1", "s"), (None, "?ss=1".to_string()));
        assert_eq!(take("s=1&s=2", "s"), (Some("2"), String::new()));
    }
}
