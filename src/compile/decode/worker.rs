//! Decode a `worker` node: its kind, count and binary, then its stream settings.

use super::super::diagnostic::{suggest, DiagnosticKind};
use super::super::fields::{gather, Ctx, Fields, Spanned};
use super::super::plan::WorkerKind;
use super::host::{decode_placement, PlacementDecl};
use super::stream::{decode_stream, StreamOverrides};
use super::{name_argument, schema};
use kdl::KdlNode;

#[derive(Debug)]
pub struct WorkerDecl {
    pub name: Spanned<String>,
    pub kind: WorkerKind,
    pub count: Option<u32>,
    pub binary: Option<Spanned<String>>,
    pub stream: StreamOverrides,
    /// `webrtc { udp listen=…; candidate …; }`.
    pub webrtc: Option<WebRtcDecl>,
    /// `host=` or `hosts …`: where the instances run.
    pub placement: PlacementDecl,
    /// `origin="GROUP"`: an edge of that group.
    pub origin: Option<Spanned<String>>,
    /// `edge-share=N` (edges only): players of one stream per edge before it spreads to the next.
    pub edge_share: Option<u32>,
    /// `srt listen=… { … }`: an SRT listener of the worker's own.
    pub srt: Option<super::srt::SrtDecl>,
}

/// A worker's `webrtc` block.
#[derive(Debug)]
pub struct WebRtcDecl {
    /// `udp listen`; `None`: the worker's HTTP port number, on every address.
    pub udp: Option<Spanned<std::net::SocketAddr>>,
    pub candidates: Vec<Spanned<String>>,
    /// The block's name, for diagnostics.
    pub span: super::super::diagnostic::Span,
}

fn decode_webrtc(node: &KdlNode, ctx: &mut Ctx) -> WebRtcDecl {
    let fields = gather(node, &schema::WEBRTC, ctx);
    let udp = fields.single_block("udp", ctx).and_then(|udp| {
        let fields = gather(udp, &schema::WEBRTC_UDP, ctx);
        fields.address("listen", ctx)
    });
    let candidates = fields.strings("candidate", ctx).unwrap_or_default();
    WebRtcDecl {
        udp,
        candidates,
        span: super::super::fields::name_span(node),
    }
}

pub(super) fn decode_worker(node: &KdlNode, ctx: &mut Ctx) -> Option<WorkerDecl> {
    let fields = gather(node, &schema::WORKER, ctx);
    let name = name_argument(&fields, node, "worker", ctx);
    let kind = match fields.string("kind", ctx) {
        None => WorkerKind::Embedded,
        Some(kind) => match kind.value.as_str() {
            "embedded" => WorkerKind::Embedded,
            "srs" => WorkerKind::Srs,
            "nginx-rtmp" => WorkerKind::NginxRtmp,
            other => {
                ctx.error_at(
                    DiagnosticKind::BadValue {
                        setting: "kind".into(),
                        value: other.into(),
                        allowed: schema::WORKER_KINDS.to_vec(),
                        suggestion: suggest(other, schema::WORKER_KINDS),
                    },
                    kind.span,
                    "unknown worker kind",
                );
                WorkerKind::Embedded
            }
        },
    };
    let count = fields
        .int("count", 1, 1000, ctx)
        .and_then(|v| u32::try_from(v).ok());
    let binary = fields.string("binary", ctx);
    if let (Some(binary), WorkerKind::Embedded) = (&binary, kind) {
        ctx.error_at(
            DiagnosticKind::BinaryOnEmbedded,
            binary.span,
            "embedded workers run oryx itself",
        );
    }
    let stream = decode_stream(&fields, ctx);
    let srt = fields
        .single_block("srt", ctx)
        .map(|node| super::srt::decode_worker_srt(node, ctx));
    if let (Some(srt), WorkerKind::NginxRtmp) = (&srt, kind) {
        ctx.error_at(
            DiagnosticKind::UnsupportedOnKind {
                what: "srt".into(),
                kind: kind.as_str(),
                help: "nginx-rtmp has no SRT server: use an embedded or srs worker".into(),
            },
            srt.span,
            "SRT listener on an nginx-rtmp worker",
        );
    }
    let webrtc = fields
        .single_block("webrtc", ctx)
        .map(|node| decode_webrtc(node, ctx));
    let placement = decode_placement(&fields, ctx);
    let origin = fields.string("origin", ctx);
    let group = name.as_ref().map(|n| n.value.as_str()).unwrap_or_default();
    let edge_share = decode_edge_share(&fields, group, origin.is_some(), ctx);
    Some(WorkerDecl {
        srt,
        webrtc,
        placement,
        origin,
        edge_share,
        name: name?,
        kind,
        count,
        binary,
        stream,
    })
}

/// `edge-share=N`: a positive player count, on an edge group (one with `origin=`) only.
fn decode_edge_share(fields: &Fields<'_>, group: &str, edge: bool, ctx: &mut Ctx) -> Option<u32> {
    let value = fields.one("edge-share")?;
    let share = value
        .int("edge-share", 1, i128::from(u32::MAX), ctx)
        .and_then(|v| u32::try_from(v).ok())?;
    if !edge {
        ctx.error_at(
            DiagnosticKind::EdgeShareWithoutOrigin {
                group: group.to_string(),
            },
            value.span,
            "this group has no `origin`",
        );
        return None;
    }
    Some(share)
}
