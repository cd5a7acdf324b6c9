//! Decode what places roles on machines: `host "NAME" address="…"`, `secret env=|file=`, and a role's
//! `host="NAME"` (or a worker's `hosts "A" "B"`, its instances spread round-robin).

use super::super::diagnostic::{Diagnostic, DiagnosticKind, Span};
use super::super::fields::{gather, name_span, Ctx, Fields, Spanned};
use super::super::plan::SecretSource;
use super::{name_argument, schema};
use kdl::KdlNode;
use std::net::IpAddr;

/// `host "media-1" address="10.0.0.2"`.
#[derive(Debug)]
pub struct HostDecl {
    pub name: Spanned<String>,
    /// `None` when the address was bad (reported): the name still resolves, so roles placed on
    /// it are not reported again.
    pub address: Option<IpAddr>,
}

/// `secret env="…"` or `secret file="…"`.
#[derive(Debug)]
pub struct SecretDecl {
    pub span: Span,
    pub source: SecretSource,
}

/// Where a role asked to run: `host="NAME"` or (workers) `hosts "A" "B"`.
#[derive(Debug, Default)]
pub struct PlacementDecl {
    pub host: Option<Spanned<String>>,
    pub hosts: Option<Vec<Spanned<String>>>,
}

impl PlacementDecl {
    /// Every host name the role mentions, for the unknown-host check.
    pub fn names(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.host.iter().chain(self.hosts.iter().flatten())
    }

    pub fn is_empty(&self) -> bool {
        self.host.is_none() && self.hosts.is_none()
    }
}

pub(super) fn decode_host(node: &KdlNode, ctx: &mut Ctx) -> Option<HostDecl> {
    let fields = gather(node, &schema::HOST, ctx);
    let name = name_argument(&fields, node, "host", ctx);
    let address = fields.string("address", ctx);
    if fields.missing("address") {
        ctx.error_at(
            DiagnosticKind::MissingSetting {
                node: "host".into(),
                setting: "address".into(),
                example: "`host \"media-1\" address=\"10.0.0.2\"`".into(),
            },
            name_span(node),
            "no `address`",
        );
    }
    let parsed = match address.as_ref().map(|a| a.value.parse::<IpAddr>()) {
        Some(Ok(ip)) if !ip.is_unspecified() => Some(ip),
        None => None,
        Some(_) => {
            let address = address?;
            ctx.error_at(
                DiagnosticKind::BadHostAddress {
                    value: address.value.clone(),
                },
                address.span,
                "not an IP address other hosts can reach",
            );
            None
        }
    };
    Some(HostDecl {
        name: name?,
        address: parsed,
    })
}

pub(super) fn decode_secret(node: &KdlNode, ctx: &mut Ctx) -> Option<SecretDecl> {
    let fields = gather(node, &schema::SECRET, ctx);
    let env = fields.string("env", ctx).filter(|e| !e.value.is_empty());
    let file = fields.string("file", ctx).filter(|f| !f.value.is_empty());
    let source = match (env, file) {
        (Some(env), None) => SecretSource::Env(env.value),
        (None, Some(file)) => SecretSource::File(file.value),
        _ => {
            ctx.error_at(
                DiagnosticKind::MissingSetting {
                    node: "secret".into(),
                    setting: "either `env` or `file`".into(),
                    example: "`secret env=\"ORYX_CLUSTER_SECRET\"`".into(),
                },
                name_span(node),
                "give one source",
            );
            return None;
        }
    };
    Some(SecretDecl {
        span: name_span(node),
        source,
    })
}

/// A role's `host=` and, where the spec has it, `hosts`; both at once is an error.
pub(super) fn decode_placement(fields: &Fields<'_>, ctx: &mut Ctx) -> PlacementDecl {
    let host = fields.string("host", ctx);
    let hosts = fields.strings("hosts", ctx).filter(|list| !list.is_empty());
    if let (Some(host), Some(hosts)) = (&host, &hosts) {
        ctx.push(
            Diagnostic::new(DiagnosticKind::ConflictingPlacement)
                .label(host.span, "one host here")
                .label(hosts[0].span, "a list of hosts here"),
        );
        // Keep `host`, so the roles are not also reported as unplaced.
        return PlacementDecl {
            host: Some(host.clone()),
            hosts: None,
        };
    }
    PlacementDecl { host, hosts }
}
