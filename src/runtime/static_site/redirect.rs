//! The plain listener's two special answers: ACME HTTP-01 key authorizations under
//! `/.well-known/acme-challenge/`, and the permanent redirect of everything else to HTTPS.

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use rustls_acme::ResolvesServerCertAcme;

pub const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// The key authorization for an HTTP-01 token, or 404 when no such challenge is pending.
pub fn http01_answer(resolver: &ResolvesServerCertAcme, path: &str) -> Option<Response<Body>> {
    let token = path.strip_prefix(ACME_CHALLENGE_PREFIX)?;
    Some(match resolver.get_http_01_key_auth(token) {
        Some(key_auth) => {
            tracing::info!("answering an ACME HTTP-01 validation");
            let mut resp = Response::new(Body::from(key_auth));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            resp
        }
        None => super::files::text(StatusCode::NOT_FOUND, "no such ACME challenge\n"),
    })
}

/// `308` to the same path and query on `https://HOST[:tls_port]`.
pub fn to_https<B>(req: &Request<B>, tls_port: u16) -> Response<Body> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()));
    let Some(host) = host else {
        return super::files::text(
            StatusCode::BAD_REQUEST,
            "a Host header is needed to redirect to HTTPS\n",
        );
    };
    let hostname = strip_port(&host);
    let authority = if tls_port == 443 {
        hostname.to_string()
    } else {
        format!("{hostname}:{tls_port}")
    };
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let location = format!("https://{authority}{path_and_query}");
    let Ok(location) = HeaderValue::from_str(&location) else {
        return super::files::text(StatusCode::BAD_REQUEST, "bad Host header\n");
    };
    let mut resp = super::files::text(StatusCode::PERMANENT_REDIRECT, "moved to HTTPS\n");
    resp.headers_mut().insert(header::LOCATION, location);
    resp
}

/// `example.com:80` → `example.com`, `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: &str, uri: &str, port: u16) -> String {
        let req = Request::builder()
            .uri(uri)
            .header("host", host)
            .body(())
            .unwrap();
        let resp = to_https(&req, port);
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
        resp.headers()["location"].to_str().unwrap().to_string()
    }

    #[test]
    fn redirects_keep_path_and_query_and_name_the_tls_port() {
        assert_eq!(
            location("example.com", "/a/b?c=1", 443),
            "https://example.com/a/b?c=1"
        );
        assert_eq!(
            location("example.com:8080", "/", 8443),
            "https://example.com:8443/"
        );
        assert_eq!(location("[::1]:80", "/x", 8443), "https://[::1]:8443/x");
    }
}
