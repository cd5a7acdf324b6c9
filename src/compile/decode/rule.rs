//! Decode a `stream "PATTERN" { … }` rule: `record`, `forward`, `transcode`, `exec` and `hooks
//! { on-record }`, with every check one rule can make by itself (placeholders, URL schemes, the
//! record extension, renditions). Checks across rules and kinds are in `expand` and `kinds`.

use super::super::diagnostic::{suggest, Diagnostic, DiagnosticKind, Span};
use super::super::fields::{gather, name_span, Ctx, Fields, Spanned, Value};
use super::super::placeholders;
use super::super::plan::{RecordFormat, Rendition};
use super::super::units;
use super::{name_argument, schema};
use kdl::KdlNode;

/// A stream rule as written.
#[derive(Debug)]
pub struct RuleDecl {
    pub pattern: Spanned<String>,
    pub record: Option<RecordDecl>,
    pub forwards: Vec<ForwardDecl>,
    pub transcode: Option<TranscodeDecl>,
    pub exec: Vec<Spanned<String>>,
    pub on_record: Vec<Spanned<String>>,
}

#[derive(Debug)]
pub struct RecordDecl {
    pub span: Span,
    pub path: Spanned<String>,
    pub format: RecordFormat,
    pub segment_ms: Option<Spanned<u64>>,
}

#[derive(Debug)]
pub struct ForwardDecl {
    pub url: Spanned<String>,
    pub ca: Option<Spanned<String>>,
}

#[derive(Debug)]
pub struct TranscodeDecl {
    pub span: Span,
    /// `None`: `ffmpeg` from PATH.
    pub binary: Option<Spanned<String>>,
    pub renditions: Vec<Rendition>,
}

/// Placeholders written with their braces, for "expected one of" lists.
const BRACED: &[&str] = &["{vhost}", "{app}", "{stream}", "{start}", "{url}"];

pub(super) fn decode_rule(node: &KdlNode, ctx: &mut Ctx) -> Option<RuleDecl> {
    let fields = gather(node, &schema::STREAM_RULE, ctx);
    let pattern = name_argument(&fields, node, "stream", ctx);
    if let Some(pattern) = &pattern {
        check_pattern(pattern, ctx);
    }
    let record = fields
        .single_block("record", ctx)
        .and_then(|node| decode_record(node, ctx));
    let forwards = fields
        .blocks_named("forward")
        .filter_map(|node| decode_forward(node, ctx))
        .collect();
    let transcode = fields
        .single_block("transcode", ctx)
        .map(|node| decode_transcode(node, ctx));
    let exec = fields.strings("exec", ctx).unwrap_or_default();
    for command in &exec {
        if command.value.trim().is_empty() {
            ctx.error_at(
                DiagnosticKind::MissingSetting {
                    node: "exec".into(),
                    setting: "a command".into(),
                    example: "`exec \"/usr/local/bin/thumbnailer {url}\"`".into(),
                },
                command.span,
                "empty command",
            );
        }
        check_placeholders(command, "exec", ctx);
    }
    let on_record = fields
        .single_block("hooks", ctx)
        .map(|node| decode_hooks(node, ctx))
        .unwrap_or_default();
    Some(RuleDecl {
        pattern: pattern?,
        record,
        forwards,
        transcode,
        exec,
        on_record,
    })
}

/// A glob over names: no spaces, no empty segment.
fn check_pattern(pattern: &Spanned<String>, ctx: &mut Ctx) {
    let text = &pattern.value;
    if text.chars().any(char::is_whitespace) || text.split('/').any(str::is_empty) {
        ctx.error_at(
            DiagnosticKind::BadValue {
                setting: "stream".into(),
                value: text.clone(),
                allowed: vec!["APP/STREAM", "APP/*", "VHOST/APP/*", "**"],
                suggestion: None,
            },
            pattern.span,
            "not a stream pattern",
        );
    }
}

