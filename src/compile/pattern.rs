//! Stream-rule patterns: globs over `app/stream` or `vhost/app/stream`, shared by `check` and the worker.
//!
//! `*` matches any run of characters within one path segment, `**` any run across segments (slashes
//! included). A pattern with two slashes or more names the vhost too; with one it matches any vhost.

use super::plan::StreamRule;

/// Does `pattern` match the stream `vhost/app/stream`?
pub fn matches(pattern: &str, vhost: &str, app: &str, stream: &str) -> bool {
    let name = if pattern.matches('/').count() >= 2 && !pattern.starts_with("**") {
        format!("{vhost}/{app}/{stream}")
    } else {
        format!("{app}/{stream}")
    };
    glob(pattern.as_bytes(), name.as_bytes())
}

/// The first rule whose pattern matches, as the language says ("the first rule … applies").
pub fn first_match<'a>(
    rules: &'a [StreamRule],
    vhost: &str,
    app: &str,
    stream: &str,
) -> Option<&'a StreamRule> {
    rules
        .iter()
        .find(|rule| matches(&rule.pattern, vhost, app, stream))
}

/// `*` stops at `/`, `**` does not; at most `pattern.len() * name.len()` steps whatever the input.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    // A DP over (pattern index, name index): stream names are short, and this is obviously
    // terminating, which matters more here than speed.
    let (p, n) = (pattern.len(), name.len());
    let mut reach = vec![false; n + 1];
    reach[0] = true;
    let mut i = 0;
    while i < p {
        let mut next = vec![false; n + 1];
        if pattern[i] == b'*' {
            let double = i + 1 < p && pattern[i + 1] == b'*';
            // next[j]: some k <= j was reached and name[k..j] may be eaten by this star (no `/`
            // in it for a single star).
            let mut carry = false;
            for j in 0..=n {
                if !double && j > 0 && name[j - 1] == b'/' {
                    carry = false;
                }
                carry |= reach[j];
                next[j] = carry;
            }
            i += if double { 2 } else { 1 };
        } else {
            for j in 0..n {
                if reach[j] && name[j] == pattern[i] {
                    next[j + 1] = true;
                }
            }
            i += 1;
        }
        reach = next;
    }
    reach[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        glob(pattern.as_bytes(), name.as_bytes())
    }

    #[test]
    fn single_star_stays_in_a_segment() {
        assert!(m("live/*", "live/cam"));
        assert!(m("live/*", "live/"));
        assert!(!m("live/*", "live/a/b"));
        assert!(!m("live/*", "rec/cam"));
        assert!(m("*/cam", "live/cam"));
        assert!(m("live/cam_*", "live/cam_360p"));
        assert!(!m("live/cam_*", "live/cam"));
        assert!(m("l*e/c*m", "live/cam"));
    }

    #[test]
    fn double_star_crosses_segments() {
        assert!(m("**", "a/b/c"));
        assert!(m("live/**", "live/a/b"));
        assert!(m("**/cam", "v/live/cam"));
        assert!(!m("**/cam", "v/live/cat"));
    }

    #[test]
    fn literal_patterns() {
        assert!(m("live/lobby", "live/lobby"));
        assert!(!m("live/lobby", "live/lobby2"));
    }

    #[test]
    fn vhost_patterns_name_the_vhost() {
        assert!(matches("live/*", "__defaultVhost__", "live", "a"));
        assert!(matches("live/*", "v1", "live", "a"));
        assert!(matches("v1/live/*", "v1", "live", "a"));
        assert!(!matches("v1/live/*", "v2", "live", "a"));
        assert!(matches("**", "v1", "live", "a"));
    }
}
