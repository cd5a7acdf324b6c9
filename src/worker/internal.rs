//! The worker's internal credential: how its own children (a transcode's ffmpeg, an exec given
//! `{url}`) play and publish on it past the `on-play`/`on-publish` hooks.
//!
//! A random token per worker process, carried as `oryx_internal=TOKEN` in the stream's query. The
//! admission step accepts it instead of asking the hooks (`admission.rs`), a publish that carries it
//! is marked internal so stream rules skip it (a rendition is not transcoded again), and it never
//! leaves the process: it is stripped from what hooks and sinks see and masked in forwarded child
//! output (`net::log_text`). The hooks would otherwise have to know it, and it would be as good as
//! public.

use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// The query key the credential travels under.
pub const KEY: &str = "oryx_internal";

/// This process's token (generated at first use, 32 random bytes in hex), registered for masking.
pub fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let token = hex::encode(bytes);
        crate::net::log_text::add_secret(&token);
        token
    })
}

/// `oryx_internal=TOKEN`, to append to a URL's query.
pub fn query_pair() -> String {
    format!("{KEY}={}", token())
}

/// Whether `param` (a query with or without its `?`) carries this process's token. Compared in
/// constant time: the query comes from the network.
pub fn carries(param: &str) -> bool {
    let expected = token().as_bytes();
    pairs(param).any(|(key, value)| key == KEY && bool::from(value.as_bytes().ct_eq(expected)))
}

/// `param` without any `oryx_internal` pair (the `?` kept when something is left, else empty).
pub fn strip(param: &str) -> String {
    if !param.contains(KEY) {
        return param.to_string();
    }
    let rest: Vec<&str> = param
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(KEY))
        .collect();
    if rest.is_empty() {
        String::new()
    } else {
        format!("?{}", rest.join("&"))
    }
}

fn pairs(param: &str) -> impl Iterator<Item = (&str, &str)> {
    param
        .trim_start_matches('?')
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_processes_token_is_internal() {
        let good = format!("?vhost=a&{}", query_pair());
        assert!(carries(&good));
        assert!(carries(&query_pair()));
        assert!(!carries("?oryx_internal=nope"));
        assert!(!carries("?oryx_internal="));
        assert!(!carries(""));
        assert!(!carries(&format!("?x{}", query_pair())));
        assert_eq!(token().len(), 64);
    }

    #[test]
    fn strip_removes_the_credential_only() {
        assert_eq!(
            strip(&format!("?vhost=a&{}&t=1", query_pair())),
            "?vhost=a&t=1"
        );
        assert_eq!(strip(&format!("?{}", query_pair())), "");
        assert_eq!(strip("?token=x"), "?token=x");
        assert_eq!(strip(""), "");
    }

    #[test]
    fn the_token_is_masked_in_child_output() {
        let line = format!(
            "Output #0, flv, to 'rtmp://127.0.0.1:1/live/a?{}'",
            query_pair()
        );
        assert!(!crate::net::log_text::mask_secrets(&line).contains(token()));
    }
}
