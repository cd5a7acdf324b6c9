//! Decode the load balancers (`rtmp-lb`, `http-lb`, `api-lb`, `srt-lb`), the rtmp-lb's `tls` block
//! (RTMPS) and the api-lb's `auth` block.

use super::super::diagnostic::{DiagnosticKind, Span};
use super::super::fields::{gather, name_span, Ctx, Spanned};
use super::super::plan::{ApiAuth, ApiAuthScheme};
use super::schema;
use super::tls::{decode_tls, TlsDecl};
use kdl::KdlNode;
use std::net::SocketAddr;

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
    /// rtmp-lb only: the RTMPS listener.
    pub tls: Option<TlsDecl>,
    /// `host="NAME"`: where the LB runs.
    pub host: Option<Spanned<String>>,
    /// srt-lb only: the SRT options the workers' listeners get.
    pub srt: Option<super::srt::SrtOptions>,
}

pub(super) fn decode_lb(node: &KdlNode, ctx: &mut Ctx) -> LbDecl {
    let role: &'static str = match node.name().value() {
        "rtmp-lb" => "rtmp-lb",
        "http-lb" => "http-lb",
        "srt-lb" => "srt-lb",
        _ => "api-lb",
    };
    let spec = match role {
        "rtmp-lb" => &schema::RTMP_LB,
        "http-lb" => &schema::HTTP_LB,
        "srt-lb" => &schema::SRT_LB,
        _ => &schema::API_LB,
    };
    let fields = gather(node, spec, ctx);
    let listen = fields.address("listen", ctx);
    if fields.missing("listen") {
        let example = match role {
            "rtmp-lb" => "`rtmp-lb listen=\"0.0.0.0:1935\"`",
            "http-lb" => "`http-lb listen=\"0.0.0.0:8080\"`",
            "srt-lb" => "`srt-lb listen=\"0.0.0.0:10080\"`",
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
        host: fields.string("host", ctx),
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
        tls: fields
            .single_block("tls", ctx)
            .map(|tls| decode_tls(tls, ctx)),
        srt: (role == "srt-lb").then(|| super::srt::decode_options(&fields, ctx)),
    }
}

/// `auth token-env="ORYX_API_TOKEN"` (bearer) or `auth user="ops" password-env="ORYX_API_PASSWORD"`
/// (basic), optionally `reads=#true`. Only the names of environment variables are in the topology and
/// the plan: the secret itself is read by the api-lb when it starts.
fn decode_api_auth(node: &KdlNode, ctx: &mut Ctx) -> Option<ApiAuth> {
    let fields = gather(node, &schema::AUTH, ctx);
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
