//! Serving the site's root directory: path safety (traversal, NUL, symlinks out of the root), MIME
//! types players need, ETag/Last-Modified with conditional requests, single byte ranges, index.html,
//! optional directory listing, precompressed `.br`/`.gz` siblings.
//!
//! Each request does its file-system work (resolve, check, open, stat, and for small files read) in
//! one blocking-pool hop: the per-request cost that decides small-file throughput.

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt;

/// Directory listings stop after this many entries, so a huge directory cannot exhaust memory.
const LISTING_MAX_ENTRIES: usize = 10_000;
/// Files (or ranges) up to this size are read in the lookup hop and sent from memory.
const SMALL_BODY_MAX: u64 = 256 * 1024;
/// Larger bodies stream from the file in reads of this size.
const STREAM_CHUNK: usize = 256 * 1024;

/// The files part of a static site.
pub struct Files {
    /// The root, canonicalized once at start: every served path must resolve inside it.
    root: Arc<PathBuf>,
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

/// What the client asked for, as far as the file lookup cares.
struct Wanted {
    segments: Vec<String>,
    ends_with_slash: bool,
    accepts_br: bool,
    accepts_gzip: bool,
    /// The byte range to read in the lookup hop when the body is small (None = whole file).
    range_header: Option<String>,
    head: bool,
}

/// The outcome of the blocking lookup.
enum Lookup {
    Forbidden(&'static str),
    NotFound,
    AddSlash,
    Listing(String),
    File(Found),
}

/// An opened file ready to send.
struct Found {
    file: std::fs::File,
    /// Length of the representation sent (the compressed sibling's, if one is chosen).
    len: u64,
    modified: SystemTime,
    /// Tag of the representation sent.
    etag: String,
    /// Every tag this resource has (plain and compressed): any of them in If-None-Match means 304.
    all_tags: Vec<String>,
    encoding: Option<&'static str>,
    /// Whether a compressed sibling exists, so caches must key on Accept-Encoding.
    vary: bool,
    mime: HeaderValue,
    /// The whole body or the satisfiable range, already read when it is small.
    preread: Option<(ByteRange, Vec<u8>)>,
}

/// An inclusive byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    fn len(self) -> u64 {
        self.end - self.start + 1
    }
}

/// How a `Range` header applies to a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No usable range: send everything (absent, malformed, or several ranges).
    Full,
    Partial(ByteRange),
    Unsatisfiable,
}

impl Files {
    pub fn new(root: &str, directory_listing: bool) -> anyhow::Result<Files> {
        let root = std::fs::canonicalize(root)
            .map_err(|err| anyhow::anyhow!("static root {root} is not usable: {err}"))?;
        if !root.is_dir() {
            anyhow::bail!("static root {} is not a directory", root.display());
        }
        Ok(Files {
            root: Arc::new(root),
            directory_listing,
        })
    }

    /// Answer a GET/HEAD request for a file under the root.
    pub async fn serve<B>(&self, req: Request<B>) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let path = req.uri().path();
        let segments = match safe_segments(path) {
            Ok(segments) => segments,
            Err(PathRefusal::Forbidden(why)) => return forbidden(why),
            Err(PathRefusal::NotFound) => return not_found(),
        };
        let accepts = req
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let wanted = Wanted {
            segments,
            ends_with_slash: path.ends_with('/'),
            accepts_br: accepts_encoding(accepts, "br"),
            accepts_gzip: accepts_encoding(accepts, "gzip"),
            range_header: raw_range(req.headers()),
            head,
        };
        let root = self.root.clone();
        let listing = self.directory_listing;
        let url_path = path.to_string();
        let lookup =
            tokio::task::spawn_blocking(move || lookup(&root, wanted, listing, &url_path)).await;
        match lookup {
            Ok(Lookup::File(found)) => respond(found, req.headers(), head).await,
            Ok(Lookup::Forbidden(why)) => forbidden(why),
            Ok(Lookup::NotFound) => not_found(),
            Ok(Lookup::AddSlash) => {
                // Relative links in index pages only work with the trailing slash.
                let mut location = format!("{}/", req.uri().path());
                if let Some(query) = req.uri().query() {
                    location.push('?');
                    location.push_str(query);
                }
                redirect(&location)
            }
            Ok(Lookup::Listing(html)) => html_page(html, head),
            Err(err) => {
                tracing::error!(%err, "file lookup task failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
            }
        }
    }
}

