//! One stream identity: [`StreamName`] (vhost, app, stream and the client's query) read from what
//! RTMP and HTTP clients send, its routing key and display; where a stream's vhost is decided
//! ([`VhostRule`]: the worker's rule and the LBs' side by side) and the one query-string parser
//! ([`query`]). The worker's hub, HLS, hooks and API, every LB and the published-streams report all
//! name streams with it.

mod http_path;
pub mod query;

pub use http_path::{
    parse_file, parse_path, parse_webrtc, StreamFile, StreamPath, WebRtcAction, WebRtcPath,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The vhost used when a client names none (SRS's name, so operators' scripts keep working).
pub const DEFAULT_VHOST: &str = "__defaultVhost__";

/// A stream's full name as a client addressed it. On the wire (the LBs' published-streams report)
/// it is `{"vhost":…,"app":…,"stream":…}`: the query is a client's (it may hold a token) and never
/// leaves the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamName {
    pub vhost: String,
    pub app: String,
    pub stream: String,
    /// The query string with its `?` (`?token=abc`), or empty.
    #[serde(skip)]
    pub param: String,
}

/// Who decides a stream's vhost, and how. Both take an explicit `?vhost=` first; they differ on a
/// client that names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VhostRule {
    /// The worker (SRS's way): a DNS host name in tcUrl or `Host` is its own vhost; an IP literal or
    /// `localhost` means the default vhost, as with an SRS that has no vhosts configured.
    HostName,
    /// The LBs: host names are ignored and the vhost is the default one, so a publisher on
    /// `rtmp://127.0.0.1/…` and a player on `http://localhost:8080/…` reach the same worker. A
    /// worker's published streams answer both keys (`net::published`), which keeps the two rules
    /// meeting.
    ExplicitOnly,
}

impl VhostRule {
    /// The vhost of a client that named `explicit` (a `?vhost=` value; empty counts as none) and
    /// came by `host` (tcUrl's host or the `Host` header).
    pub fn vhost(self, explicit: Option<&str>, host: &str) -> String {
        match (explicit.filter(|v| !v.is_empty()), self) {
            (Some(vhost), _) => vhost.to_string(),
            (None, VhostRule::HostName) => vhost_for_host(host),
            (None, VhostRule::ExplicitOnly) => DEFAULT_VHOST.to_string(),
        }
    }
}

/// The routing key of a stream: `vhost/app/stream`, query strings removed, an empty vhost the
/// default one. The hub's streams and every LB's ranking are keyed by it.
pub fn stream_key(vhost: &str, app: &str, stream: &str) -> String {
    let vhost = if vhost.is_empty() {
        DEFAULT_VHOST
    } else {
        vhost
    };
    let strip = |s: &str| s.split('?').next().unwrap_or("").to_string();
    format!("{}/{}/{}", vhost, strip(app), strip(stream))
}

/// The vhost a host name stands for under [`VhostRule::HostName`].
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

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (s, None),
    }
}

/// The non-empty `vhost` of the first query that has one.
fn explicit_vhost<'a>(queries: &[Option<&'a str>]) -> Option<Cow<'a, str>> {
    queries
        .iter()
        .flatten()
        .filter_map(|q| query::value(q, "vhost"))
        .find(|v| !v.is_empty())
}

impl StreamName {
    /// A name without a query.
    pub fn new(vhost: &str, app: &str, stream: &str) -> StreamName {
        StreamName {
            vhost: vhost.to_string(),
            app: app.to_string(),
            stream: stream.to_string(),
            param: String::new(),
        }
    }

    /// An RTMP stream: `connect`'s tcUrl and app, and the publish/play name (with its query). An
    /// explicit `?vhost=` may come in the stream name, the app or the tcUrl (SRS accepts all three;
    /// the first found in that order counts); the query kept is the first of those that has one.
    pub fn from_rtmp(rule: VhostRule, tc_url: &str, app: &str, stream: &str) -> StreamName {
        let (stream, stream_query) = split_query(stream);
        let (app, app_query) = split_query(app);
        let (_, tc_query) = split_query(tc_url);
        let queries = [stream_query, app_query, tc_query];
        let vhost = rule.vhost(explicit_vhost(&queries).as_deref(), tc_url_host(tc_url));
        let param = queries
            .into_iter()
            .flatten()
            .next()
            .map_or(String::new(), |q| format!("?{q}"));
        StreamName {
            vhost,
            app: app.trim_matches('/').to_string(),
            stream: stream.to_string(),
            param,
        }
    }

    /// The stream an HTTP request for `path` (see [`parse_path`]) names, with the `Host` header and
    /// the query (without its `?`).
    pub fn from_http(
        rule: VhostRule,
        host: &str,
        path: &StreamPath<'_>,
        query: Option<&str>,
    ) -> StreamName {
        StreamName {
            vhost: rule.vhost(explicit_vhost(&[query]).as_deref(), host),
            app: path.app.to_string(),
            stream: path.file.stream.to_string(),
            param: query.map_or(String::new(), |q| format!("?{q}")),
        }
    }

    /// Whether the client named the vhost itself (`?vhost=` in its query), rather than by host.
    pub fn explicit_vhost(&self) -> bool {
        explicit_vhost(&[Some(&self.param)]).is_some()
    }

    /// The routing/hub key (`vhost/app/stream`).
    pub fn key(&self) -> String {
        stream_key(&self.vhost, &self.app, &self.stream)
    }

    /// The same stream without the client's query: the stream itself, as HLS keys its segmenters.
    pub fn without_param(&self) -> StreamName {
        StreamName {
            param: String::new(),
            ..self.clone()
        }
    }

    /// The same stream as a client with query `param` (with its `?`, or empty) names it.
    pub fn with_param(&self, param: &str) -> StreamName {
        StreamName {
            param: param.to_string(),
            ..self.clone()
        }
    }