/// Every placeholder of `template` must be known; the label points at the placeholder itself when
/// it can be found in the source (a value written with escapes falls back to the whole value).
pub(super) fn check_placeholders(template: &Spanned<String>, setting: &str, ctx: &mut Ctx) {
    let unknown = placeholders::unknown(&template.value);
    let span = template.span;
    let raw = ctx
        .source
        .get(span.offset..span.offset + span.length)
        .unwrap_or("")
        .to_string();
    let mut from = 0;
    for found in unknown {
        let written = &template.value[found.range.clone()];
        let at = match raw.get(from..).and_then(|rest| rest.find(written)) {
            Some(pos) => {
                from += pos + written.len();
                Span::new(span.offset + from - written.len(), written.len())
            }
            None => span,
        };
        ctx.error_at(
            DiagnosticKind::BadValue {
                setting: setting.into(),
                value: written.into(),
                allowed: BRACED.to_vec(),
                suggestion: suggest(&found.name, placeholders::NAMES).map(|s| format!("{{{s}}}")),
            },
            at,
            "unknown placeholder",
        );
    }
}

fn decode_record(node: &KdlNode, ctx: &mut Ctx) -> Option<RecordDecl> {
    let fields = gather(node, &schema::RECORD, ctx);
    let path = fields.string("path", ctx);
    if fields.missing("path") {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "record".into(),
                setting: "path".into(),
                example: "`record path=\"./recordings/{app}/{stream}/{start}.mp4\"`".into(),
            },
            name_span(node),
            "no `path`",
        );
    }
    let segment_ms = fields.one("segment").and_then(|v| {
        let ms = v.duration_ms("segment", ctx)?;
        Some(Spanned {
            value: ms,
            span: v.span,
        })
    });
    if let Some(segment) = segment_ms.as_ref().filter(|s| s.value == 0) {
        ctx.error_at(
            DiagnosticKind::OutOfRange {
                setting: "segment".into(),
                value: "0".into(),
                range: "1ms and more (leave it out for one file per publish)".into(),
            },
            segment.span,
            "zero",
        );
    }
    let path = path?;
    check_placeholders(&path, "path", ctx);
    let format = record_format(&path, ctx)?;
    Some(RecordDecl {
        span: name_span(node),
        path,
        format,
        segment_ms,
    })
}

/// The container, from the path's extension.
fn record_format(path: &Spanned<String>, ctx: &mut Ctx) -> Option<RecordFormat> {
    let file = path.value.rsplit('/').next().unwrap_or("");
    let extension = file.rsplit_once('.').map_or("", |(_, ext)| ext);
    let format = RecordFormat::from_extension(extension);
    if format.is_none() {
        ctx.error_at(
            DiagnosticKind::BadValue {
                setting: "path".into(),
                value: if extension.is_empty() {
                    path.value.clone()
                } else {
                    format!(".{extension}")
                },
                allowed: vec![".mp4", ".flv", ".ts"],
                suggestion: suggest(extension, RecordFormat::EXTENSIONS).map(|s| format!(".{s}")),
            },
            path.span,
            "the extension chooses the container",
        );
    }
    format
}

fn decode_forward(node: &KdlNode, ctx: &mut Ctx) -> Option<ForwardDecl> {
    let fields = gather(node, &schema::FORWARD, ctx);
    let url = fields.args.first().and_then(|v| v.string("forward", ctx));
    if fields.args.is_empty() {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "forward".into(),
                setting: "a URL".into(),
                example: "`forward \"rtmp://backup.example.com/live/{stream}\"`".into(),
            },
            name_span(node),
            "no URL",
        );
    }
    let url = url?;
    let lower = url.value.to_ascii_lowercase();
    let scheme_ok = ["rtmp://", "rtmps://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len());
    if !scheme_ok {
        ctx.error_at(
            DiagnosticKind::BadValue {
                setting: "forward".into(),
                value: url.value.clone(),
                allowed: vec!["rtmp://HOST/APP/STREAM", "rtmps://HOST/APP/STREAM"],
                suggestion: None,
            },
            url.span,
            "forwards speak RTMP",
        );
    }
    check_placeholders(&url, "forward", ctx);
    Some(ForwardDecl {
        url,
        ca: fields.string("ca", ctx),
    })
}

