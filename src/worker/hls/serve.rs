//! The HLS HTTP answers: `GET /APP/STREAM.m3u8` (playlist, no-cache) and `GET /APP/STREAM-SEQ.ts`
//! (segment), with CORS, name validation (`..`, NUL, overlong → 400) and 404 for anything unknown.
//! A playlist's URIs keep what the next requests need: the vhost of a stream off the default vhost
//! (players drop the playlist's query when they resolve a relative URI) and, behind `on-play`
//! hooks, the play session ([`PlayGate`]). A stream with a transcode answers its master playlist
//! at `STREAM.m3u8` and its own media playlist at `STREAM.m3u8?variant=source` ([`super::master`]);
//! its renditions' files are served under the session the master opened.

use super::auth::PlayGate;
use super::blocking::{self, Want};
use super::master::MasterSource;
use super::session::{self, SESSION_KEY};
use super::{HlsStore, StreamHls, StreamName, DEFAULT_VHOST};
use crate::media::hls::ll_playlist::{directives, Directives};
use crate::media::playlist::with_uri_query;
use crate::stream_name;
use crate::worker::http::{FileRequest, HttpFiles};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

/// App and stream names longer than this are refused.
const MAX_NAME_LEN: usize = 128;

/// Serves `.m3u8` and `.ts` through the worker's HTTP file dispatch, behind `gate` when the worker
/// has `on-play` hooks.
pub fn register(
    store: &HlsStore,
    files: &HttpFiles,
    gate: Option<Arc<PlayGate>>,
    masters: Option<MasterSource>,
) {
    for ext in [".m3u8", ".ts", ".m4s", ".mp4"] {
        let store = store.clone();
        let gate = gate.clone();
        let masters = masters.clone();
        files.register(
            ext,
            Arc::new(move |request: FileRequest| {
                let store = store.clone();
                let gate = gate.clone();
                let masters = masters.clone();
                Box::pin(async move {
                    respond_to(&store, gate.as_deref(), masters.as_ref(), &request).await
                })
            }),
        );
    }
}

/// Answers a stream file request the worker's router already split into vhost, app and stream.
async fn respond_to(
    store: &HlsStore,
    gate: Option<&PlayGate>,
    masters: Option<&MasterSource>,
    request: &FileRequest,
) -> Response {
    let explicit = request.name.explicit_vhost();
    let file = request.path.rsplit('/').next().unwrap_or("");
    let app = &request.name.app;
    let wanted = match parse_request(store, app, file) {
        Ok(wanted) => wanted,
        Err((status, message)) => return refused(status, message),
    };
    let found = store.lookup(&request.name.vhost, explicit, app, wanted.stream());
    let master = match (&wanted, masters, &found) {
        (HlsFile::Playlist { .. }, Some(masters), Some((id, _)))
            if !super::master::wants_source(&request.name.param) =>
        {
            masters.playlist(id)
        }
        _ => None,
    };
    let query = request.name.param.as_str();
    let reports = match (&wanted, masters, &found) {
        (HlsFile::Playlist { .. }, Some(masters), Some((id, _))) if master.is_none() => {
            super::master::rendition_reports(&masters.masters, store, id)
        }
        _ => String::new(),
    };
    let Some(gate) = gate.filter(|g| g.active()) else {
        if let Some(refusal) = hold(store, &found, &wanted, query).await {
            return refusal;
        }
        return deliver(found, &wanted, master, None, query, &reports);
    };
    let id = found.as_ref().map(|(id, _)| id);
    let idle = session::idle_limit(found.as_ref().map_or(0, |(_, entry)| {
        super::lock(entry).segmenter.target_duration_ms()
    }));
    // A rendition asked for under its source's session (the master's URIs) plays under it.
    let source = masters.zip(id).and_then(|(m, id)| m.masters.source_of(id));
    let session = match source.and_then(|source| gate.covered_by(request, &source, idle)) {
        Some(token) => Ok(token),
        None => match wanted {
            HlsFile::Playlist { .. } => gate.playlist(request, id, idle).await,
            _ => gate.segment(request, id, idle),
        },
    };
    match session {
        Ok(token) => {
            if let Some(refusal) = hold(store, &found, &wanted, query).await {
                return refusal;
            }
            deliver(found, &wanted, master, Some(&token), query, &reports)
        }
        Err(refusal) => refused(refusal.status, refusal.message),
    }
}

