//! Reverse-proxy routes: the longest matching prefix forwards the request to its `http://` or
//! `https://` upstream, bodies streamed both ways without buffering (HTTP-FLV keeps flowing), with
//! `X-Forwarded-*` headers.

use crate::compile::plan::ProxyRoute;
use crate::net::https_client::{self, error_chain, Connector};
use axum::body::Body;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;

/// Headers that describe one hop, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_read(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

/// One route, its upstream parsed once at start.
struct Route {
    prefix: String,
    strip_prefix: bool,
    /// Shown in errors.
    to: String,
    scheme: Scheme,
    authority: Authority,
    /// Upstream base path without its trailing slash (`""` for `http://host:port/`).
    base_path: String,
    /// Methods other than GET/HEAD/OPTIONS are forwarded (off for the api-lb unless told).
    writes: bool,
    /// Each route has its own pool: its TLS trust (`ca`) is its own.
    client: Client<Connector, Incoming>,
}

pub struct Proxy {
    /// Longest prefix first, so the first match wins.
    routes: Vec<Route>,
}

impl Proxy {
    pub fn new(routes: &[ProxyRoute]) -> anyhow::Result<Proxy> {
        let mut parsed = Vec::new();
        for route in routes {
            if !route.prefix.starts_with('/') {
                anyhow::bail!("proxy {:?}: the prefix must start with '/'", route.prefix);
            }
            // The same parser `oryx check` uses, so what the check accepts starts here.
            let uri = crate::compile::units::parse_http_url(&route.to).map_err(|why| {
                anyhow::anyhow!(
                    "proxy {:?}: bad upstream URL {:?}: {why}",
                    route.prefix,
                    route.to
                )
            })?;
            let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
            let authority = uri.authority().cloned().ok_or_else(|| {
                anyhow::anyhow!(
                    "proxy {:?}: upstream {:?} has no host",
                    route.prefix,
                    route.to
                )
            })?;
            let tls = https_client::client_config(route.ca.as_deref())
                .map_err(|err| anyhow::anyhow!("proxy {:?}: {err:#}", route.prefix))?;
            let client = Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(Connector::new(Some(tls), Duration::from_secs(5)));
            parsed.push(Route {
                prefix: route.prefix.clone(),
                strip_prefix: route.strip_prefix,
                to: route.to.clone(),
                scheme,
                authority,
                base_path: uri.path().trim_end_matches('/').to_string(),
                writes: route.writes,
                client,
            });
        }
        parsed.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(Proxy { routes: parsed })
    }

    /// Whether some route takes this path.
    pub fn matches(&self, path: &str) -> bool {
        self.route_for(path).is_some()
    }

    fn route_for(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| path.starts_with(&r.prefix))
    }

    /// Forward `req` to the route's upstream. `https` says how the client reached us.
    pub async fn forward(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        https: bool,
    ) -> Response<Body> {
        let path = req.uri().path().to_string();
        let Some(route) = self.route_for(&path) else {
            return super::files::text(StatusCode::NOT_FOUND, "not found\n");
        };
        if !route.writes && !is_read(req.method()) {
            // A public site in front of the api-lb must not expose client kicks to the internet.
            let mut refused = super::files::text(
                StatusCode::METHOD_NOT_ALLOWED,
                "this proxy forwards reads only (GET, HEAD, OPTIONS); see `writes=#true`\n",
            );
            refused.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            return refused;
        }
        let Some(uri) = upstream_uri(route, &path, req.uri().query()) else {
            return super::files::text(StatusCode::BAD_REQUEST, "bad request path\n");
        };
        // The client's host: Host for HTTP/1.1, the URI authority for HTTP/2.
        let original_host = req.headers().get(header::HOST).cloned().or_else(|| {
            req.uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        if let Ok(host) = HeaderValue::from_str(route.authority.as_str()) {
            headers.insert(header::HOST, host);
        }
        set_forwarded(headers, peer, https, original_host);
        match route.client.request(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Body::new(body))
            }
            Err(err) => {
                // Query values and passwords of the upstream URL (a key, say) are masked: the body
                // goes to any client.
                let upstream = crate::compile::render::redact_url(&route.to);
                let err = error_chain(&err);
                tracing::warn!(%upstream, %err, "proxy upstream failed");
                super::files::text(
                    StatusCode::BAD_GATEWAY,
                    &format!(
                        "502 bad gateway: upstream {upstream} for {} is unreachable ({err})\n",
                        route.prefix
                    ),
                )
            }
        }
    }
}

/// The upstream URI of a request for `path` (and `query`) on `route`.
fn upstream_uri(route: &Route, path: &str, query: Option<&str>) -> Option<Uri> {
    let rest = if route.strip_prefix {
        let rest = &path[route.prefix.len()..];
        if rest.starts_with('/') {
            rest.to_string()
        } else {
            format!("/{rest}")
        }
    } else {
        path.to_string()
    };
    let mut target = format!("{}{}", route.base_path, rest);
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    let path_and_query: PathAndQuery = target.parse().ok()?;
    Uri::builder()
        .scheme(route.scheme.clone())
        .authority(route.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .ok()
}

/// `X-Forwarded-For` (the peer appended), `-Proto` and `-Host` for the upstream.
fn set_forwarded(
    headers: &mut http::HeaderMap,
    peer: SocketAddr,
    https: bool,
    original_host: Option<HeaderValue>,
) {
    let client_ip = peer.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {client_ip}"),
        None => client_ip,
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if https { "https" } else { "http" }),
    );
    if let Some(host) = original_host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
}

/// Remove hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP.iter().map(|s| s.to_string()).chain(named) {
        headers.remove(name.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, to: &str) -> ProxyRoute {
        ProxyRoute {
            prefix: prefix.into(),
            to: to.into(),
            strip_prefix: false,
            writes: true,
            ca: None,
        }
    }

    #[test]
    fn https_upstreams_are_accepted() {
        let proxy = Proxy::new(&[route("/a/", "https://example.com/base/")]).unwrap();
        assert_eq!(proxy.routes[0].scheme, Scheme::HTTPS);
        assert_eq!(proxy.routes[0].base_path, "/base");
        let mut with_missing_ca = route("/b/", "https://example.com");
        with_missing_ca.ca = Some("/nonexistent/ca.pem".into());
        let err = Proxy::new(&[with_missing_ca])
            .err()
            .expect("a missing CA file is refused");
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.pem"),
            "{err:#}"
        );
    }

    #[test]
    fn longest_prefix_wins() {
        let proxy = Proxy::new(&[
            route("/api/", "http://127.0.0.1:1"),
            route("/api/v2/", "http://127.0.0.1:2"),
        ])
        .unwrap();
        assert_eq!(
            proxy.route_for("/api/v2/x").unwrap().to,
            "http://127.0.0.1:2"
        );
        assert_eq!(proxy.route_for("/api/x").unwrap().to, "http://127.0.0.1:1");
        assert!(proxy.route_for("/other").is_none());
    }

    #[test]
    fn bad_upstreams_are_refused_at_start() {
        assert!(Proxy::new(&[route("/a/", "ftp://example.com")]).is_err());
        assert!(Proxy::new(&[route("/a/", "http://example.com:0")]).is_err());
        assert!(Proxy::new(&[route("/a/", "not a url")]).is_err());
        assert!(Proxy::new(&[route("a/", "http://127.0.0.1:1")]).is_err());
    }

    #[test]
    fn connection_named_headers_are_stripped() {
        let mut headers = http::HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("close, x-secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert!(headers.get("x-secret").is_none());
        assert!(headers.get("connection").is_none());
        assert!(headers.get("x-kept").is_some());
    }
}
