//! The worker's internal credential: how its own children (a transcode's ffmpeg, an exec given
//! `{url}`) play and publish on it past the `on-play`/`on-publish` hooks.
//!
//! A random token per worker process, carried as `oryx_internal=TOKEN` in the stream's query. The
//! admission step accepts it instead of asking the hooks (`admission.rs`), a publish that carries it
//! is marked internal so stream rules skip it (a rendition is not transcoded again), and it never
//! leaves the process: it is stripped from what hooks and sinks see and masked in forwarded child
//! output (`net::log_text`). The hooks would otherwise have to know it, and it would be as good as
//! public.
//!
//! An edge's pull from its origin is admitted the same way across processes (and hosts): its
//! credential is `oryx_edge=HMAC-SHA256(control secret, "oryx-edge-pull" 0 stream key)`, which
//! every role of one `oryx up` (and of one cluster, whose roles derive the control secret from the
//! cluster secret) can compute and check, and which proves one stream only: a leaked one opens
//! nothing else, and the secret itself never travels. It is stripped like the token and masked in
//! the edge's log.

use crate::stream_name::StreamName;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// The query key the credential travels under.
pub const KEY: &str = "oryx_internal";
/// The query key of an edge's pull credential.
pub const EDGE_KEY: &str = "oryx_edge";

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

/// The edge pull credential of the stream `key` (a routing key, `vhost/app/stream`) under this
/// process's control secret, in hex.
pub fn edge_credential(key: &str) -> String {
    edge_credential_with(crate::net::control_secret::process().as_str(), key)
}

fn edge_credential_with(secret: &str, key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"oryx-edge-pull\0");
    mac.update(key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `oryx_edge=CREDENTIAL` for pulling `name`, to append to the pull URL's query.
pub fn edge_query_pair(name: &StreamName) -> String {
    format!("{EDGE_KEY}={}", edge_credential(&name.key()))
}

/// Whether `name`'s query carries the edge pull credential of `name` itself (constant time).
pub fn carries_edge_pull(name: &StreamName) -> bool {
    if !name.param.contains(EDGE_KEY) {
        return false;
    }
    let expected = edge_credential(&name.key());
    pairs(&name.param).any(|(key, value)| {
        key == EDGE_KEY && bool::from(value.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// `param` without any `oryx_internal` or `oryx_edge` pair (the `?` kept when something is left,
/// else empty).
pub fn strip(param: &str) -> String {
    if !param.contains(KEY) && !param.contains(EDGE_KEY) {
        return param.to_string();
    }
    let rest: Vec<&str> = param
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next();
            !pair.is_empty() && key != Some(KEY) && key != Some(EDGE_KEY)
        })
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
    fn an_edge_credential_proves_one_stream_under_one_secret() {
        let cam = StreamName::new("", "live", "cam");
        let mut with = cam.clone();
        with.param = format!("?{}", edge_query_pair(&cam));
        assert!(carries_edge_pull(&with));
        // The same credential on another stream proves nothing.
        let mut other = StreamName::new("", "live", "other");
        other.param = with.param.clone();
        assert!(!carries_edge_pull(&other));
        assert!(!carries_edge_pull(&cam));
        let mut wrong = cam.clone();
        wrong.param = "?oryx_edge=00".into();
        assert!(!carries_edge_pull(&wrong));
        // Another secret gives another credential.
        assert_ne!(
            edge_credential_with("a", &cam.key()),
            edge_credential_with("b", &cam.key())
        );
        assert_eq!(strip(&format!("{}&t=1", with.param)), "?t=1");
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