/// Holds an LL-HLS blocking request (a playlist with `_HLS_msn`, the hinted part) until it can be
/// answered ([`super::blocking`]); `Some` is the refusal to send instead.
async fn hold(
    store: &HlsStore,
    found: &Option<(StreamName, Arc<Mutex<StreamHls>>)>,
    wanted: &HlsFile<'_>,
    query: &str,
) -> Option<Response> {
    let (_, entry) = found.as_ref()?;
    let want = match *wanted {
        HlsFile::Playlist { .. } => match directives(query) {
            Ok(Directives {
                block: Some((msn, part)),
                ..
            }) => Want::Playlist { msn, part },
            Ok(_) => return None,
            Err(_) => {
                return Some(refused(
                    StatusCode::BAD_REQUEST,
                    "bad _HLS_msn, _HLS_part or _HLS_skip\n",
                ))
            }
        },
        HlsFile::Part { id, .. } => Want::Part(id),
        _ => return None,
    };
    blocking::hold(store, entry, want)
        .await
        .map(|(status, message)| refused(status, message))
}

/// An app or stream name we accept in a URL: short, no path tricks, no control characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~'))
}

/// An app we accept in a URL: one or more valid names separated by `/` (`/a/b/s.m3u8` is app
/// `a/b`, as for HTTP-FLV and RTMP).
fn valid_app(app: &str) -> bool {
    app.len() <= MAX_NAME_LEN && app.split('/').all(valid_name)
}

/// What an HLS URL asks for.
#[derive(Debug, PartialEq, Eq)]
enum HlsFile<'a> {
    Playlist {
        stream: &'a str,
    },
    /// `fmp4`: a `.m4s` segment rather than a `.ts` one.
    Segment {
        stream: &'a str,
        sequence: u64,
        fmp4: bool,
    },
    Part {
        stream: &'a str,
        id: u64,
    },
    Init {
        stream: &'a str,
        generation: u64,
    },
}

impl HlsFile<'_> {
    fn stream(&self) -> &str {
        match self {
            HlsFile::Playlist { stream }
            | HlsFile::Segment { stream, .. }
            | HlsFile::Part { stream, .. }
            | HlsFile::Init { stream, .. } => stream,
        }
    }
}

/// The HLS file a URL's file name asks for, read as every stream URL is
/// ([`stream_name::parse_file`]).
fn parse_file(file: &str) -> Option<HlsFile<'_>> {
    let parsed = stream_name::parse_file(file)?;
    let stream = parsed.stream;
    match (parsed.ext, parsed.sequence, parsed.part) {
        ("m3u8", None, _) => Some(HlsFile::Playlist { stream }),
        ("ts", Some(sequence), false) => Some(HlsFile::Segment {
            stream,
            sequence,
            fmp4: false,
        }),
        ("m4s", Some(sequence), false) => Some(HlsFile::Segment {
            stream,
            sequence,
            fmp4: true,
        }),
        ("m4s", Some(id), true) => Some(HlsFile::Part { stream, id }),
        ("mp4", Some(generation), _) => Some(HlsFile::Init { stream, generation }),
        _ => None,
    }
}

fn with_common_headers(mut response: Response, cache: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn not_found(message: &'static str) -> Response {
    refused(StatusCode::NOT_FOUND, message)
}

/// Checks an app and file name and says what they ask for; `Err` is the 4xx to answer.
fn parse_request<'a>(
    store: &HlsStore,
    app: &str,
    file: &'a str,
) -> Result<HlsFile<'a>, (StatusCode, &'static str)> {
    if !store.enabled() {
        return Err((StatusCode::NOT_FOUND, "HLS is disabled\n"));
    }
    if !valid_app(app) || file.len() > MAX_NAME_LEN + 24 || file.contains("..") {
        return Err((StatusCode::BAD_REQUEST, "bad app or file name\n"));
    }
    let Some(wanted) = parse_file(file) else {
        return Err((StatusCode::NOT_FOUND, "not an HLS resource\n"));
    };
    if !valid_name(wanted.stream()) {
        return Err((StatusCode::BAD_REQUEST, "bad stream name\n"));
    }
    Ok(wanted)
}

fn refused(status: StatusCode, message: impl IntoResponse) -> Response {
    with_common_headers((status, message).into_response(), "no-cache")
}

/// The query every URI of a stream's playlist gets: its vhost when not the default one, and the
/// play session when there is one.
fn uri_query(id: &StreamName, session: Option<&str>) -> String {
    let mut pairs = Vec::new();
    if id.vhost != DEFAULT_VHOST {
        pairs.push(format!(
            "vhost={}",
            crate::stream_name::query::encode(&id.vhost)
        ));
    }
    if let Some(token) = session {
        pairs.push(format!("{SESSION_KEY}={token}"));
    }
    pairs.join("&")
}

