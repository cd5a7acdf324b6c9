//! Serving the site's root directory: path safety, ETag and conditional requests, index.html,
//! optional directory listing, streaming MIME types; byte ranges, Last-Modified and precompressed
//! `.gz`/`.br` siblings come from tower-http's `ServeFile`.

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// Directory listings stop after this many entries, so a huge directory cannot exhaust memory.
const LISTING_MAX_ENTRIES: usize = 10_000;

/// The files part of a static site.
pub struct Files {
    /// The root, canonicalized once at start: every served path must resolve inside it.
    root: PathBuf,
    directory_listing: bool,
}

/// Why a request path was refused before touching the file system.
#[derive(Debug, PartialEq, Eq)]
pub enum PathRefusal {
    /// Traversal, NUL bytes, encoded separators: 403.
    Forbidden(&'static str),
    /// Not valid UTF-8 after decoding: no such file can be named, 404.
    NotFound,
}

impl Files {
    pub fn new(root: &str, directory_listing: bool) -> anyhow::Result<Files> {
        let root = std::fs::canonicalize(root)
            .map_err(|err| anyhow::anyhow!("static root {root} is not usable: {err}"))?;
        if !root.is_dir() {
            anyhow::bail!("static root {} is not a directory", root.display());
        }
        Ok(Files {
            root,
            directory_listing,
        })
    }

    /// Answer a GET/HEAD request for a file under the root.
    pub async fn serve<B>(&self, req: Request<B>) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let segments = match safe_segments(req.uri().path()) {
            Ok(segments) => segments,
            Err(PathRefusal::Forbidden(why)) => {
                return text(StatusCode::FORBIDDEN, &format!("forbidden path: {why}\n"))
            }
            Err(PathRefusal::NotFound) => return not_found(),
        };
        let mut path = self.root.clone();
        path.extend(&segments);
        let real = match self.resolve_inside_root(&path).await {
            Ok(real) => real,
            Err(resp) => return resp,
        };
        let meta = match tokio::fs::metadata(&real).await {
            Ok(meta) => meta,
            Err(_) => return not_found(),
        };
        if meta.is_dir() {
            if !req.uri().path().ends_with('/') {
                // Relative links in index pages only work with the trailing slash.
                let mut location = format!("{}/", req.uri().path());
                if let Some(query) = req.uri().query() {
                    location.push('?');
                    location.push_str(query);
                }
                return redirect(&location);
            }
            let index = path.join("index.html");
            match self.resolve_inside_root(&index).await {
                Ok(index_real) => return self.serve_file(req, &index, &index_real).await,
                Err(resp) if resp.status() == StatusCode::FORBIDDEN => return resp,
                Err(_) => {}
            }
            if self.directory_listing {
                return listing(&real, req.uri().path(), req.method() == Method::HEAD).await;
            }
            return not_found();
        }
        self.serve_file(req, &path, &real).await
    }

    /// The canonical path of `path`, refused with 403 when a symlink leads outside the root.
    async fn resolve_inside_root(&self, path: &Path) -> Result<PathBuf, Response<Body>> {
        match tokio::fs::canonicalize(path).await {
            Ok(real) if real.starts_with(&self.root) => Ok(real),
            Ok(_) => Err(text(
                StatusCode::FORBIDDEN,
                "forbidden path: resolves outside the site root\n",
            )),
            Err(_) => Err(not_found()),
        }
    }

    async fn serve_file<B>(&self, req: Request<B>, path: &Path, real: &Path) -> Response<Body> {
        let meta = match tokio::fs::metadata(real).await {
            Ok(meta) if meta.is_file() => meta,
            _ => return not_found(),
        };
        let base_tag = entity_tag(&meta);
        let (parts, _) = req.into_parts();
        let mut headers = parts.headers.clone();
        if let Some(if_none_match) = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
        {
            if let Some(matched) = etag_matches(if_none_match, &base_tag) {
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = StatusCode::NOT_MODIFIED;
                if let Ok(value) = HeaderValue::from_str(&matched) {
                    resp.headers_mut().insert(header::ETAG, value);
                }
                return resp;
            }
            // RFC 9110 13.2.2: If-None-Match, when present, overrides If-Modified-Since.
            headers.remove(header::IF_MODIFIED_SINCE);
        }
        let accepts = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut service = ServeFile::new(path);
        // A precompressed sibling is only offered when it too stays inside the root.
        if accepts.contains("gzip") && self.sibling_inside_root(path, "gz").await {
            service = service.precompressed_gzip();
        }
        if accepts.contains("br") && self.sibling_inside_root(path, "br").await {
            service = service.precompressed_br();
        }
        let mut inner = Request::new(Body::empty());
        *inner.method_mut() = parts.method.clone();
        *inner.uri_mut() = parts.uri.clone();
        *inner.headers_mut() = headers;
        let resp = match service.oneshot(inner).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        let (mut parts, body) = resp.into_parts();
        if parts.status.is_success() || parts.status == StatusCode::NOT_MODIFIED {
            let tag = match parts
                .headers
                .get(header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
            {
                Some(encoding) => variant_tag(&base_tag, encoding),
                None => base_tag,
            };
            if let Ok(value) = HeaderValue::from_str(&tag) {
                parts.headers.insert(header::ETAG, value);
            }
            if let Some(mime) = streaming_mime(real) {
                parts
                    .headers
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            }
        }
        Response::from_parts(parts, Body::new(body))
    }

    async fn sibling_inside_root(&self, path: &Path, extension: &str) -> bool {
        let mut name = path.as_os_str().to_owned();
        name.push(".");
        name.push(extension);
        match tokio::fs::canonicalize(PathBuf::from(name)).await {
            Ok(real) => real.starts_with(&self.root),
            Err(_) => false,
        }
    }
}

/// Decode and check a request path, returning its segments (no `.`/`..`, no empty segments).
pub fn safe_segments(raw_path: &str) -> Result<Vec<String>, PathRefusal> {
    let lower = raw_path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(PathRefusal::Forbidden("encoded path separator"));
    }
    if lower.contains("%00") || raw_path.contains('\0') {
        return Err(PathRefusal::Forbidden("NUL byte"));
    }
    let decoded = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| PathRefusal::NotFound)?;
    if decoded.contains('\\') {
        return Err(PathRefusal::Forbidden("backslash"));
    }
    let mut segments = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" => continue,
            "." | ".." => return Err(PathRefusal::Forbidden("dot segment")),
            _ => {}
        }
        // Belt and braces: a segment must be one normal path component on this platform.
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(_)), None) => segments.push(segment.to_string()),
            _ => return Err(PathRefusal::Forbidden("unusual path segment")),
        }
    }
    Ok(segments)
}

