//! Decode the SRT settings a worker's `srt` block and the `srt-lb` node share: `latency`
//! (default 120 ms, SRT's), `passphrase-env` (the name of the environment variable holding the
//! passphrase: the passphrase itself never enters the topology or the plan) and `pbkeylen`
//! (16, 24 or 32 bytes of AES key). A worker's block also takes `listen` (UDP).

use super::super::diagnostic::{DiagnosticKind, Span};
use super::super::fields::{gather, name_span, Ctx, Fields, Spanned};
use super::schema;
use kdl::KdlNode;
use std::net::SocketAddr;

/// SRT's default receiver latency.
pub const DEFAULT_LATENCY_MS: u32 = 120;
/// AES-128, SRT's default.
pub const DEFAULT_PBKEYLEN: u8 = 16;
/// The largest latency accepted (SRT itself takes more, but a minute of buffering is a mistake).
const MAX_LATENCY_MS: u64 = 60_000;

/// The SRT options as written.
#[derive(Debug, Clone, Default)]
pub struct SrtOptions {
    pub latency_ms: Option<u32>,
    pub passphrase_env: Option<Spanned<String>>,
    pub pbkeylen: Option<u8>,
}

/// A worker's `srt` block.
#[derive(Debug, Clone)]
pub struct SrtDecl {
    pub span: Span,
    pub listen: Option<Spanned<SocketAddr>>,
    pub options: SrtOptions,
}

pub(super) fn decode_worker_srt(node: &KdlNode, ctx: &mut Ctx) -> SrtDecl {
    let fields = gather(node, &schema::SRT, ctx);
    let listen = fields.address("listen", ctx);
    if fields.missing("listen") {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "srt".into(),
                setting: "listen".into(),
                example: "`srt listen=\"0.0.0.0:10080\"`".into(),
            },
            name_span(node),
            "no `listen`",
        );
    }
    SrtDecl {
        span: name_span(node),
        listen,
        options: decode_options(&fields, ctx),
    }
}

pub(super) fn decode_options(fields: &Fields<'_>, ctx: &mut Ctx) -> SrtOptions {
    let latency_ms = fields.duration_ms("latency", ctx).and_then(|ms| {
        if ms > MAX_LATENCY_MS {
            let span = fields.setting_span("latency").unwrap_or(Span::new(0, 0));
            ctx.error_at(
                DiagnosticKind::OutOfRange {
                    setting: "latency".into(),
                    value: format!("{ms}ms"),
                    range: "0ms..=60s".into(),
                },
                span,
                "out of range",
            );
            return None;
        }
        u32::try_from(ms).ok()
    });
    let passphrase_env = fields.string("passphrase-env", ctx).filter(|name| {
        let valid = !name.value.is_empty()
            && !name.value.starts_with(|c: char| c.is_ascii_digit())
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            ctx.error_at(
                DiagnosticKind::BadValue {
                    setting: "passphrase-env".into(),
                    value: name.value.clone(),
                    allowed: vec!["an environment variable name like SRT_PASSPHRASE"],
                    suggestion: None,
                },
                name.span,
                "not an environment variable name",
            );
        }
        valid
    });
    let pbkeylen = fields.one("pbkeylen").and_then(|value| {
        let key = value.int("pbkeylen", 0, 255, ctx)?;
        if matches!(key, 16 | 24 | 32) {
            return u8::try_from(key).ok();
        }
        ctx.error_at(
            DiagnosticKind::BadValue {
                setting: "pbkeylen".into(),
                value: key.to_string(),
                allowed: vec!["16", "24", "32"],
                suggestion: None,
            },
            value.span,
            "AES key length in bytes",
        );
        None
    });
    SrtOptions {
        latency_ms,
        passphrase_env,
        pbkeylen,
    }
}