/// The playlist (`master` instead of the media one when given; a delta update on `_HLS_skip`, with
/// `reports` appended) or file of the stream a request resolved to (`found`), its URIs carrying the
/// vhost and `session`.
fn deliver(
    found: Option<(StreamName, Arc<Mutex<StreamHls>>)>,
    wanted: &HlsFile<'_>,
    master: Option<String>,
    session: Option<&str>,
    query: &str,
    reports: &str,
) -> Response {
    let Some((id, entry)) = found else {
        return not_found("no such stream\n");
    };
    let (data, content_type) = match *wanted {
        HlsFile::Playlist { .. } => {
            let skip = directives(query).is_ok_and(|d| d.skip);
            let media = || {
                let state = super::lock(&entry);
                if skip && state.segmenter.position().is_some() {
                    state.segmenter.live_playlist(true).map(Arc::from)
                } else {
                    state.playlist.clone()
                }
            };
            let Some(text) = master.map(Arc::<str>::from).or_else(media) else {
                return not_found("no such stream\n");
            };
            let text = with_reports(&text, reports);
            let mut response = with_uri_query(&text, &uri_query(&id, session)).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.apple.mpegurl"),
            );
            return with_common_headers(response, "no-cache");
        }
        HlsFile::Segment { sequence, fmp4, .. } => {
            let state = super::lock(&entry);
            let data = (state.segmenter.is_fmp4() == Some(fmp4))
                .then(|| state.segmenter.segment(sequence))
                .flatten()
                .map(|segment| segment.data.clone());
            let content_type = if fmp4 { "video/mp4" } else { "video/mp2t" };
            (data, content_type)
        }
        HlsFile::Part { id, .. } => {
            let part = super::lock(&entry).segmenter.part(id);
            (part.map(|p| p.data.clone()), "video/mp4")
        }
        HlsFile::Init { generation, .. } => {
            (super::lock(&entry).segmenter.init(generation), "video/mp4")
        }
    };
    let Some(data) = data else {
        return not_found("no such segment\n");
    };
    let mut response = data.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A segment never changes once published; one behind a session is for its player only.
    let cache = if session.is_some() {
        "private, max-age=60"
    } else {
        "public, max-age=60"
    };
    with_common_headers(response, cache)
}

/// The playlist with `EXT-X-RENDITION-REPORT` lines before its `#EXT-X-ENDLIST` (if any).
fn with_reports(text: &str, reports: &str) -> String {
    if reports.is_empty() {
        return text.to_string();
    }
    match text.strip_suffix("#EXT-X-ENDLIST\n") {
        Some(body) => format!("{body}{reports}#EXT-X-ENDLIST\n"),
        None => format!("{text}{reports}"),
    }
}

/// Answers `GET /APP/STREAM.m3u8` and `GET /APP/STREAM-SEQ.ts` without play auth, for a request
/// already split into vhost (`explicit` when the client named it with `?vhost=`), app and file name.
pub fn respond(store: &HlsStore, vhost: &str, explicit: bool, app: &str, file: &str) -> Response {
    match parse_request(store, app, file) {
        Ok(wanted) => deliver(
            store.lookup(vhost, explicit, app, wanted.stream()),
            &wanted,
            None,
            None,
            "",
            "",
        ),
        Err((status, message)) => refused(status, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hls_file_names() {
        assert_eq!(
            parse_file("cam.m3u8"),
            Some(HlsFile::Playlist { stream: "cam" })
        );
        assert_eq!(
            parse_file("my-cam-12.ts"),
            Some(HlsFile::Segment {
                stream: "my-cam",
                sequence: 12,
                fmp4: false
            })
        );
        assert_eq!(parse_file("cam.flv"), None);
        assert_eq!(parse_file("cam-.ts"), None);
        assert_eq!(parse_file("cam-1x.ts"), None);
        assert_eq!(parse_file("cam-99999999999999999999.ts"), None);
    }

    #[test]
    fn uris_keep_a_vhost_other_than_the_default_and_the_session() {
        let id = |vhost: &str| StreamName::new(vhost, "live", "vz");
        assert_eq!(uri_query(&id(DEFAULT_VHOST), None), "");
        assert_eq!(uri_query(&id("b"), None), "vhost=b");
        assert_eq!(
            uri_query(&id("b.example"), Some("abc")),
            "vhost=b.example&hls_ctx=abc"
        );
        assert_eq!(uri_query(&id(DEFAULT_VHOST), Some("abc")), "hls_ctx=abc");
        assert_eq!(uri_query(&id("a&b"), None), "vhost=a%26b");
    }

    #[test]
    fn validates_names() {
        assert!(valid_app("live") && valid_app("a/b"));
        for bad in ["", "a/", "/a", "a//b", "a/../b", "a/.b"] {
            assert!(!valid_app(bad), "{bad:?}");
        }
        assert!(valid_name("live"));
        assert!(valid_name("cam_1.hd"));
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "a\0b",
            "a b",
            "é",
            &"x".repeat(129),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