/// The raw Range header, so the lookup hop can pre-read just that range of a small file; whether it
/// is honoured (If-Range) is decided when answering.
fn raw_range(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Whether an `Accept-Encoding` value takes `coding` (named, or `*`, with a non-zero q).
fn accepts_encoding(accept: &str, coding: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case(coding) && name != "*" {
            return false;
        }
        !parts.any(|param| {
            param
                .trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        })
    })
}

/// Where a path stands relative to the root.
enum Resolved {
    /// Inside the root: the path as named (symlinks inside the root allowed) and its metadata.
    Inside(PathBuf, std::fs::Metadata),
    Outside,
    Missing,
}

/// Check the last component of `path`, whose parent is known to resolve inside `root`: only a
/// symlink can lead out, and only then is the (costlier) full canonicalization needed.
fn check_last(root: &Path, path: PathBuf) -> Resolved {
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Resolved::Missing;
    };
    if !meta.file_type().is_symlink() {
        return Resolved::Inside(path, meta);
    }
    match std::fs::canonicalize(&path) {
        Ok(real) if real.starts_with(root) => match std::fs::metadata(&real) {
            Ok(meta) => Resolved::Inside(path, meta),
            Err(_) => Resolved::Missing,
        },
        Ok(_) => Resolved::Outside,
        Err(_) => Resolved::Missing,
    }
}

/// Walk `segments` down from the canonical `root`, one `lstat` per segment.
fn resolve(root: &Path, segments: &[String]) -> Resolved {
    let mut path = root.to_path_buf();
    if segments.is_empty() {
        return match std::fs::metadata(root) {
            Ok(meta) => Resolved::Inside(path, meta),
            Err(_) => Resolved::Missing,
        };
    }
    let mut last = Resolved::Missing;
    for segment in segments {
        if let Resolved::Inside(_, meta) = &last {
            if !meta.is_dir() {
                return Resolved::Missing;
            }
        }
        path.push(segment);
        last = check_last(root, path.clone());
        if !matches!(last, Resolved::Inside(..)) {
            return last;
        }
    }
    last
}

const OUTSIDE_ROOT: &str = "resolves outside the site root";

fn lookup(root: &Path, wanted: Wanted, listing: bool, url_path: &str) -> Lookup {
    let (path, meta) = match resolve(root, &wanted.segments) {
        Resolved::Inside(path, meta) => (path, meta),
        Resolved::Outside => return Lookup::Forbidden(OUTSIDE_ROOT),
        Resolved::Missing => return Lookup::NotFound,
    };
    let (path, meta) = if meta.is_dir() {
        if !wanted.ends_with_slash {
            return Lookup::AddSlash;
        }
        match check_last(root, path.join("index.html")) {
            Resolved::Inside(index, meta) if meta.is_file() => (index, meta),
            Resolved::Inside(..) => return Lookup::NotFound,
            Resolved::Outside => return Lookup::Forbidden(OUTSIDE_ROOT),
            Resolved::Missing if listing => return Lookup::Listing(listing_html(&path, url_path)),
            Resolved::Missing => return Lookup::NotFound,
        }
    } else if meta.is_file() && !wanted.ends_with_slash {
        (path, meta)
    } else {
        // `/index.html/` names a directory that does not exist: 404, as nginx answers (ENOTDIR),
        // never the file itself under a second URL.
        return Lookup::NotFound;
    };

    let base_tag = entity_tag(&meta);
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let mime = mime_for(&path);
    let mut vary = false;
    let mut chosen = None;
    // Brotli first: smaller than gzip when both exist and the client takes both. Siblings are only
    // looked for when the client accepts them; the identity answer needs no Vary to be correct.
    for (encoding, extension, accepted) in [
        ("br", "br", wanted.accepts_br),
        ("gzip", "gz", wanted.accepts_gzip),
    ] {
        if !accepted {
            continue;
        }
        let mut name = path.as_os_str().to_owned();
        name.push(".");
        name.push(extension);
        // A sibling is only used when it too stays inside the root.
        if let Resolved::Inside(sibling, meta) = check_last(root, PathBuf::from(name)) {
            if meta.is_file() {
                vary = true;
                if chosen.is_none() {
                    chosen = Some((encoding, sibling));
                }
            }
        }
    }
    let (encoding, open_path) = match chosen {
        Some((encoding, sibling)) => (Some(encoding), sibling),
        None => (None, path),
    };
    let Ok(mut file) = std::fs::File::open(&open_path) else {
        return Lookup::NotFound;
    };
    let len = match file.metadata() {
        Ok(meta) if meta.is_file() => meta.len(),
        _ => return Lookup::NotFound,
    };
    let etag = match encoding {
        Some(encoding) => variant_tag(&base_tag, encoding),
        None => base_tag.clone(),
    };
    let all_tags = vec![
        base_tag.clone(),
        variant_tag(&base_tag, "br"),
        variant_tag(&base_tag, "gzip"),
    ];
    let mut preread = None;
    if !wanted.head {
        let range = match wanted.range_header.as_deref().map(|r| parse_range(r, len)) {
            Some(RangeAnswer::Partial(range)) => Some(range),
            Some(RangeAnswer::Unsatisfiable) => None,
            Some(RangeAnswer::Full) | None if len > 0 => Some(ByteRange {
                start: 0,
                end: len - 1,
            }),
            _ => None,
        };
        if let Some(range) = range.filter(|r| r.len() <= SMALL_BODY_MAX) {
            let mut data = Vec::with_capacity(range.len() as usize);
            let read = file
                .seek(SeekFrom::Start(range.start))
                .and_then(|_| (&mut file).take(range.len()).read_to_end(&mut data));
            if read.is_ok() && data.len() as u64 == range.len() {
                preread = Some((range, data));
            }
        }
    }
    Lookup::File(Found {
        file,
        len,
        modified,
        etag,
        all_tags,
        encoding,
        vary,
        mime,
        preread,
    })
}

