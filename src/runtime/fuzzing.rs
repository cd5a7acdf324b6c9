//! Fuzz entry points for the HTTP request parsing of the LBs and the worker's HTTP port, shared by
//! the cargo-fuzz target in `fuzz/` and the bounded random-input test run by `cargo test`. Each
//! must never panic.

use super::http_lb::parse_stream_path;
use crate::route;
use crate::stream_name::{parse_path, StreamName, VhostRule};

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
        assert!(!stream.app.is_empty() && !stream.file.stream.is_empty());
        assert!(!stream.app.starts_with('/') && !stream.app.ends_with('/'));
        assert!(!stream.file.stream.contains('/'));
        let lb = StreamName::from_http(VhostRule::ExplicitOnly, &host, &stream, query);
        let ranked = route::rank(&lb.key(), &["w-0", "w-1", "w-2"]);
        assert_eq!(ranked.len(), 3);
    }
    if let Some(stream) = parse_path(path) {
        let worker = StreamName::from_http(VhostRule::HostName, &host, &stream, query);
        let lb = StreamName::from_http(VhostRule::ExplicitOnly, &host, &stream, query);
        // The two rules differ on the vhost only.
        assert_eq!((&worker.app, &worker.stream), (&lb.app, &lb.stream));
        let _ = worker.key();
    }
}
