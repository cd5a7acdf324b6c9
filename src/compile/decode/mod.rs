//! Decode: a spanned KDL document becomes a typed [`Topology`], with every unknown name, wrong type
//! and bad value reported.
//!
//! The nodes and their settings are declared once in [`schema`]; one file decodes each kind of node
//! (`stream` settings, `worker`, `lb`, `static_site`, `rule` for `stream "PATTERN"`, `ingest`), this
//! one the top level.

mod host;
mod ingest;
mod lb;
mod rule;
pub mod schema;
mod srt;
mod static_site;
mod stream;
mod tls;
mod worker;

pub use host::{HostDecl, PlacementDecl, SecretDecl};
pub use ingest::IngestDecl;
pub use lb::LbDecl;
pub use rule::{ForwardDecl, RecordDecl, RuleDecl, TranscodeDecl};
pub use srt::{SrtDecl, SrtOptions, DEFAULT_LATENCY_MS, DEFAULT_PBKEYLEN};
pub use static_site::{ProxyDecl, StaticDecl};
pub use stream::StreamOverrides;
pub use tls::{AcmeDecl, TlsDecl};
pub use worker::{WebRtcDecl, WorkerDecl};

use super::diagnostic::{suggest, Diagnostic, DiagnosticKind, Span};
use super::fields::{gather, name_span, Ctx, Fields, Spanned};
use kdl::{KdlDocument, KdlNode};

/// The typed topology, before defaults, expansion and cross-checks.
#[derive(Debug, Default)]
pub struct Topology {
    pub version: Option<Spanned<i128>>,
    pub ports: Option<PortsDecl>,
    pub defaults: StreamOverrides,
    pub workers: Vec<WorkerDecl>,
    pub rtmp_lb: Option<LbDecl>,
    pub http_lb: Option<LbDecl>,
    pub api_lb: Option<LbDecl>,
    /// `srt-lb listen="…"`: routes SRT callers to the workers' SRT listeners.
    pub srt_lb: Option<LbDecl>,
    pub statics: Vec<StaticDecl>,
    /// `stream "PATTERN" { … }` rules, in file order.
    pub rules: Vec<RuleDecl>,
    /// `ingest "APP/STREAM" from="…"` roles, in file order.
    pub ingests: Vec<IngestDecl>,
    /// `host "NAME" address="…"` nodes, in file order (duplicates are reported by expand).
    pub hosts: Vec<HostDecl>,
    pub secret: Option<SecretDecl>,
}

/// `ports from= to=` as written (an empty range is reported by expand).
#[derive(Debug)]
pub struct PortsDecl {
    pub from: u16,
    pub to: u16,
    pub span: Span,
}

/// Decode the (overlaid) document. `env` nodes are skipped: the overlay step already applied them.
pub fn decode(doc: &KdlDocument, ctx: &mut Ctx) -> Topology {
    let mut topology = Topology::default();
    let mut defaults_seen: Option<Span> = None;
    let mut ports_seen: Option<Span> = None;
    let mut secret_seen: Option<Span> = None;
    for (index, node) in doc.nodes().iter().enumerate() {
        let name = node.name().value();
        match name {
            "oryx" => decode_version(node, index, &mut topology, ctx),
            "ports" => {
                if duplicate_node(node, &mut ports_seen, ctx) {
                    continue;
                }
                topology.ports = decode_ports(node, ctx);
            }
            "defaults" => {
                if duplicate_node(node, &mut defaults_seen, ctx) {
                    continue;
                }
                let fields = gather(node, &schema::DEFAULTS, ctx);
                topology.defaults = stream::decode_stream(&fields, ctx);
            }
            "worker" => {
                if let Some(worker) = worker::decode_worker(node, ctx) {
                    topology.workers.push(worker);
                }
            }
            "rtmp-lb" | "http-lb" | "api-lb" | "srt-lb" => {
                let lb = lb::decode_lb(node, ctx);
                let slot = match name {
                    "rtmp-lb" => &mut topology.rtmp_lb,
                    "http-lb" => &mut topology.http_lb,
                    "srt-lb" => &mut topology.srt_lb,
                    _ => &mut topology.api_lb,
                };
                match slot {
                    Some(first) => ctx.push(
                        Diagnostic::new(DiagnosticKind::DuplicateNode { node: name.into() })
                            .label(lb.span, "given again here")
                            .label(first.span, "first given here"),
                    ),
                    None => *slot = Some(lb),
                }
            }
            "static" => {
                if let Some(site) = static_site::decode_static(node, ctx) {
                    topology.statics.push(site);
                }
            }
            "stream" => {
                if let Some(rule) = rule::decode_rule(node, ctx) {
                    topology.rules.push(rule);
                }
            }
            "ingest" => {
                if let Some(ingest) = ingest::decode_ingest(node, ctx) {
                    topology.ingests.push(ingest);
                }
            }
            "host" => {
                if let Some(host) = host::decode_host(node, ctx) {
                    topology.hosts.push(host);
                }
            }
            "secret" => {
                if duplicate_node(node, &mut secret_seen, ctx) {
                    continue;
                }
                topology.secret = host::decode_secret(node, ctx);
            }
            "env" => {}
            other => ctx.error_at(
                DiagnosticKind::UnknownNode {
                    name: other.into(),
                    parent: "the topology".into(),
                    suggestion: suggest(other, schema::TOP_LEVEL),
                    expected: schema::TOP_LEVEL.to_vec(),
                },
                name_span(node),
                "unknown node",
            ),
        }
    }
    if topology.version.is_none() && !ctx.diagnostics.iter().any(is_version_problem) {
        let first = doc
            .nodes()
            .first()
            .map(name_span)
            .unwrap_or(Span::new(0, 0));
        ctx.error_at(
            DiagnosticKind::MissingVersion,
            first,
            "expected `oryx 1` before this",
        );
    }
    topology
}

