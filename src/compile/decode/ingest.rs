//! Decode an `ingest "APP/STREAM" from="…"` node: where it publishes, what it pulls, and how.

use super::super::diagnostic::{suggest, DiagnosticKind, Span};
use super::super::fields::{gather, name_span, Ctx, Spanned};
use super::{name_argument, schema};
use kdl::KdlNode;

/// Source schemes an ingest pulls (`rtmp`, `http(s)` FLV natively; the rest through ffmpeg). A
/// source without `://` is a file path.
pub const SCHEMES: &[&str] = &[
    "rtmp", "rtmps", "http", "https", "srt", "rtsp", "rtsps", "udp", "file",
];

#[derive(Debug)]
pub struct IngestDecl {
    pub span: Span,
    /// `app/stream` or `vhost/app/stream`.
    pub stream: Spanned<String>,
    pub from: Spanned<String>,
    pub looping: bool,
    pub binary: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    /// `host="NAME"`: where the ingest runs.
    pub host: Option<Spanned<String>>,
}

impl IngestDecl {
    /// The role name: `name=`, else the stream with `/` → `-`.
    pub fn role_name(&self) -> &str {
        self.name.as_ref().map_or(&self.stream.value, |n| &n.value)
    }

    /// Does pulling the source need ffmpeg? `rtmp://` and `http(s)://….flv` are pulled natively.
    pub fn needs_ffmpeg(&self) -> bool {
        let lower = self.from.value.to_ascii_lowercase();
        let path = lower.split(['?', '#']).next().unwrap_or("");
        let native_flv = (lower.starts_with("http://") || lower.starts_with("https://"))
            && path.ends_with(".flv");
        !(lower.starts_with("rtmp://") || native_flv)
    }
}

pub(super) fn decode_ingest(node: &KdlNode, ctx: &mut Ctx) -> Option<IngestDecl> {
    let fields = gather(node, &schema::INGEST, ctx);
    let stream = name_argument(&fields, node, "ingest", ctx);
    if let Some(stream) = &stream {
        let segments: Vec<&str> = stream.value.split('/').collect();
        let plain = (2..=3).contains(&segments.len())
            && segments.iter().all(|s| {
                !s.is_empty()
                    && !s.contains(['*', '{', '}', '?'])
                    && !s.contains(char::is_whitespace)
            });
        if !plain {
            ctx.error_at(
                DiagnosticKind::BadValue {
                    setting: "ingest".into(),
                    value: stream.value.clone(),
                    allowed: vec!["APP/STREAM", "VHOST/APP/STREAM"],
                    suggestion: None,
                },
                stream.span,
                "one stream name, no pattern",
            );
        }
    }
    let from = fields.string("from", ctx);
    if fields.missing("from") {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "ingest".into(),
                setting: "from".into(),
                example: "`ingest \"live/lobby\" from=\"rtmp://10.0.0.9/live/cam\"`".into(),
            },
            name_span(node),
            "no `from`",
        );
    }
    if let Some(from) = &from {
        check_source(from, ctx);
    }
    let name = fields.string("name", ctx);
    if let Some(name) = &name {
        if name.value.is_empty() || !super::rule::simple_name(&name.value) {
            ctx.error_at(
                DiagnosticKind::BadValue {
                    setting: "name".into(),
                    value: name.value.clone(),
                    allowed: vec!["letters, digits, `-`, `_` and `.`"],
                    suggestion: None,
                },
                name.span,
                "a role name",
            );
        }
    }
    let looping = fields.bool("loop", ctx).unwrap_or(false);
    Some(IngestDecl {
        span: name_span(node),
        stream: stream?,
        from: from?,
        looping,
        binary: fields.string("binary", ctx),
        name,
        host: fields.string("host", ctx),
    })
}

/// A URL with a scheme this build pulls, or a file path.
fn check_source(from: &Spanned<String>, ctx: &mut Ctx) {
    let text = from.value.trim();
    let scheme = text
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    let bad = match &scheme {
        Some(scheme) => !SCHEMES.contains(&scheme.as_str()),
        None => text.is_empty(),
    };
    if bad {
        let scheme = scheme.unwrap_or_default();
        ctx.error_at(
            DiagnosticKind::BadValue {
                setting: "from".into(),
                value: from.value.clone(),
                allowed: vec![
                    "rtmp://",
                    "rtmps://",
                    "http(s)://….flv",
                    "http(s)://….m3u8",
                    "srt://",
                    "rtsp://",
                    "udp://",
                    "a file path",
                ],
                suggestion: suggest(&scheme, SCHEMES).map(|s| format!("{s}://")),
            },
            from.span,
            "unknown source scheme",
        );
    }
}
