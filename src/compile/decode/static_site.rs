//! Decode a `static` site: root and listener, its `tls` block (ACME, certificate files or
//! self-signed) and its `proxy` routes.

use super::super::diagnostic::{suggest, DiagnosticKind, Span};
use super::super::fields::{gather, name_span, Ctx, Spanned};
use super::super::plan::{AcmeChallenge, CertPair};
use super::{name_argument, schema};
use kdl::KdlNode;
use std::net::SocketAddr;

#[derive(Debug)]
pub struct StaticDecl {
    pub name: Spanned<String>,
    pub root: Option<Spanned<String>>,
    pub listen: Option<Spanned<SocketAddr>>,
    pub tls: Option<TlsDecl>,
    pub redirect_https: Option<Spanned<bool>>,
    pub directory_listing: bool,
    pub proxies: Vec<ProxyDecl>,
    /// `host="NAME"`: where the site runs.
    pub host: Option<Spanned<String>>,
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

pub(super) fn decode_static(node: &KdlNode, ctx: &mut Ctx) -> Option<StaticDecl> {
    let fields = gather(node, &schema::STATIC, ctx);
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
        host: fields.string("host", ctx),
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
    let fields = gather(node, &schema::TLS, ctx);
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
        let cert_fields = gather(cert, &schema::CERT, ctx);
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
        let names = gather(node, &schema::SELF_SIGNED, ctx);
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
    let fields = gather(node, &schema::ACME, ctx);
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
                        allowed: schema::CHALLENGES.to_vec(),
                        suggestion: suggest(other, schema::CHALLENGES),
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
    let fields = gather(node, &schema::PROXY, ctx);
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