    /// `rtmp://ADDRESS/APP/STREAM?vhost=V&CREDENTIAL`, what [`StreamName::from_rtmp`] reads back
    /// as this stream's vhost and app with the stream name `stream`: the vhost explicit (encoded)
    /// unless it is the default one, then `credential` (a `key=value` pair) when there is one. The
    /// worker's `{url}`, its renditions and an edge's pull name streams this way.
    pub fn rtmp_url(
        &self,
        address: impl fmt::Display,
        stream: &str,
        credential: Option<&str>,
    ) -> String {
        let mut pairs = Vec::new();
        if !self.vhost.is_empty() && self.vhost != DEFAULT_VHOST {
            pairs.push(format!("vhost={}", query::encode(&self.vhost)));
        }
        pairs.extend(credential.map(str::to_string));
        let query = if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        };
        format!("rtmp://{address}/{}/{stream}{query}", self.app)
    }
}

/// `vhost/app/stream`, never the query (it may carry a token).
impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKER: VhostRule = VhostRule::HostName;
    const LB: VhostRule = VhostRule::ExplicitOnly;

    #[test]
    fn rtmp_names() {
        let n = StreamName::from_rtmp(WORKER, "rtmp://127.0.0.1:1935/live", "live", "s?token=1");
        assert_eq!(n.vhost, DEFAULT_VHOST);
        assert_eq!((n.app.as_str(), n.stream.as_str()), ("live", "s"));
        assert_eq!(n.param, "?token=1");
        let n = StreamName::from_rtmp(WORKER, "rtmp://Live.Example.com/live", "live", "s");
        assert_eq!(n.vhost, "live.example.com");
        let n = StreamName::from_rtmp(WORKER, "rtmp://1.2.3.4/live?vhost=v1", "live?vhost=v1", "s");
        assert_eq!(n.vhost, "v1");
        assert_eq!(n.app, "live");
        let n = StreamName::from_rtmp(WORKER, "rtmp://h/live", "live", "s?a=1&vhost=v2");
        assert_eq!(n.vhost, "v2");
        assert_eq!(n.key(), "v2/live/s");
        assert_eq!(n.to_string(), "v2/live/s");
        // The stream's vhost first, then the app's, then the tcUrl's; an empty one counts as none.
        let n = StreamName::from_rtmp(LB, "rtmp://h/live?vhost=t", "live?vhost=a", "s?vhost=");
        assert_eq!(n.vhost, "a");
        let n = StreamName::from_rtmp(LB, "rtmp://h/live/", "/live/", "s");
        assert_eq!(n.key(), "__defaultVhost__/live/s");
    }

    #[test]
    fn the_worker_makes_a_host_name_a_vhost_and_the_lbs_do_not() {
        for host in [
            "rtmp://127.0.0.1:1935/live",
            "rtmp://localhost/live",
            "rtmp://[::1]/live",
        ] {
            for rule in [WORKER, LB] {
                let n = StreamName::from_rtmp(rule, host, "live", "s");
                assert_eq!(n.vhost, DEFAULT_VHOST, "{host}");
            }
        }
        let dns = "rtmp://Live.Example.com:1935/live";
        assert_eq!(
            StreamName::from_rtmp(WORKER, dns, "live", "s").vhost,
            "live.example.com"
        );
        assert_eq!(
            StreamName::from_rtmp(LB, dns, "live", "s").vhost,
            DEFAULT_VHOST
        );
        assert_eq!(LB.vhost(None, "live.example.com"), DEFAULT_VHOST);
        assert_eq!(LB.vhost(Some(""), "live.example.com"), DEFAULT_VHOST);
        assert_eq!(LB.vhost(Some("v.example"), "h"), "v.example");
        let explicit = "rtmp://live.example.com/live?vhost=v";
        for rule in [WORKER, LB] {
            assert_eq!(
                StreamName::from_rtmp(rule, explicit, "live", "s").vhost,
                "v"
            );
        }
    }

    #[test]
    fn http_names() {
        let http = |rule, host, path, query| {
            StreamName::from_http(rule, host, &parse_path(path).unwrap(), query)
        };
        let n = http(WORKER, "127.0.0.1:8080", "/live/s.flv", None);
        assert_eq!(n.key(), "__defaultVhost__/live/s");
        assert!(!n.explicit_vhost());
        let n = http(WORKER, "[::1]:80", "/a/b/s.flv", Some("vhost=v"));
        assert_eq!(n.key(), "v/a/b/s");
        assert_eq!(n.param, "?vhost=v");
        assert!(n.explicit_vhost());
        let n = http(WORKER, "cdn.example:80", "/live/s-3.ts", Some("vhost="));
        assert_eq!(n.key(), "cdn.example/live/s");
        assert!(!n.explicit_vhost());
        assert_eq!(
            http(LB, "cdn.example", "/live/s.m3u8", None).key(),
            "__defaultVhost__/live/s"
        );
        let n = http(LB, "h", "/live/s.m3u8", Some("vhost=a%26b"));
        assert_eq!(n.vhost, "a&b");
    }

    #[test]
    fn keys_and_the_wire_form() {
        assert_eq!(stream_key("", "live", "foo?x"), "__defaultVhost__/live/foo");
        let n = StreamName::new("v", "live", "cam").with_param("?token=secret");
        assert_eq!(n.without_param(), StreamName::new("v", "live", "cam"));
        let text = serde_json::to_string(&n).unwrap();
        assert_eq!(text, r#"{"vhost":"v","app":"live","stream":"cam"}"#);
        let back: StreamName = serde_json::from_str(&text).unwrap();
        assert_eq!(back, n.without_param());
    }
}
