//! Stream names from what RTMP and HTTP clients send: vhost (tcUrl/Host or `?vhost=`), app, stream,
//! and the query string kept for hooks. This is where the worker decides a stream's vhost (a DNS host
//! name in tcUrl or Host becomes its vhost). The load balancers do not resolve names here: their key
//! takes `?vhost=` only (`runtime::backends::effective_vhost`), and a worker publishes both keys.

use crate::route::DEFAULT_VHOST;

/// A stream's full name as a client addressed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName {
    pub vhost: String,
    pub app: String,
    pub stream: String,
    /// The query string with its `?` (`?token=abc`), or empty.
    pub param: String,
}

impl StreamName {
    /// The routing/hub key (`vhost/app/stream`).
    pub fn key(&self) -> String {
        crate::route::stream_key(&self.vhost, &self.app, &self.stream)
    }
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (s, None),
    }
}

fn query_value<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split(['&', '?'])
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The vhost a host name stands for: IP literals and `localhost` mean the default vhost, as with an
/// SRS that has no vhosts configured; a DNS name is its own vhost.
pub fn vhost_for_host(host: &str) -> String {
    let host = host.trim();
    let without_port = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let lower = without_port.to_ascii_lowercase();
    if lower.is_empty() || lower == "localhost" || lower.parse::<std::net::IpAddr>().is_ok() {
        DEFAULT_VHOST.to_string()
    } else {
        lower
    }
}

/// The host part of an `rtmp://host[:port]/app` URL.
pub fn tc_url_host(tc_url: &str) -> &str {
    let rest = tc_url.split_once("://").map_or(tc_url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or("")
}

/// Resolve an RTMP stream: `connect`'s tcUrl and app, and the publish/play name (with its query).
pub fn resolve_rtmp(tc_url: &str, app: &str, stream: &str) -> StreamName {
    let (stream, stream_query) = split_query(stream);
    let (app, app_query) = split_query(app);
    let (_, tc_query) = split_query(tc_url);
    let vhost = query_value(stream_query, "vhost")
        .or_else(|| query_value(app_query, "vhost"))
        .or_else(|| query_value(tc_query, "vhost"))
        .map(str::to_string)
        .unwrap_or_else(|| vhost_for_host(tc_url_host(tc_url)));
    let param = stream_query
        .or(app_query)
        .or(tc_query)
        .map_or(String::new(), |q| format!("?{q}"));
    StreamName {
        vhost,
        app: app.trim_matches('/').to_string(),
        stream: stream.to_string(),
        param,
    }
}

/// Resolve an HTTP request for `/APP/STREAM.EXT?query` with a `Host` header. `path` has no query.
pub fn resolve_http(host: &str, path: &str, query: Option<&str>, ext: &str) -> Option<StreamName> {
    let path = path.strip_suffix(ext)?.trim_start_matches('/');
    let (app, stream) = path.rsplit_once('/')?;
    if app.is_empty() || stream.is_empty() {
        return None;
    }
    let vhost = query_value(query, "vhost")
        .map(str::to_string)
        .unwrap_or_else(|| vhost_for_host(host));
    Some(StreamName {
        vhost,
        app: app.to_string(),
        stream: stream.to_string(),
        param: query.map_or(String::new(), |q| format!("?{q}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_names() {
        let n = resolve_rtmp("rtmp://127.0.0.1:1935/live", "live", "s?token=1");
        assert_eq!(n.vhost, DEFAULT_VHOST);
        assert_eq!((n.app.as_str(), n.stream.as_str()), ("live", "s"));
        assert_eq!(n.param, "?token=1");
        let n = resolve_rtmp("rtmp://Live.Example.com/live", "live", "s");
        assert_eq!(n.vhost, "live.example.com");
        let n = resolve_rtmp("rtmp://1.2.3.4/live?vhost=v1", "live?vhost=v1", "s");
        assert_eq!(n.vhost, "v1");
        assert_eq!(n.app, "live");
        let n = resolve_rtmp("rtmp://h/live", "live", "s?a=1&vhost=v2");
        assert_eq!(n.vhost, "v2");
        assert_eq!(n.key(), "v2/live/s");
    }

    #[test]
    fn http_names() {
        let n = resolve_http("127.0.0.1:8080", "/live/s.flv", None, ".flv").unwrap();
        assert_eq!(n.key(), "__defaultVhost__/live/s");
        let n = resolve_http("[::1]:80", "/a/b/s.flv", Some("vhost=v"), ".flv").unwrap();
        assert_eq!(n.key(), "v/a/b/s");
        assert!(resolve_http("h", "/s.flv", None, ".flv").is_none());
        assert!(resolve_http("h", "/live/s.m3u8", None, ".flv").is_none());
    }
}
