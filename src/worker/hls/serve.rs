//! The HLS HTTP answers: `GET /APP/STREAM.m3u8` (playlist, no-cache) and `GET /APP/STREAM-SEQ.ts`
//! (segment), with CORS, name validation (`..`, NUL, overlong → 400) and 404 for anything unknown.

use super::HlsStore;
use crate::worker::http::{FileRequest, HttpFiles};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// App and stream names longer than this are refused.
const MAX_NAME_LEN: usize = 128;

/// Serves `.m3u8` and `.ts` through the worker's HTTP file dispatch.
pub fn register(store: &HlsStore, files: &HttpFiles) {
    for ext in [".m3u8", ".ts"] {
        let store = store.clone();
        files.register(
            ext,
            Arc::new(move |request: FileRequest| {
                let answer = respond_to(&store, &request);
                Box::pin(async move { answer })
            }),
        );
    }
}

/// Answers a stream file request the worker's router already split into vhost, app and stream.
fn respond_to(store: &HlsStore, request: &FileRequest) -> Response {
    let explicit = request
        .name
        .param
        .trim_start_matches('?')
        .split('&')
        .any(|pair| pair.starts_with("vhost="));
    let file = request.path.rsplit('/').next().unwrap_or("");
    respond(
        store,
        &request.name.vhost,
        explicit,
        &request.name.app,
        file,
    )
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

/// What an HLS URL asks for.
#[derive(Debug, PartialEq, Eq)]
enum HlsFile<'a> {
    Playlist { stream: &'a str },
    Segment { stream: &'a str, sequence: u64 },
}

fn parse_file(file: &str) -> Option<HlsFile<'_>> {
    if let Some(stream) = file.strip_suffix(".m3u8") {
        return Some(HlsFile::Playlist { stream });
    }
    let base = file.strip_suffix(".ts")?;
    let (stream, sequence) = base.rsplit_once('-')?;
    if sequence.is_empty() || sequence.len() > 19 || !sequence.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(HlsFile::Segment {
        stream,
        sequence: sequence.parse().ok()?,
    })
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
    with_common_headers((StatusCode::NOT_FOUND, message).into_response(), "no-cache")
}

fn bad_request(message: &'static str) -> Response {
    with_common_headers(
        (StatusCode::BAD_REQUEST, message).into_response(),
        "no-cache",
    )
}

/// Answers `GET /APP/STREAM.m3u8` and `GET /APP/STREAM-SEQ.ts` for a request already split into
/// vhost (`explicit` when the client named it with `?vhost=`), app and file name.
pub fn respond(store: &HlsStore, vhost: &str, explicit: bool, app: &str, file: &str) -> Response {
    if !store.enabled() {
        return not_found("HLS is disabled\n");
    }
    if !valid_name(app) || file.len() > MAX_NAME_LEN + 24 || file.contains("..") {
        return bad_request("bad app or file name\n");
    }
    let Some(request) = parse_file(file) else {
        return not_found("not an HLS resource\n");
    };
    match request {
        HlsFile::Playlist { stream } => {
            if !valid_name(stream) {
                return bad_request("bad stream name\n");
            }
            match store.playlist(vhost, explicit, app, stream) {
                Some(text) => {
                    let mut response = text.to_string().into_response();
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/vnd.apple.mpegurl"),
                    );
                    with_common_headers(response, "no-cache")
                }
                None => not_found("no such stream\n"),
            }
        }
        HlsFile::Segment { stream, sequence } => {
            if !valid_name(stream) {
                return bad_request("bad stream name\n");
            }
            match store.segment(vhost, explicit, app, stream, sequence) {
                Some(data) => {
                    let mut response = data.into_response();
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
                    // A segment never changes once published.
                    with_common_headers(response, "public, max-age=60")
                }
                None => not_found("no such segment\n"),
            }
        }
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
                sequence: 12
            })
        );
        assert_eq!(parse_file("cam.flv"), None);
        assert_eq!(parse_file("cam-.ts"), None);
        assert_eq!(parse_file("cam-1x.ts"), None);
        assert_eq!(parse_file("cam-99999999999999999999.ts"), None);
    }

    #[test]
    fn validates_names() {
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
