//! Decode a `tls` block, the same for a static site's HTTPS and the rtmp-lb's RTMPS: its listener
//! and one certificate source (`acme { … }`, `cert "…" key="…"` by SNI, or `self-signed "name"`).

use super::super::diagnostic::{suggest, DiagnosticKind, Span};
use super::super::fields::{gather, name_span, Ctx, Spanned};
use super::super::plan::{AcmeChallenge, CertPair};
use super::schema;
use kdl::KdlNode;
use std::net::SocketAddr;

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

pub(super) fn decode_tls(node: &KdlNode, ctx: &mut Ctx) -> TlsDecl {
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