/// Build the answer for a found file: 304, 416, 206 or 200.
async fn respond(found: Found, headers: &HeaderMap, head: bool) -> Response<Body> {
    let last_modified = httpdate::fmt_http_date(found.modified);
    let mut resp = Response::new(Body::empty());
    {
        let out = resp.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&found.etag) {
            out.insert(header::ETAG, value);
        }
        if let Ok(value) = HeaderValue::from_str(&last_modified) {
            out.insert(header::LAST_MODIFIED, value);
        }
        if found.vary {
            out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
    }
    if not_modified(headers, &found) {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return resp;
    }
    let out = resp.headers_mut();
    out.insert(header::CONTENT_TYPE, found.mime.clone());
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(encoding) = found.encoding {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_holds(headers, &found.etag, &last_modified));
    let answer = match range_header {
        Some(range) => parse_range(range, found.len),
        None => RangeAnswer::Full,
    };
    let range = match answer {
        RangeAnswer::Unsatisfiable => {
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let value = format!("bytes */{}", found.len);
            if let Ok(value) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            resp.headers_mut().remove(header::CONTENT_TYPE);
            return resp;
        }
        RangeAnswer::Partial(range) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let value = format!("bytes {}-{}/{}", range.start, range.end, found.len);
            if let Ok(value) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            Some(range)
        }
        RangeAnswer::Full => None,
    };
    let (start, length) = match range {
        Some(range) => (range.start, range.len()),
        None => (0, found.len),
    };
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if head || length == 0 {
        return resp;
    }
    if let Some((read_range, data)) = found.preread {
        if read_range.start == start && read_range.len() == length {
            *resp.body_mut() = Body::from(data);
            return resp;
        }
    }
    let mut file = tokio::fs::File::from_std(found.file);
    // Always seek: the lookup may have pre-read a different range and moved the position.
    if let Err(err) = tokio::io::AsyncSeekExt::seek(&mut file, SeekFrom::Start(start)).await {
        tracing::warn!(%err, "seeking in a served file failed");
        return text(StatusCode::INTERNAL_SERVER_ERROR, "read error\n");
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(length), STREAM_CHUNK);
    *resp.body_mut() = Body::from_stream(stream);
    resp
}

/// RFC 9110 13.2.2: If-None-Match decides when present; otherwise If-Modified-Since.
fn not_modified(headers: &HeaderMap, found: &Found) -> bool {
    if let Some(list) = headers.get(header::IF_NONE_MATCH) {
        return list
            .to_str()
            .is_ok_and(|list| etag_list_matches(list, &found.all_tags));
    }
    let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    secs(found.modified) <= secs(since)
}

/// `If-Range` holds when absent, or when it names exactly the current tag or date.
fn if_range_holds(headers: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(value) => value == etag || value == last_modified,
    }
}

