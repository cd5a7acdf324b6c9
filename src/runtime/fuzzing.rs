//! Fuzz entry points for the HTTP request parsing of the LBs and the worker's HTTP port, shared by
//! the cargo-fuzz target in `fuzz/` and the bounded random-input test run by `cargo test`. Each
//! must never panic.

use super::backends::{effective_vhost, query_param};
use super::http_lb::parse_stream_path;
use crate::route;
use crate::rtmp::names;

/// `data` is `HOST\nTARGET`: a Host header and a request target as a client sends them (origin
/// or absolute form). Runs what a request meets before any worker is chosen: the URI parse hyper
/// does, the http-lb's path shapes, `?vhost=`, the stream key and its ranking, and the worker's
/// resolution of host, path and query into a stream name.
pub fn http_request_target(data: &[u8]) {
    let (host, target) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b""[..], data),
    };
    let host = String::from_utf8_lossy(host);
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let path = uri.path();
    let query = uri.query();
    if let Some(stream) = parse_stream_path(path) {
        assert!(!stream.app.is_empty() && !stream.stream.is_empty());
        assert!(!stream.app.contains('/') && !stream.stream.contains('/'));
        let vhost = effective_vhost(query.and_then(|q| query_param(q, "vhost")));
        let key = route::stream_key(vhost, &stream.app, &stream.stream);
        let ranked = route::rank(&key, &["w-0", "w-1", "w-2"]);
        assert_eq!(ranked.len(), 3);
    }
    for ext in [".flv", ".m3u8", ".ts"] {
        if let Some(name) = names::resolve_http(&host, path, query, ext) {
            let _ = name.key();
        }
    }
}
