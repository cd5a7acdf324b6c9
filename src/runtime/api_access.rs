//! Who may call the api-lb: the credential API writes need, and the CORS policy browsers get.
//!
//! The api-lb is the one public door to actions such as kicking a client (`DELETE
//! /api/v1/clients/ID`), so a write needs the credential configured with `api-lb { auth … }`, and with
//! none configured every write is refused: an operator who never thought about it gets a read-only
//! API, not an open one. Reads stay open unless `auth reads=#true`, like SRS's default API. CORS
//! follows SRS (any origin by default) and is applied outside every other layer, so refusals and
//! errors carry the headers too and a browser page shows the real reason instead of a CORS failure.

use crate::compile::plan::{ApiAuth, ApiAuthScheme, LbPlan};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// The credential a request must present, read from the environment once at start.
#[derive(Clone)]
pub struct Access {
    inner: Arc<Inner>,
}

struct Inner {
    /// The whole expected `Authorization` header value; `None`: no auth configured.
    expected: Option<String>,
    /// `Bearer` or `Basic`, for `WWW-Authenticate`.
    scheme: &'static str,
    reads: bool,
}

impl Access {
    /// The policy of `lb`; an environment variable the topology names but the process lacks is an
    /// error, so a misconfigured API fails at start rather than refusing everyone later.
    pub fn from_plan(lb: &LbPlan) -> anyhow::Result<Access> {
        Access::from_auth(lb.auth.as_ref(), |name| std::env::var(name).ok())
    }

    fn from_auth(
        auth: Option<&ApiAuth>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Access> {
        let read = |name: &str| -> anyhow::Result<String> {
            match env(name) {
                Some(value) if !value.is_empty() => Ok(value),
                _ => anyhow::bail!(
                    "api-lb auth: the environment variable {name} is not set (or empty); \
                     set it before `oryx up`"
                ),
            }
        };
        let (expected, scheme, reads) = match auth {
            None => (None, "Bearer", false),
            Some(auth) => match &auth.scheme {
                ApiAuthScheme::Bearer { token_env } => (
                    Some(format!("Bearer {}", read(token_env)?)),
                    "Bearer",
                    auth.reads,
                ),
                ApiAuthScheme::Basic { user, password_env } => {
                    let pair = format!("{user}:{}", read(password_env)?);
                    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                    (Some(format!("Basic {encoded}")), "Basic", auth.reads)
                }
            },
        };
        Ok(Access {
            inner: Arc::new(Inner {
                expected,
                scheme,
                reads,
            }),
        })
    }

    /// Why `request` may not go on, or `None` when it may.
    fn refusal(&self, request: &Request) -> Option<Response> {
        let method = request.method();
        let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !write && !self.inner.reads {
            return None;
        }
        let Some(expected) = &self.inner.expected else {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                403,
                "API writes are disabled: configure a credential with `api-lb { auth token-env=\"…\" }`",
                None,
            ));
        };
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        // Constant time, so the answer's timing says nothing about how much of a guess was right.
        if bool::from(given.ct_eq(expected.as_bytes())) {
            return None;
        }
        let challenge = format!("{} realm=\"oryx api\"", self.inner.scheme);
        Some(refuse(
            StatusCode::UNAUTHORIZED,
            401,
            "this API call needs the credential configured in `api-lb { auth … }`",
            Some(challenge),
        ))
    }
}

/// An SRS-shaped JSON refusal.
fn refuse(status: StatusCode, code: u16, why: &str, challenge: Option<String>) -> Response {
    let body = json!({ "code": code, "error": why });
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

async fn check(State(access): State<Access>, request: Request, next: Next) -> Response<Body> {
    match access.refusal(&request) {
        Some(refusal) => {
            tracing::warn!(
                method = %request.method(),
                // Debug formatting escapes control characters: a path cannot forge log lines.
                path = ?request.uri().path(),
                "API call refused: {}",
                refusal.status()
            );
            refusal
        }
        None => next.run(request).await,
    }
}

/// `router` behind the credential check, with CORS for `origins` (`None`: any) around both.
pub fn guard(router: Router, access: Access, origins: Option<&[String]>) -> Router {
    router
        .layer(axum::middleware::from_fn_with_state(access, check))
        .layer(cors(origins))
}

/// CORS as SRS answers it: any origin unless the topology lists some; the methods the API has; the
/// headers a browser asks for (so `Authorization` works from a console page).
pub fn cors(origins: Option<&[String]>) -> CorsLayer {
    let allow_origin = match origins {
        None => AllowOrigin::any(),
        Some(list) if list.iter().any(|o| o == "*") => AllowOrigin::any(),
        Some(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        ),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(std::time::Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, auth: Option<&str>) -> Request {
        let mut builder = Request::builder().method(method).uri("/api/v1/clients/1");
        if let Some(auth) = auth {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "PASS" => Some("pw".into()),
            _ => None,
        }
    }

    #[test]
    fn without_auth_reads_pass_and_writes_are_refused() {
        let access = Access::from_auth(None, env).unwrap();
        assert!(access.refusal(&request(Method::GET, None)).is_none());
        assert!(access.refusal(&request(Method::OPTIONS, None)).is_none());
        let refused = access.refusal(&request(Method::DELETE, None)).unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn bearer_and_basic_credentials_are_checked_exactly() {
        let bearer = ApiAuth {
            scheme: ApiAuthScheme::Bearer {
                token_env: "TOKEN".into(),
            },
            reads: false,
        };
        let access = Access::from_auth(Some(&bearer), env).unwrap();
        assert!(access
            .refusal(&request(Method::DELETE, Some("Bearer s3cret")))
            .is_none());
        for wrong in [
            None,
            Some("Bearer s3cre"),
            Some("Bearer s3cretX"),
            Some("s3cret"),
        ] {
            let refused = access.refusal(&request(Method::DELETE, wrong)).unwrap();
            assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                refused.headers()[header::WWW_AUTHENTICATE],
                "Bearer realm=\"oryx api\""
            );
        }
        let basic = ApiAuth {
            scheme: ApiAuthScheme::Basic {
                user: "ops".into(),
                password_env: "PASS".into(),
            },
            reads: true,
        };
        let access = Access::from_auth(Some(&basic), env).unwrap();
        // base64("ops:pw") = "b3BzOnB3"
        assert!(access
            .refusal(&request(Method::GET, Some("Basic b3BzOnB3")))
            .is_none());
        assert!(access.refusal(&request(Method::GET, None)).is_some());
    }

    #[test]
    fn a_missing_secret_fails_at_start_naming_the_variable() {
        let auth = ApiAuth {
            scheme: ApiAuthScheme::Bearer {
                token_env: "NOPE".into(),
            },
            reads: false,
        };
        let err = Access::from_auth(Some(&auth), env).err().unwrap();
        assert!(err.to_string().contains("NOPE"), "{err}");
    }
}
