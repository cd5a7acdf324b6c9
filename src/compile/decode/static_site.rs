//! Decode a `static` site: root and listener, its `tls` block (`tls.rs`) and its `proxy` routes.

use super::super::diagnostic::DiagnosticKind;
use super::super::fields::{gather, name_span, Ctx, Spanned};
use super::tls::{decode_tls, TlsDecl};
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