fn is_version_problem(d: &Diagnostic) -> bool {
    matches!(
        d.kind,
        DiagnosticKind::UnsupportedVersion { .. } | DiagnosticKind::VersionNotFirst
    )
}

/// Report a second occurrence of a once-only node; true when `node` is that second one.
fn duplicate_node(node: &KdlNode, seen: &mut Option<Span>, ctx: &mut Ctx) -> bool {
    let span = name_span(node);
    match seen {
        Some(first) => {
            ctx.push(
                Diagnostic::new(DiagnosticKind::DuplicateNode {
                    node: node.name().value().into(),
                })
                .label(span, "given again here")
                .label(*first, "first given here"),
            );
            true
        }
        None => {
            *seen = Some(span);
            false
        }
    }
}

fn decode_version(node: &KdlNode, index: usize, topology: &mut Topology, ctx: &mut Ctx) {
    let fields = gather(node, &schema::ORYX, ctx);
    if let Some(previous) = &topology.version {
        ctx.push(
            Diagnostic::new(DiagnosticKind::DuplicateNode {
                node: "oryx".into(),
            })
            .label(name_span(node), "given again here")
            .label(previous.span, "first given here"),
        );
        return;
    }
    let Some(arg) = fields.args.first() else {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "oryx".into(),
                setting: "the schema version".into(),
                example: "`oryx 1`".into(),
            },
            name_span(node),
            "no version",
        );
        return;
    };
    if index != 0 {
        ctx.error_at(
            DiagnosticKind::VersionNotFirst,
            name_span(node),
            "not the first node",
        );
    }
    match arg.value.as_integer() {
        Some(1) => {
            topology.version = Some(Spanned {
                value: 1,
                span: arg.span,
            })
        }
        _ => ctx.error_at(
            DiagnosticKind::UnsupportedVersion {
                found: arg.value.to_string(),
            },
            arg.span,
            "unknown schema version",
        ),
    }
}

fn decode_ports(node: &KdlNode, ctx: &mut Ctx) -> Option<PortsDecl> {
    let fields = gather(node, &schema::PORTS, ctx);
    let from = fields.int("from", 1, 65535, ctx);
    let to = fields.int("to", 1, 65535, ctx);
    for (value, name) in [(from, "from"), (to, "to")] {
        if value.is_none() && fields.missing(name) {
            ctx.error_at(
                DiagnosticKind::MissingSetting {
                    node: "ports".into(),
                    setting: name.into(),
                    example: "`ports from=19350 to=19999`".into(),
                },
                name_span(node),
                format!("no `{name}`"),
            );
        }
    }
    Some(PortsDecl {
        from: u16::try_from(from?).ok()?,
        to: u16::try_from(to?).ok()?,
        span: name_span(node),
    })
}

/// The required string name argument of a named node (`worker "live"`).
pub(super) fn name_argument(
    fields: &Fields<'_>,
    node: &KdlNode,
    what: &str,
    ctx: &mut Ctx,
) -> Option<Spanned<String>> {
    match fields.args.first() {
        Some(arg) => {
            let name = arg.string(what, ctx)?;
            if name.value.is_empty() {
                ctx.error_at(
                    DiagnosticKind::MissingSetting {
                        node: what.into(),
                        setting: "a non-empty name".into(),
                        example: format!("`{what} \"live\"`"),
                    },
                    arg.span,
                    "empty name",
                );
                return None;
            }
            Some(name)
        }
        None => {
            ctx.error_at(
                DiagnosticKind::MissingSetting {
                    node: what.into(),
                    setting: "a name".into(),
                    example: format!("`{what} \"NAME\"`"),
                },
                name_span(node),
                "no name",
            );
            None
        }
    }
}
