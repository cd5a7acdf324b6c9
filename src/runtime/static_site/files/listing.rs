//! Directory listings: a bounded HTML index of a directory, and the HTML answer that carries it.

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::Response;
use std::fmt::Write as _;
use std::path::Path;

/// Directory listings stop after this many entries, so a huge directory cannot exhaust memory.
pub(super) const LISTING_MAX_ENTRIES: usize = 10_000;

/// An HTML index of `dir` (blocking: runs in the lookup hop).
pub(super) fn listing_html(dir: &Path, url_path: &str) -> String {
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

pub(super) fn html_page(html: String, head_only: bool) -> Response<Body> {
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

pub(super) fn html_escape(text: &str) -> String {
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
