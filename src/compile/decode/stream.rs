//! Decode the stream settings (`defaults`, or a `worker`'s own): the one-line settings and the
//! `http-flv`, `hls` and `hooks` blocks.

use super::super::diagnostic::{suggest, Diagnostic, DiagnosticKind, Span};
use super::super::fields::{gather, name_span, Ctx, Fields};
use super::super::plan::{HlsSegmentFormat, HookOnError};
use super::schema;
use kdl::KdlNode;

/// Stream settings as written: `None` = inherit.
#[derive(Debug, Default, Clone)]
pub struct StreamOverrides {
    pub gop_cache: Option<bool>,
    pub chunk_size: Option<u32>,
    pub merge_write_ms: Option<u64>,
    pub merge_read_ms: Option<u64>,
    pub play_wait_ms: Option<u64>,
    pub player_queue_bytes: Option<u64>,
    pub max_connections: Option<u32>,
    pub http_flv_enabled: Option<bool>,
    pub http_flv_wait_ms: Option<u64>,
    pub hls_enabled: Option<bool>,
    pub hls_fragment_ms: Option<u64>,
    pub hls_window: Option<u32>,
    pub hls_path: Option<String>,
    pub hls_segment_format: Option<HlsSegmentFormat>,
    pub hls_low_latency: Option<bool>,
    pub hls_part_ms: Option<u64>,
    pub on_publish: Option<Vec<String>>,
    pub on_unpublish: Option<Vec<String>>,
    pub on_play: Option<Vec<String>>,
    pub on_stop: Option<Vec<String>>,
    pub hooks_timeout_ms: Option<u64>,
    /// Where the settings some worker kinds cannot honour were written, by the name the docs give
    /// them (`player-queue`, `http-flv wait`, `hooks timeout`), for `oryx::ignored-on-kind`.
    pub spans: Vec<(&'static str, Span)>,
    pub hooks_on_error: Option<HookOnError>,
    pub hooks_ca: Option<String>,
}

pub(super) fn decode_stream(fields: &Fields<'_>, ctx: &mut Ctx) -> StreamOverrides {
    let mut stream = StreamOverrides {
        gop_cache: fields.bool("gop-cache", ctx),
        chunk_size: fields
            .int("chunk-size", 128, 65536, ctx)
            .and_then(|v| u32::try_from(v).ok()),
        merge_write_ms: fields.duration_ms("merge-write", ctx),
        merge_read_ms: fields.duration_ms("merge-read", ctx),
        play_wait_ms: fields.duration_ms("play-wait", ctx),
        player_queue_bytes: fields.size_bytes("player-queue", ctx),
        max_connections: fields
            .int("max-connections", 0, i128::from(u32::MAX), ctx)
            .and_then(|v| u32::try_from(v).ok()),
        ..StreamOverrides::default()
    };
    if stream.player_queue_bytes.is_some() {
        stream.spans.extend(
            fields
                .setting_span("player-queue")
                .map(|span| ("player-queue", span)),
        );
    }
    stream.http_flv_enabled = fields.bool("http-flv", ctx);
    stream.hls_enabled = fields.bool("hls", ctx);
    for flag in ["http-flv", "hls"] {
        if let (Some(property), Some(block)) =
            (fields.setting_span(flag), fields.blocks_named(flag).next())
        {
            ctx.push(
                Diagnostic::new(DiagnosticKind::DuplicateSetting {
                    setting: flag.into(),
                })
                .label(name_span(block), "given again here")
                .label(property, "first given here"),
            );
        }
    }
    if let Some(node) = fields.single_block("http-flv", ctx) {
        decode_http_flv(node, &mut stream, ctx);
    }
    if let Some(node) = fields.single_block("hls", ctx) {
        decode_hls(node, &mut stream, ctx);
    }
    if let Some(node) = fields.single_block("hooks", ctx) {
        decode_hooks(node, &mut stream, ctx);
    }
    stream
}

/// `http-flv [#true|#false] { wait … }`.
fn decode_http_flv(node: &KdlNode, stream: &mut StreamOverrides, ctx: &mut Ctx) {
    let flv = gather(node, &schema::HTTP_FLV, ctx);
    stream.http_flv_enabled = Some(
        flv.args
            .first()
            .and_then(|v| v.bool("http-flv", ctx))
            .unwrap_or(true),
    );
    stream.http_flv_wait_ms = flv.duration_ms("wait", ctx);
    if stream.http_flv_wait_ms.is_some() {
        stream
            .spans
            .extend(flv.setting_span("wait").map(|span| ("http-flv wait", span)));
    }
}

/// `hls [#true|#false] { fragment … window … path … }`.
fn decode_hls(node: &KdlNode, stream: &mut StreamOverrides, ctx: &mut Ctx) {
    let hls = gather(node, &schema::HLS, ctx);
    stream.hls_enabled = Some(
        hls.args
            .first()
            .and_then(|v| v.bool("hls", ctx))
            .unwrap_or(true),
    );
    stream.hls_fragment_ms = hls.duration_ms("fragment", ctx);
    stream.hls_window = hls
        .int("window", 1, 1000, ctx)
        .and_then(|v| u32::try_from(v).ok());
    stream.hls_path = hls.string("path", ctx).map(|s| s.value);
    stream.hls_segment_format = hls
        .string("segment-format", ctx)
        .map(|v| match v.value.as_str() {
            "auto" => HlsSegmentFormat::Auto,
            "ts" => HlsSegmentFormat::Ts,
            "fmp4" => HlsSegmentFormat::Fmp4,
            _ => {
                ctx.error_at(
                    DiagnosticKind::BadValue {
                        setting: "segment-format".into(),
                        value: v.value.clone(),
                        allowed: HlsSegmentFormat::NAMES.to_vec(),
                        suggestion: suggest(&v.value, HlsSegmentFormat::NAMES),
                    },
                    v.span,
                    "unknown segment format",
                );
                HlsSegmentFormat::Auto
            }
        });
    stream.hls_low_latency = hls.bool("low-latency", ctx);
    stream.hls_part_ms = hls.duration_ms("part", ctx);
    if stream.hls_low_latency == Some(true)
        && stream.hls_segment_format == Some(HlsSegmentFormat::Ts)
    {
        if let Some(v) = hls.string("segment-format", ctx) {
            ctx.error_at(
                DiagnosticKind::BadValue {
                    setting: "segment-format".into(),
                    value: v.value.clone(),
                    allowed: vec!["auto", "fmp4"],
                    suggestion: Some("fmp4".into()),
                },
                v.span,
                "LL-HLS parts are fMP4 fragments",
            );
        }
    }
}

/// `hooks { on-publish … timeout … on-error … ca … }`.
fn decode_hooks(node: &KdlNode, stream: &mut StreamOverrides, ctx: &mut Ctx) {
    let hooks = gather(node, &schema::HOOKS, ctx);
    let urls = |name: &str, ctx: &mut Ctx| {
        hooks.list(name).map(|values| {
            values
                .iter()
                .filter_map(|v| v.url(name, ctx).map(|s| s.value))
                .collect::<Vec<_>>()
        })
    };
    stream.on_publish = urls("on-publish", ctx);
    stream.on_unpublish = urls("on-unpublish", ctx);
    stream.on_play = urls("on-play", ctx);
    stream.on_stop = urls("on-stop", ctx);
    stream.hooks_timeout_ms = hooks.duration_ms("timeout", ctx);
    if stream.hooks_timeout_ms.is_some() {
        stream.spans.extend(
            hooks
                .setting_span("timeout")
                .map(|span| ("hooks timeout", span)),
        );
    }
    stream.hooks_on_error = hooks
        .string("on-error", ctx)
        .map(|v| match v.value.as_str() {
            "deny" => HookOnError::Deny,
            "allow" => HookOnError::Allow,
            _ => {
                ctx.error_at(
                    DiagnosticKind::BadValue {
                        setting: "on-error".into(),
                        value: v.value.clone(),
                        allowed: HookOnError::NAMES.to_vec(),
                        suggestion: suggest(&v.value, HookOnError::NAMES),
                    },
                    v.span,
                    "unknown decision",
                );
                HookOnError::Deny
            }
        });
    stream.hooks_ca = hooks.string("ca", ctx).map(|s| s.value);
}