/// Parse a `Range` header for a representation of `len` bytes. Only one range is honoured.
pub fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        // Suffix: the last N bytes.
        let Ok(suffix) = last.parse::<u64>() else {
            return RangeAnswer::Full;
        };
        if suffix == 0 || len == 0 {
            return RangeAnswer::Unsatisfiable;
        }
        ByteRange {
            start: len.saturating_sub(suffix),
            end: len - 1,
        }
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return RangeAnswer::Full;
        };
        let end = if last.is_empty() {
            u64::MAX
        } else {
            match last.parse::<u64>() {
                Ok(end) if end >= start => end,
                _ => return RangeAnswer::Full,
            }
        };
        if start >= len {
            return RangeAnswer::Unsatisfiable;
        }
        ByteRange {
            start,
            end: end.min(len - 1),
        }
    };
    RangeAnswer::Partial(range)
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

/// Whether an `If-None-Match` list names one of `tags` (weak comparison, as RFC 9110 asks for it).
fn etag_list_matches(list: &str, tags: &[String]) -> bool {
    list.split(',').map(str::trim).any(|listed| {
        listed == "*" || {
            let listed = listed.strip_prefix("W/").unwrap_or(listed);
            tags.iter().any(|tag| tag == listed)
        }
    })
}

/// The Content-Type for a path: the types streaming players insist on where the generic table
/// disagrees, text types with their charset, then the generic table.
fn mime_for(path: &Path) -> HeaderValue {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let fixed = match extension.as_str() {
        "m3u8" => Some("application/vnd.apple.mpegurl"),
        "ts" => Some("video/mp2t"),
        "m4s" => Some("video/iso.segment"),
        "flv" => Some("video/x-flv"),
        "mp4" => Some("video/mp4"),
        "html" | "htm" => Some("text/html; charset=utf-8"),
        "js" | "mjs" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        "txt" => Some("text/plain; charset=utf-8"),
        "json" => Some("application/json"),
        "wasm" => Some("application/wasm"),
        _ => None,
    };
    if let Some(fixed) = fixed {
        return HeaderValue::from_static(fixed);
    }
    let guessed = mime_guess::from_ext(&extension).first_or_octet_stream();
    HeaderValue::from_str(guessed.essence_str())
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// An HTML index of `dir` (blocking: runs in the lookup hop).
fn listing_html(dir: &Path, url_path: &str) -> String {
    let mut entries = Vec::new();
    let mut truncated = false;
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            if entries.len() >= LISTING_MAX_ENTRIES {
                truncated = true;
                break;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
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
    html
}

fn html_page(html: String, head_only: bool) -> Response<Body> {
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

fn forbidden(why: &str) -> Response<Body> {
    text(StatusCode::FORBIDDEN, &format!("forbidden path: {why}\n"))
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
        let tags = vec!["\"1-2-3\"".to_string(), "\"1-2-3-gzip\"".to_string()];
        assert!(etag_list_matches("\"1-2-3\"", &tags));
        assert!(etag_list_matches("W/\"1-2-3\"", &tags));
        assert!(etag_list_matches("\"x\", \"1-2-3-gzip\"", &tags));
        assert!(etag_list_matches("*", &tags));
        assert!(!etag_list_matches("\"other\"", &tags));
    }

    #[test]
    fn types_fit_players_and_browsers() {
        assert_eq!(
            mime_for(Path::new("a/s.m3u8")),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(mime_for(Path::new("seg.TS")), "video/mp2t");
        assert_eq!(mime_for(Path::new("x.png")), "image/png");
        assert_eq!(mime_for(Path::new("x")), "application/octet-stream");
    }

    #[test]
    fn accept_encoding_respects_q_zero() {
        assert!(accepts_encoding("gzip, deflate, br", "br"));
        assert!(accepts_encoding("GZIP;q=0.5", "gzip"));
        assert!(!accepts_encoding("gzip;q=0, br", "gzip"));
        assert!(!accepts_encoding("identity", "gzip"));
        assert!(accepts_encoding("*", "br"));
    }

    #[test]
    fn ranges_parse_like_rfc_9110_says() {
        let partial = |start, end| RangeAnswer::Partial(ByteRange { start, end });
        assert_eq!(parse_range("bytes=0-9", 100), partial(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), partial(90, 99));
        assert_eq!(parse_range("bytes=90-500", 100), partial(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), partial(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), partial(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAnswer::Full);
        assert_eq!(parse_range("bytes=9-1", 100), RangeAnswer::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeAnswer::Full);
        assert_eq!(parse_range("bytes=x-", 100), RangeAnswer::Full);
    }
}
