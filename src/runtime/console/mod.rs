//! The browser console and the player page: small dependency-free HTML/JS/CSS compiled into the
//! binary. The api-lb serves the console at `/console/` (outside the credential check: the page
//! holds no data, it asks for the token when the API refuses) and its status endpoint
//! (`status.rs`); the http-lb serves `/play/APP/STREAM` (WHEP first, native HLS as the fallback).

mod status;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::LazyLock;

pub use status::{status_router, ConsoleInfo};

const INDEX: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const WHEP_JS: &str = include_str!("assets/whep.js");
const PLAY_HTML: &str = include_str!("assets/play.html");

/// The player page with the WHEP client inlined: one request, no third-party script.
static PLAY_PAGE: LazyLock<String> = LazyLock::new(|| {
    PLAY_HTML
        .replace("/*WHEP_JS*/", WHEP_JS)
        .replace("/*CONSOLE_CSS*/", CONSOLE_CSS)
});

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The console's files, for the api-lb (merged outside the credential check).
pub fn asset_router() -> Router {
    Router::new()
        // Relative links need the trailing slash (also behind a static site's prefix proxy).
        .route(
            "/console",
            get(|| async { Redirect::permanent("console/") }),
        )
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
        .route(
            "/console/whep.js",
            get(|| async { asset("text/javascript; charset=utf-8", WHEP_JS) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
}

/// `/play/APP/STREAM` (APP may have slashes): the player page, or `None` for any other path. The
/// page reads the stream's name from its own URL, so one static body serves every stream.
pub fn play_page(method: &http::Method, path: &str) -> Option<http::Response<axum::body::Body>> {
    let rest = path.strip_prefix("/play/")?;
    let (app, stream) = rest.rsplit_once('/')?;
    if app.is_empty() || stream.is_empty() || stream.contains('.') {
        return None;
    }
    let response = if method == http::Method::GET || method == http::Method::HEAD {
        asset("text/html; charset=utf-8", PLAY_PAGE.as_str())
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD, OPTIONS")],
            "",
        )
            .into_response()
    };
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_paths() {
        let get = http::Method::GET;
        assert!(play_page(&get, "/play/live/cam").is_some());
        assert!(play_page(&get, "/play/a/b/cam").is_some());
        assert!(play_page(&get, "/play/cam").is_none());
        assert!(play_page(&get, "/play/live/cam.flv").is_none());
        assert!(play_page(&get, "/live/cam.flv").is_none());
        assert!(PLAY_PAGE.contains("RTCPeerConnection") && !PLAY_PAGE.contains("/*WHEP_JS*/"));
        assert_eq!(
            play_page(&http::Method::POST, "/play/live/cam")
                .unwrap()
                .status(),
            405
        );
    }
}
