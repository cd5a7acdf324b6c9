//! Serving the site's root directory: path safety (traversal, NUL, symlinks out of the root), MIME
//! types players need, ETag/Last-Modified with conditional requests, single byte ranges, index.html,
//! optional directory listing, precompressed `.br`/`.gz` siblings.
//!
//! Each request does its file-system work (resolve, check, open, stat, and for small files read) in
//! one blocking-pool hop: the per-request cost that decides small-file throughput.
//!
//! This file looks files up and answers; `path.rs` keeps paths inside the root, `validators.rs`
//! decides 304s and ranges, `listing.rs` renders directory indexes.

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt;

mod listing;
mod path;
mod validators;

use listing::{html_page, listing_html};
use path::{check_last, resolve, Resolved, OUTSIDE_ROOT};
pub use path::{safe_segments, PathRefusal};
use validators::{entity_tag, if_range_holds, not_modified, raw_range, variant_tag};
pub use validators::{parse_range, ByteRange, RangeAnswer};

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
    let (chosen, vary) = precompressed(root, &path, &wanted);
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
    let preread = if wanted.head {
        None
    } else {
        preread(&mut file, wanted.range_header.as_deref(), len)
    };
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

/// The precompressed sibling (`.br`, then `.gz`) to send instead of `path`, if the client takes one
/// and it exists inside the root; and whether any exists, so the answer must `Vary`.
fn precompressed(
    root: &Path,
    path: &Path,
    wanted: &Wanted,
) -> (Option<(&'static str, PathBuf)>, bool) {
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
    (chosen, vary)
}

/// The body (or the asked range of it) of a file of `len` bytes, read now when it is small enough
/// to send from memory.
fn preread(
    file: &mut std::fs::File,
    range_header: Option<&str>,
    len: u64,
) -> Option<(ByteRange, Vec<u8>)> {
    let range = match range_header.map(|r| parse_range(r, len)) {
        Some(RangeAnswer::Partial(range)) => Some(range),
        Some(RangeAnswer::Unsatisfiable) => None,
        Some(RangeAnswer::Full) | None if len > 0 => Some(ByteRange {
            start: 0,
            end: len - 1,
        }),
        _ => None,
    };
    let range = range.filter(|r| r.len() <= SMALL_BODY_MAX)?;
    let mut data = Vec::with_capacity(range.len() as usize);
    let read = file
        .seek(SeekFrom::Start(range.start))
        .and_then(|_| file.take(range.len()).read_to_end(&mut data));
    (read.is_ok() && data.len() as u64 == range.len()).then_some((range, data))
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
}