fn decode_transcode(node: &KdlNode, ctx: &mut Ctx) -> TranscodeDecl {
    let fields = gather(node, &schema::TRANSCODE, ctx);
    let mut names: Vec<Spanned<String>> = Vec::new();
    let mut renditions = Vec::new();
    for rendition in fields.blocks_named("rendition") {
        let (name, decoded) = decode_rendition(rendition, ctx);
        // A duplicate name is reported even when something else on the rendition is wrong too.
        if let Some(name) = name {
            if let Some(first) = names.iter().find(|n| n.value == name.value) {
                ctx.push(Diagnostic::duplicate_name(
                    "rendition",
                    &name.value,
                    name.span,
                    first.span,
                ));
                continue;
            }
            names.push(name);
        }
        renditions.extend(decoded);
    }
    if fields.blocks_named("rendition").next().is_none() {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "transcode".into(),
                setting: "rendition".into(),
                example: "`rendition \"360p\" size=\"640x360\" video-bitrate=\"800k\"`".into(),
            },
            name_span(node),
            "no renditions",
        );
    }
    TranscodeDecl {
        span: name_span(node),
        binary: fields.string("binary", ctx),
        renditions,
    }
}

/// The rendition's name (for the duplicate check) and the rendition when it is complete.
fn decode_rendition(node: &KdlNode, ctx: &mut Ctx) -> (Option<Spanned<String>>, Option<Rendition>) {
    let fields = gather(node, &schema::RENDITION, ctx);
    let name = name_argument(&fields, node, "rendition", ctx);
    if let Some(name) = &name {
        if !simple_name(&name.value) {
            ctx.error_at(
                DiagnosticKind::BadValue {
                    setting: "rendition".into(),
                    value: name.value.clone(),
                    allowed: vec!["letters, digits, `-`, `_` and `.` (it ends the stream name)"],
                    suggestion: None,
                },
                name.span,
                "published as STREAM_NAME",
            );
        }
    }
    let size = fields.one("size").and_then(|v| frame_size(v, ctx));
    let video = fields
        .one("video-bitrate")
        .and_then(|v| bitrate(v, "video-bitrate", ctx));
    let audio = fields
        .one("audio-bitrate")
        .and_then(|v| bitrate(v, "audio-bitrate", ctx));
    for required in ["size", "video-bitrate"] {
        if fields.missing(required) {
            ctx.error_at(
                DiagnosticKind::MissingSetting {
                    node: "rendition".into(),
                    setting: required.into(),
                    example: "`rendition \"360p\" size=\"640x360\" video-bitrate=\"800k\"`".into(),
                },
                name_span(node),
                format!("no `{required}`"),
            );
        }
    }
    let rendition = match (&name, size, video) {
        (Some(name), Some((width, height)), Some(video_bitrate)) => Some(Rendition {
            name: name.value.clone(),
            width,
            height,
            video_bitrate,
            audio_bitrate: audio,
        }),
        _ => None,
    };
    (name, rendition)
}

fn frame_size(value: Value<'_>, ctx: &mut Ctx) -> Option<(u32, u32)> {
    let text = value.string("size", ctx)?;
    let parsed = units::parse_frame_size(&text.value);
    if parsed.is_none() {
        ctx.error_at(
            DiagnosticKind::BadFrameSize { value: text.value },
            value.span,
            "not WIDTHxHEIGHT",
        );
    }
    parsed
}

fn bitrate(value: Value<'_>, setting: &str, ctx: &mut Ctx) -> Option<u64> {
    let text = match value.value {
        kdl::KdlValue::Integer(i) if *i > 0 => return u64::try_from(*i).ok(),
        _ => value.string(setting, ctx)?,
    };
    let parsed = units::parse_bitrate(&text.value);
    if parsed.is_none() {
        ctx.error_at(
            DiagnosticKind::BadBitrate {
                setting: setting.into(),
                value: text.value,
            },
            value.span,
            "not a bitrate",
        );
    }
    parsed
}

fn decode_hooks(node: &KdlNode, ctx: &mut Ctx) -> Vec<Spanned<String>> {
    let fields: Fields<'_> = gather(node, &schema::RULE_HOOKS, ctx);
    fields
        .list("on-record")
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.url("on-record", ctx))
        .collect()
}

/// Letters, digits, `-`, `_` and `.` only: a name that becomes part of a stream or role name.
pub(super) fn simple_name(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