/// A strong validator from the file's identity, size and modification time.
fn entity_tag(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{:x}-{:x}-{:x}\"", meta.ino(), meta.len(), modified)
}

/// The tag of a content-coded variant: the same file compressed is a different representation.
fn variant_tag(base: &str, encoding: &str) -> String {
    let encoding: String = encoding
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{}-{}\"", base.trim_end_matches('"'), encoding)
}

/// Which of our tags an `If-None-Match` list names (weak comparison, as RFC 9110 asks for it).
fn etag_matches(if_none_match: &str, base: &str) -> Option<String> {
    let candidates = [
        base.to_string(),
        variant_tag(base, "gzip"),
        variant_tag(base, "br"),
    ];
    for listed in if_none_match.split(',') {
        let listed = listed.trim();
        if listed == "*" {
            return Some(base.to_string());
        }
        let listed = listed.strip_prefix("W/").unwrap_or(listed);
        if let Some(found) = candidates.iter().find(|c| c.as_str() == listed) {
            return Some(found.clone());
        }
    }
    None
}

/// MIME types streaming players insist on, where the generic table disagrees.
fn streaming_mime(path: &Path) -> Option<&'static str> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match extension.as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "m4s" => "video/iso.segment",
        "flv" => "video/x-flv",
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        _ => return None,
    })
}

async fn listing(dir: &Path, url_path: &str, head_only: bool) -> Response<Body> {
    let mut entries = Vec::new();
    let mut truncated = false;
    if let Ok(mut read) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(entry)) = read.next_entry().await {
            if entries.len() >= LISTING_MAX_ENTRIES {
                truncated = true;
                break;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_dir = entry.file_type().await.map(|t| t.is_dir()).unwrap_or(false);
            entries.push((name, is_dir));
        }
    }
    entries.sort();
    let title = html_escape(url_path);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if url_path != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in &entries {
        let slash = if *is_dir { "/" } else { "" };
        let href = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        let _ = writeln!(
            html,
            "<li><a href=\"{href}{slash}\">{}{slash}</a></li>",
            html_escape(name)
        );
    }
    if truncated {
        let _ = writeln!(
            html,
            "<li>… (only the first {LISTING_MAX_ENTRIES} entries)</li>"
        );
    }
    html.push_str("</ul></body></html>\n");
    let length = html.len();
    let body = if head_only {
        Body::empty()
    } else {
        Body::from(html)
    };
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    resp
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "not found\n")
}

fn redirect(location: &str) -> Response<Body> {
    let mut resp = text(StatusCode::PERMANENT_REDIRECT, "moved\n");
    if let Ok(value) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, value);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_split_into_segments() {
        assert_eq!(safe_segments("/a/b.txt").unwrap(), vec!["a", "b.txt"]);
        assert_eq!(safe_segments("/").unwrap(), Vec::<String>::new());
        assert_eq!(safe_segments("/a%20b").unwrap(), vec!["a b"]);
    }

    #[test]
    fn traversal_and_nul_are_forbidden() {
        for path in [
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/%2E%2E/x",
            "/a%2fb",
            "/a%5c..%5cb",
            "/a%00b",
            "/./a",
        ] {
            assert!(
                matches!(safe_segments(path), Err(PathRefusal::Forbidden(_))),
                "{path} must be forbidden"
            );
        }
        assert_eq!(safe_segments("/%ff%fe"), Err(PathRefusal::NotFound));
    }

    #[test]
    fn etags_match_weakly_and_by_variant() {
        let base = "\"1-2-3\"";
        assert_eq!(etag_matches("\"1-2-3\"", base).as_deref(), Some(base));
        assert_eq!(etag_matches("W/\"1-2-3\"", base).as_deref(), Some(base));
        assert_eq!(
            etag_matches("\"x\", \"1-2-3-gzip\"", base).as_deref(),
            Some("\"1-2-3-gzip\"")
        );
        assert_eq!(etag_matches("\"other\"", base), None);
    }

    #[test]
    fn streaming_types_are_the_players_ones() {
        assert_eq!(
            streaming_mime(Path::new("a/s.m3u8")),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(streaming_mime(Path::new("seg.TS")), Some("video/mp2t"));
        assert_eq!(streaming_mime(Path::new("x.bin")), None);
    }
}
