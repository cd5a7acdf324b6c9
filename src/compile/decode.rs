//! Decode: the schema. A spanned KDL document becomes a typed [`Topology`], with every unknown name,
//! wrong type and bad value reported.

use super::diagnostic::{suggest, Diagnostic, DiagnosticKind, Span};
use super::fields::{gather, name_span, Ctx, Fields, Shape, Spanned, Spec};
use super::plan::{AcmeChallenge, ApiAuth, ApiAuthScheme, CertPair, HookOnError, WorkerKind};
use kdl::{KdlDocument, KdlNode};
use std::net::SocketAddr;

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
    pub statics: Vec<StaticDecl>,
}

#[derive(Debug)]
pub struct PortsDecl {
    pub from: u16,
    pub to: u16,
    pub span: Span,
}

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

#[derive(Debug)]
pub struct WorkerDecl {
    pub name: Spanned<String>,
    pub kind: WorkerKind,
    pub count: Option<u32>,
    pub binary: Option<Spanned<String>>,
    pub stream: StreamOverrides,
}

#[derive(Debug)]
pub struct LbDecl {
    pub role: &'static str,
    pub span: Span,
    pub listen: Option<Spanned<SocketAddr>>,
    pub workers: Option<Vec<Spanned<String>>>,
    /// api-lb only: the credential API writes need.
    pub auth: Option<ApiAuth>,
    /// api-lb only: origins CORS allows (`None`: any).
    pub cors_origins: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct StaticDecl {
    pub name: Spanned<String>,
    pub root: Option<Spanned<String>>,
    pub listen: Option<Spanned<SocketAddr>>,
    pub tls: Option<TlsDecl>,
    pub redirect_https: Option<Spanned<bool>>,
    pub directory_listing: bool,
    pub proxies: Vec<ProxyDecl>,
}

#[derive(Debug)]
pub struct TlsDecl {
    pub span: Span,
    pub listen: Option<Spanned<SocketAddr>>,
    pub acme: Option<AcmeDecl>,
    pub certs: Vec<CertPair>,
    pub self_signed: Option<Vec<String>>,
    /// Spans of each certificate source given, for the conflict label.
    pub source_spans: Vec<Span>,
}

#[derive(Debug)]
pub struct AcmeDecl {
    pub span: Span,
    pub domains: Vec<String>,
    pub contacts: Vec<String>,
    pub directory: Option<String>,
    pub staging: bool,
    pub directory_ca: Option<String>,
    pub challenge: AcmeChallenge,
    pub cache: Option<String>,
}

#[derive(Debug)]
pub struct ProxyDecl {
    pub prefix: String,
    pub to: Spanned<String>,
    pub strip_prefix: bool,
    /// `writes=#true|#false` as given; the default depends on the target (reads only to the api-lb).
    pub writes: Option<bool>,
    pub ca: Option<Spanned<String>>,
}

const TOP_LEVEL: &[&str] = &[
    "oryx", "ports", "defaults", "worker", "rtmp-lb", "http-lb", "api-lb", "static", "env",
];

const STREAM_SETTINGS: &[(&str, Shape)] = &[
    ("gop-cache", Shape::One),
    ("chunk-size", Shape::One),
    ("merge-write", Shape::One),
    ("merge-read", Shape::One),
    ("play-wait", Shape::One),
    ("player-queue", Shape::One),
    ("max-connections", Shape::One),
    ("http-flv", Shape::One),
    ("hls", Shape::One),
];
const STREAM_BLOCKS: &[&str] = &["http-flv", "hls", "hooks"];

const WORKER_SETTINGS: &[(&str, Shape)] = &[
    ("kind", Shape::One),
    ("count", Shape::One),
    ("binary", Shape::One),
    ("gop-cache", Shape::One),
    ("chunk-size", Shape::One),
    ("merge-write", Shape::One),
    ("merge-read", Shape::One),
    ("play-wait", Shape::One),
    ("player-queue", Shape::One),
    ("max-connections", Shape::One),
    ("http-flv", Shape::One),
    ("hls", Shape::One),
];

const WORKER_KINDS: &[&str] = &["embedded", "srs", "nginx-rtmp"];
const CHALLENGES: &[&str] = &["tls-alpn-01", "http-01"];

/// Decode the (overlaid) document. `env` nodes are skipped: the overlay step already applied them.
pub fn decode(doc: &KdlDocument, ctx: &mut Ctx) -> Topology {
    let mut topology = Topology::default();
    let mut defaults_seen: Option<Span> = None;
    let mut ports_seen: Option<Span> = None;
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
                let spec = Spec {
                    node: "defaults",
                    max_args: 0,
                    settings: STREAM_SETTINGS,
                    blocks: STREAM_BLOCKS,
                };
                let fields = gather(node, &spec, ctx);
                topology.defaults = decode_stream(&fields, ctx);
            }
            "worker" => {
                if let Some(worker) = decode_worker(node, ctx) {
                    topology.workers.push(worker);
                }
            }
            "rtmp-lb" | "http-lb" | "api-lb" => {
                let lb = decode_lb(node, ctx);
                let slot = match name {
                    "rtmp-lb" => &mut topology.rtmp_lb,
                    "http-lb" => &mut topology.http_lb,
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
                if let Some(site) = decode_static(node, ctx) {
                    topology.statics.push(site);
                }
            }
            "env" => {}
            other => ctx.error_at(
                DiagnosticKind::UnknownNode {
                    name: other.into(),
                    parent: "the topology".into(),
                    suggestion: suggest(other, TOP_LEVEL),
                    expected: TOP_LEVEL.to_vec(),
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
    let spec = Spec {
        node: "oryx",
        max_args: 1,
        settings: &[],
        blocks: &[],
    };
    let fields = gather(node, &spec, ctx);
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
    let spec = Spec {
        node: "ports",
        max_args: 0,
        settings: &[("from", Shape::One), ("to", Shape::One)],
        blocks: &[],
    };
    let fields = gather(node, &spec, ctx);
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

fn decode_stream(fields: &Fields<'_>, ctx: &mut Ctx) -> StreamOverrides {
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
        let spec = Spec {
            node: "http-flv",
            max_args: 1,
            settings: &[("wait", Shape::One)],
            blocks: &[],
        };
        let flv = gather(node, &spec, ctx);
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
    if let Some(node) = fields.single_block("hls", ctx) {
        let spec = Spec {
            node: "hls",
            max_args: 1,
            settings: &[
                ("fragment", Shape::One),
                ("window", Shape::One),
                ("path", Shape::One),
            ],
            blocks: &[],
        };
        let hls = gather(node, &spec, ctx);
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
    }
    if let Some(node) = fields.single_block("hooks", ctx) {
        let spec = Spec {
            node: "hooks",
            max_args: 0,
            settings: &[
                ("on-publish", Shape::List),
                ("on-unpublish", Shape::List),
                ("on-play", Shape::List),
                ("on-stop", Shape::List),
                ("timeout", Shape::One),
                ("on-error", Shape::One),
                ("ca", Shape::One),
            ],
            blocks: &[],
        };
        let hooks = gather(node, &spec, ctx);
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
    stream
}

/// The required string name argument of a named node (`worker "live"`).
fn name_argument(
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

fn decode_worker(node: &KdlNode, ctx: &mut Ctx) -> Option<WorkerDecl> {
    let spec = Spec {
        node: "worker",
        max_args: 1,
        settings: WORKER_SETTINGS,
        blocks: STREAM_BLOCKS,
    };
    let fields = gather(node, &spec, ctx);
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
                        allowed: WORKER_KINDS.to_vec(),
                        suggestion: suggest(other, WORKER_KINDS),
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
    Some(WorkerDecl {
        name: name?,
        kind,
        count,
        binary,
        stream,
    })
}

fn decode_lb(node: &KdlNode, ctx: &mut Ctx) -> LbDecl {
    let role: &'static str = match node.name().value() {
        "rtmp-lb" => "rtmp-lb",
        "http-lb" => "http-lb",
        _ => "api-lb",
    };
    let spec = if role == "api-lb" {
        Spec {
            node: role,
            max_args: 0,
            settings: &[
                ("listen", Shape::One),
                ("workers", Shape::List),
                ("cors-origins", Shape::List),
            ],
            blocks: &["auth"],
        }
    } else {
        Spec {
            node: role,
            max_args: 0,
            settings: &[("listen", Shape::One), ("workers", Shape::List)],
            blocks: &[],
        }
    };
    let fields = gather(node, &spec, ctx);
    let listen = fields.address("listen", ctx);
    if fields.missing("listen") {
        let example = match role {
            "rtmp-lb" => "`rtmp-lb listen=\"0.0.0.0:1935\"`",
            "http-lb" => "`http-lb listen=\"0.0.0.0:8080\"`",
            _ => "`api-lb listen=\"127.0.0.1:1985\"`",
        };
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: role.into(),
                setting: "listen".into(),
                example: example.into(),
            },
            name_span(node),
            "no `listen`",
        );
    }
    LbDecl {
        role,
        span: name_span(node),
        listen,
        workers: fields.strings("workers", ctx),
        auth: fields
            .single_block("auth", ctx)
            .and_then(|auth| decode_api_auth(auth, ctx)),
        cors_origins: fields
            .strings("cors-origins", ctx)
            .map(|list| list.into_iter().map(|o| o.value).collect()),
    }
}

/// `auth token-env="ORYX_API_TOKEN"` (bearer) or `auth user="ops" password-env="ORYX_API_PASSWORD"`
/// (basic), optionally `reads=#true`. Only the names of environment variables are in the topology and
/// the plan: the secret itself is read by the api-lb when it starts.
fn decode_api_auth(node: &KdlNode, ctx: &mut Ctx) -> Option<ApiAuth> {
    let spec = Spec {
        node: "auth",
        max_args: 0,
        settings: &[
            ("token-env", Shape::One),
            ("user", Shape::One),
            ("password-env", Shape::One),
            ("reads", Shape::One),
        ],
        blocks: &[],
    };
    let fields = gather(node, &spec, ctx);
    let token_env = fields.string("token-env", ctx);
    let user = fields.string("user", ctx);
    let password_env = fields.string("password-env", ctx);
    let reads = fields.bool("reads", ctx).unwrap_or(false);
    let scheme = match (token_env, user, password_env) {
        (Some(token), None, None) => ApiAuthScheme::Bearer {
            token_env: token.value,
        },
        (None, Some(user), Some(password)) => ApiAuthScheme::Basic {
            user: user.value,
            password_env: password.value,
        },
        _ => {
            ctx.error_at(
                DiagnosticKind::MissingSetting {
                    node: "auth".into(),
                    setting: "either `token-env` or both `user` and `password-env`".into(),
                    example: "`auth token-env=\"ORYX_API_TOKEN\"`".into(),
                },
                name_span(node),
                "give one kind of credential",
            );
            return None;
        }
    };
    Some(ApiAuth { scheme, reads })
}

fn decode_static(node: &KdlNode, ctx: &mut Ctx) -> Option<StaticDecl> {
    let spec = Spec {
        node: "static",
        max_args: 1,
        settings: &[
            ("root", Shape::One),
            ("listen", Shape::One),
            ("redirect-https", Shape::One),
            ("directory-listing", Shape::One),
        ],
        blocks: &["tls", "proxy"],
    };
    let fields = gather(node, &spec, ctx);
    let name = name_argument(&fields, node, "static", ctx);
    let root = fields.string("root", ctx);
    if fields.missing("root") {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "static".into(),
                setting: "root".into(),
                example: "`root \"./html\"`".into(),
            },
            name_span(node),
            "no `root`",
        );
    }
    let listen = fields.address("listen", ctx);
    let redirect_https = fields.one("redirect-https").and_then(|v| {
        v.bool("redirect-https", ctx).map(|b| Spanned {
            value: b,
            span: v.span,
        })
    });
    let directory_listing = fields.bool("directory-listing", ctx).unwrap_or(false);
    let tls = fields
        .single_block("tls", ctx)
        .map(|tls| decode_tls(tls, ctx));
    let proxies = fields
        .blocks_named("proxy")
        .filter_map(|p| decode_proxy(p, ctx))
        .collect();
    Some(StaticDecl {
        name: name?,
        root,
        listen,
        tls,
        redirect_https,
        directory_listing,
        proxies,
    })
}

fn decode_tls(node: &KdlNode, ctx: &mut Ctx) -> TlsDecl {
    let spec = Spec {
        node: "tls",
        max_args: 0,
        settings: &[("listen", Shape::One)],
        blocks: &["acme", "cert", "self-signed"],
    };
    let fields = gather(node, &spec, ctx);
    let listen = fields.address("listen", ctx);
    if fields.missing("listen") {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "tls".into(),
                setting: "listen".into(),
                example: "`tls listen=\"0.0.0.0:443\" { … }`".into(),
            },
            name_span(node),
            "no `listen`",
        );
    }
    let acme = fields
        .single_block("acme", ctx)
        .map(|acme| decode_acme(acme, ctx));
    let mut certs = Vec::new();
    for cert in fields.blocks_named("cert") {
        let spec = Spec {
            node: "cert",
            max_args: 1,
            settings: &[("key", Shape::One)],
            blocks: &[],
        };
        let cert_fields = gather(cert, &spec, ctx);
        let path = cert_fields.args.first().and_then(|v| v.string("cert", ctx));
        let key = cert_fields.string("key", ctx);
        if path.is_none() || key.is_none() {
            if cert_fields.args.is_empty() || cert_fields.missing("key") {
                ctx.error_at(
                    DiagnosticKind::MissingSetting {
                        node: "cert".into(),
                        setting: "a certificate file and `key`".into(),
                        example: "`cert \"site.pem\" key=\"site.key\"`".into(),
                    },
                    name_span(cert),
                    "incomplete",
                );
            }
            continue;
        }
        if let (Some(cert), Some(key)) = (path, key) {
            certs.push(CertPair {
                cert: cert.value,
                key: key.value,
            });
        }
    }
    let self_signed = fields.single_block("self-signed", ctx).map(|node| {
        let spec = Spec {
            node: "self-signed",
            max_args: 64,
            settings: &[],
            blocks: &[],
        };
        let names = gather(node, &spec, ctx);
        names
            .args
            .iter()
            .filter_map(|v| v.string("self-signed", ctx).map(|s| s.value))
            .collect()
    });
    let source_spans = fields
        .blocks
        .iter()
        .filter(|b| matches!(b.name().value(), "acme" | "cert" | "self-signed"))
        .map(|b| name_span(b))
        .collect();
    TlsDecl {
        span: name_span(node),
        listen,
        acme,
        certs,
        self_signed,
        source_spans,
    }
}

