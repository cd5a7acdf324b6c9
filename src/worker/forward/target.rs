//! A forward's destination: an `rtmp://` or `rtmps://` URL split into where to connect, whether to
//! speak TLS and what to say in `connect`/`publish`, plus the masked form the log, API and metrics show.

use crate::rtmp::client::{ClientConfig, ClientMode};
use crate::rtmp::enhanced::{SERVER_AUDIO, SERVER_VIDEO};

/// Outgoing chunk size: large chunks cost the target less per frame (nginx-rtmp and SRS take any).
const CHUNK_SIZE: u32 = 60_000;

/// Where one forward pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `connect` (tcUrl with the URL's scheme, app) and `publish` (stream name with its query).
    pub config: ClientConfig,
    /// `host:port` to dial (1935 by default for rtmp://, 443 for rtmps://).
    pub address: String,
    /// The TLS server name for `rtmps://` (`None` for plain RTMP).
    pub tls_name: Option<String>,
    /// The URL with its query values masked: stream keys are secrets.
    pub masked: String,
}

impl Target {
    /// Parse `rtmp[s]://host[:port]/app[/more]/stream[?query]`.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("rtmps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("rtmp://") {
            (false, rest)
        } else {
            return Err(format!(
                "{}: not an rtmp:// or rtmps:// URL",
                crate::compile::render::redact_url(url)
            ));
        };
        let mut config = ClientConfig::from_url(&format!("rtmp://{rest}"), ClientMode::Publish)
            .map_err(|_| {
                format!(
                    "{}: needs rtmp[s]://HOST/APP/STREAM",
                    crate::compile::render::redact_url(url)
                )
            })?;
        config.chunk_size = CHUNK_SIZE;
        // Announcing E-RTMP makes an E-RTMP server (oryx, …) list what it takes in its answer:
        // Opus goes on as it is only to a target that lists it (`forward/audio.rs`).
        config.fourcc_list = Some(
            SERVER_VIDEO
                .iter()
                .chain(SERVER_AUDIO.iter())
                .map(|c| c.to_string())
                .collect(),
        );
        let host = rest.split('/').next().unwrap_or_default();
        let (name, has_port) = split_host(host);
        let address = match (has_port, tls) {
            (true, _) => host.to_string(),
            (false, true) => format!("{host}:443"),
            (false, false) => format!("{host}:1935"),
        };
        if tls {
            config.tc_url = config.tc_url.replacen("rtmp://", "rtmps://", 1);
        }
        config.address = address.clone();
        Ok(Target {
            config,
            address,
            tls_name: tls.then(|| name.to_string()),
            masked: crate::compile::render::redact_url(url),
        })
    }
}

/// `masked` with its last path segment written as `***` unless it is `own`, the local stream's
/// name. That segment is the stream name on the target, which on YouTube, Twitch or Facebook is the
/// account's stream key, and the API may be readable by anyone; a forward to
/// `rtmp://backup/live/{stream}` names no secret and stays readable.
pub fn mask_key(masked: &str, own: &str) -> String {
    let (head, query) = match masked.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (masked, None),
    };
    let path_from = head.find("://").map_or(0, |i| i + 3);
    let Some(slash) = head[path_from..].rfind('/').map(|i| path_from + i) else {
        return masked.to_string();
    };
    let last = &head[slash + 1..];
    if last.is_empty() || last == own {
        return masked.to_string();
    }
    let base = &head[..=slash];
    match query {
        Some(query) => format!("{base}***?{query}"),
        None => format!("{base}***"),
    }
}

/// `host` without its port and brackets, and whether a port was given (`[::1]:1935`, `h:1935`, `h`).
fn split_host(host: &str) -> (&str, bool) {
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((name, tail)) => (name, tail.starts_with(':')),
            None => (inner, false),
        };
    }
    match host.rsplit_once(':') {
        Some((name, _port)) => (name, true),
        None => (host, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_and_rtmps_urls_split_with_their_default_ports() {
        let t = Target::parse("rtmp://backup.example.com/live/cam?key=s3cret").unwrap();
        assert_eq!(t.address, "backup.example.com:1935");
        assert_eq!(t.config.tc_url, "rtmp://backup.example.com/live");
        assert_eq!(t.config.app, "live");
        assert_eq!(t.config.stream, "cam?key=s3cret");
        assert_eq!(t.tls_name, None);
        assert_eq!(t.masked, "rtmp://backup.example.com/live/cam?key=***");

        let t = Target::parse("rtmps://live-api-s.facebook.com/rtmp/abc").unwrap();
        assert_eq!(t.address, "live-api-s.facebook.com:443");
        assert_eq!(t.config.tc_url, "rtmps://live-api-s.facebook.com/rtmp");
        assert_eq!(t.tls_name.as_deref(), Some("live-api-s.facebook.com"));

        let t = Target::parse("rtmps://127.0.0.1:8443/a/b/s").unwrap();
        assert_eq!(t.address, "127.0.0.1:8443");
        assert_eq!(t.config.app, "a/b");
        assert_eq!(t.tls_name.as_deref(), Some("127.0.0.1"));

        let t = Target::parse("rtmps://[::1]/live/s").unwrap();
        assert_eq!(t.address, "[::1]:443");
        assert_eq!(t.tls_name.as_deref(), Some("::1"));
    }

    #[test]
    fn bad_urls_say_why_without_their_secrets() {
        let err = Target::parse("http://h/live/s?key=s3cret").unwrap_err();
        assert!(err.contains("not an rtmp"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = Target::parse("rtmp://h/s?key=s3cret").unwrap_err();
        assert!(err.contains("HOST/APP/STREAM"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        assert!(Target::parse("rtmps://").is_err());
    }

    #[test]
    fn a_stream_key_in_the_path_is_masked_unless_it_is_the_streams_own_name() {
        assert_eq!(
            mask_key("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl", "cam"),
            "rtmp://a.rtmp.youtube.com/live2/***"
        );
        assert_eq!(
            mask_key(
                "rtmps://live-api-s.facebook.com:443/rtmp/FB-1-0?s_bl=***",
                "cam"
            ),
            "rtmps://live-api-s.facebook.com:443/rtmp/***?s_bl=***"
        );
        assert_eq!(
            mask_key("rtmp://backup/live/cam?key=***", "cam"),
            "rtmp://backup/live/cam?key=***"
        );
        assert_eq!(mask_key("rtmp://host", "cam"), "rtmp://host");
        assert_eq!(mask_key("rtmp://host/", "cam"), "rtmp://host/");
    }
}