fn decode_acme(node: &KdlNode, ctx: &mut Ctx) -> AcmeDecl {
    let spec = Spec {
        node: "acme",
        max_args: 0,
        settings: &[
            ("domain", Shape::List),
            ("contact", Shape::List),
            ("directory", Shape::One),
            ("staging", Shape::One),
            ("directory-ca", Shape::One),
            ("challenge", Shape::One),
            ("cache", Shape::One),
        ],
        blocks: &[],
    };
    let fields = gather(node, &spec, ctx);
    let strings = |name: &str, ctx: &mut Ctx| -> Vec<String> {
        fields
            .strings(name, ctx)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.value)
            .collect()
    };
    let domains = strings("domain", ctx);
    let contacts = strings("contact", ctx);
    let directory = fields
        .one("directory")
        .and_then(|v| v.url("directory", ctx))
        .map(|s| s.value);
    let challenge = match fields.string("challenge", ctx) {
        None => AcmeChallenge::TlsAlpn01,
        Some(c) => match c.value.as_str() {
            "tls-alpn-01" => AcmeChallenge::TlsAlpn01,
            "http-01" => AcmeChallenge::Http01,
            other => {
                ctx.error_at(
                    DiagnosticKind::BadValue {
                        setting: "challenge".into(),
                        value: other.into(),
                        allowed: CHALLENGES.to_vec(),
                        suggestion: suggest(other, CHALLENGES),
                    },
                    c.span,
                    "unknown challenge",
                );
                AcmeChallenge::TlsAlpn01
            }
        },
    };
    AcmeDecl {
        span: name_span(node),
        domains,
        contacts,
        directory,
        staging: fields.bool("staging", ctx).unwrap_or(false),
        directory_ca: fields.string("directory-ca", ctx).map(|s| s.value),
        challenge,
        cache: fields.string("cache", ctx).map(|s| s.value),
    }
}

fn decode_proxy(node: &KdlNode, ctx: &mut Ctx) -> Option<ProxyDecl> {
    let spec = Spec {
        node: "proxy",
        max_args: 1,
        settings: &[
            ("to", Shape::One),
            ("strip-prefix", Shape::One),
            ("writes", Shape::One),
            ("ca", Shape::One),
        ],
        blocks: &[],
    };
    let fields = gather(node, &spec, ctx);
    let prefix = fields.args.first().and_then(|v| v.string("proxy", ctx));
    let to = fields.string("to", ctx);
    if fields.args.is_empty() || fields.missing("to") {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "proxy".into(),
                setting: "a path prefix and `to`".into(),
                example: "`proxy \"/api/\" to=\"api-lb\"`".into(),
            },
            name_span(node),
            "incomplete",
        );
    }
    Some(ProxyDecl {
        prefix: prefix?.value,
        to: to?,
        strip_prefix: fields.bool("strip-prefix", ctx).unwrap_or(false),
        writes: fields.bool("writes", ctx),
        ca: fields.string("ca", ctx),
    })
}
