//! The http-lb role: a streaming reverse proxy for `/APP/STREAM.flv`, `.m3u8`, `-SEQ.ts` and fMP4
//! HLS's `-SEQ.m4s`, `-pN.m4s`, `-init.mp4` that sends
//! every request of a stream to the worker holding it (the same ranking as the rtmp-lb: the worker
//! that publishes the stream, else rendezvous hashing; see [`Backends::candidates`]).
//!
//! Bodies stream through untouched (a live FLV response never ends; nothing is buffered), and no
//! request is timed out here: an LL-HLS blocking reload is held by the worker, which bounds it. The client's
//! address goes to the worker in `X-Forwarded-For` and `X-Real-IP`, set by the LB alone (what a
//! client sends there is dropped). If the chosen worker cannot be reached, the next in the ranking is
//! tried; if none can, the client gets a 502 saying so. Every answer allows any origin (CORS), and an
//! `OPTIONS` preflight is answered here.

use super::backends::{Backends, Direction};
use crate::compile::plan::{Plan, WorkerPlan};
use crate::net::conn_cap::ConnectionCap;
use crate::net::http_serve::{self, Front};
use crate::net::limits;
use crate::stream_name::{self, StreamName, StreamPath, VhostRule};
use axum::body::Body;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The stream files the http-lb proxies, by extension: HTTP-FLV, HLS playlists and segments (TS,
/// and fMP4's segments, parts and init segments).
const PROXIED: [&str; 5] = ["flv", "m3u8", "ts", "m4s", "mp4"];

/// Read `/APP/STREAM.flv`, `/APP/STREAM.m3u8` or `/APP/STREAM-SEQ.ts` the way the worker reads it
/// ([`stream_name::parse_path`]); any other path is `None`.
pub fn parse_stream_path(path: &str) -> Option<StreamPath<'_>> {
    stream_name::parse_path(path).filter(|p| PROXIED.contains(&p.file.ext))
}

struct Proxy {
    backends: Backends,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Largest WHIP/WHEP request body the LB passes on (an SDP offer is a few KiB).
const MAX_SIGNALING_BODY: usize = 64 * 1024;

/// Upstream reads are at most this big: a live FLV body passes through in chunks of it, so a player
/// costs the LB two small buffers instead of hyper's growing ones.
const UPSTREAM_READ_BUF: usize = 16 * 1024;

pub fn run(plan: Plan) -> anyhow::Result<()> {
    super::lb_start::run(plan, "http-lb", |lb| serve(lb.listener, lb.backends))
}

/// Accept and proxy connections on `listener` until SIGTERM/SIGINT, then stop accepting and let
/// in-flight requests finish (bounded: a live FLV response never ends on its own).
///
/// Each client connection holds a second descriptor for its upstream, so the connection cap counts
/// two per connection. A client that stops reading is dropped after the worker's write deadline,
/// which also ends the upstream request and frees the player on the worker.
pub async fn serve(listener: tokio::net::TcpListener, backends: Backends) -> anyhow::Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .http1_read_buf_exact_size(UPSTREAM_READ_BUF)
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    let proxy = Arc::new(Proxy { backends, client });
    let label = match listener.local_addr() {
        Ok(addr) => format!("http-lb {addr}"),
        Err(_) => "http-lb".to_string(),
    };
    let front = Front {
        role: "http-lb",
        cap: ConnectionCap::new(label, limits::current_connection_cap(2)),
        write_timeout: crate::net::write_deadline::WRITE_TIMEOUT,
        cors: true,
    };
    let handler: http_serve::Handler = Arc::new(move |request, peer| {
        let proxy = proxy.clone();
        Box::pin(async move { proxy.handle(request, peer).await })
    });
    http_serve::serve(listener, front, handler, crate::net::shutdown::requested()).await;
    Ok(())
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl Proxy {
    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let path = request.uri().path().to_string();
        // A CORS preflight for any path: the page learns it may ask, then asks and gets its answer
        // (a 404 included, which carries the CORS header too).
        if request.method() == Method::OPTIONS {
            return http_serve::preflight(&request);
        }
        if let Some(page) = super::console::play_page(request.method(), &path) {
            return page;
        }
        let query = request.uri().query();
        let signaling = stream_name::parse_webrtc(&path, query);
        let key = match (&signaling, parse_stream_path(&path)) {
            // WHEP and WHIP (offers, DELETE, PATCH) go where the stream is, like its files.
            (Some(target), _) => {
                StreamName::from_http(VhostRule::ExplicitOnly, "", &target.stream_path(), query)
                    .key()
            }
            (None, Some(target)) => {
                StreamName::from_http(VhostRule::ExplicitOnly, "", &target, query).key()
            }
            (None, None) => {
                return text(
                    StatusCode::NOT_FOUND,
                    format!(
                        "not found: {path} (the http-lb serves /APP/STREAM.flv, .m3u8, -SEQ.ts, fMP4 HLS files, /whep and /whip)\n"
                    ),
                )
            }
        };
        let allowed = match signaling {
            Some(_) => [Method::POST, Method::DELETE, Method::PATCH].contains(request.method()),
            None => request.method() == Method::GET || request.method() == Method::HEAD,
        };
        if !allowed {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed here\n", request.method()),
            );
            let allow = if signaling.is_some() {
                "POST, DELETE, PATCH, OPTIONS"
            } else {
                "GET, HEAD, OPTIONS"
            };
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            return response;
        }
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_SIGNALING_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is over {MAX_SIGNALING_BODY} bytes\n"),
                )
            }
        };
        let request = Request::from_parts(parts, body);
        // WHIP publishes (to the origins); `.flv` plays (on the edges, spread); HLS files and
        // WHEP signaling (whose PATCH and DELETE must find the session its offer made) come from
        // one edge per stream.
        let direction = match &signaling {
            Some(target) if target.action == stream_name::WebRtcAction::Whip => Direction::Publish,
            Some(_) => Direction::Fetch,
            None if path.ends_with(".flv") => Direction::Play,
            None => Direction::Fetch,
        };
        let candidates = self.backends.candidates_for(&key, direction);
        if candidates.is_empty() {
            return text(
                StatusCode::BAD_GATEWAY,
                format!("no worker serves {key}: this http-lb has no workers\n"),
            );
        }
        let mut failures = Vec::new();
        for worker in &candidates {
            // A player counts on its worker from the choice on, not from the answer's head: an
            // edge answers a cold stream's first players only once its pull starts, and a burst
            // routed meanwhile must spread as `edge-share` says (as the rtmp-lb does).
            if direction == Direction::Play && request.method() != Method::DELETE {
                self.backends.note_player(&worker.name, &key);
            }
            match self.forward(&request, peer, worker).await {
                Ok(response) => {
                    metrics::counter!("oryx_http_lb_requests_total", "worker" => worker.name.clone())
                        .increment(1);
                    let (mut parts, body) = response.into_parts();
                    for name in HOP_BY_HOP_ANSWER {
                        parts.headers.remove(name);
                    }
                    return Response::from_parts(parts, Body::new(body));
                }
                Err(err) => {
                    tracing::warn!(worker = %worker.name, %key, "cannot reach worker: {err}");
                    self.backends.mark_down(&worker.name);
                    failures.push(format!("{} ({})", worker.name, worker.http));
                }
            }
        }
        metrics::counter!("oryx_http_lb_unavailable_total").increment(1);
        text(
            StatusCode::BAD_GATEWAY,
            format!(
                "no worker serves {key}: every worker is unreachable: {}\n",
                failures.join(", ")
            ),
        )
    }

    /// Send `request` to `worker`; only a failure to reach it at all is an error (worker answers,
    /// 404 included, go back to the client).
    async fn forward(
        &self,
        request: &Request<Bytes>,
        peer: SocketAddr,
        worker: &WorkerPlan,
    ) -> Result<Response<Incoming>, Box<dyn std::error::Error + Send + Sync>> {
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        // In a pod, the worker's Service DNS name, resolved at each request.
        let target = crate::net::pod::dial_addr(worker.http).await?;
        let uri = format!("http://{target}{path_and_query}");
        let mut outgoing = Request::new(Full::new(request.body().clone()));
        *outgoing.method_mut() = request.method().clone();
        *outgoing.uri_mut() = uri.parse().unwrap_or_default();
        let headers = outgoing.headers_mut();
        for (name, value) in request.headers() {
            if !is_hop_by_hop(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        // The client's address is the peer's, whatever the client claims: a client's own
        // X-Forwarded-For would otherwise reach the worker's hooks and API as the client's address.
        set_client_address(headers, peer);
        Ok(self.client.request(outgoing).await?)
    }
}

/// Hop-by-hop headers of a worker's answer that hyper sets again for the client's connection.
const HOP_BY_HOP_ANSWER: [&str; 3] = ["connection", "keep-alive", "transfer-encoding"];

/// `X-Forwarded-For` and `X-Real-IP` set to `peer` alone, replacing anything the client sent.
pub fn set_client_address(headers: &mut http::HeaderMap, peer: SocketAddr) {
    let client_ip = HeaderValue::from_str(&peer.ip().to_string()).expect("an IP is a header value");
    headers.remove("x-forwarded-for");
    headers.remove("x-real-ip");
    headers.remove(header::FORWARDED);
    headers.insert("x-forwarded-for", client_ip.clone());
    headers.insert("x-real-ip", client_ip);
    // Worker pods cannot know this LB's address: they believe the address by this credential.
    let credential = crate::net::forwarded::sign_now(&peer.ip().to_string());
    headers.insert(
        crate::net::forwarded::HEADER,
        HeaderValue::from_str(&credential).expect("digits, a dot and hex"),
    );
}

fn is_hop_by_hop(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "content-length"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_stream_url_shapes() {
        let want = |app: &str, stream: &str| Some((app.to_string(), stream.to_string()));
        let parse_stream_path =
            |path| parse_stream_path(path).map(|p| (p.app.to_string(), p.file.stream.to_string()));
        assert_eq!(parse_stream_path("/live/foo.flv"), want("live", "foo"));
        assert_eq!(parse_stream_path("/live/foo.m3u8"), want("live", "foo"));
        assert_eq!(parse_stream_path("/live/foo-12.ts"), want("live", "foo"));
        assert_eq!(parse_stream_path("/live/cam-1-7.ts"), want("live", "cam-1"));
        // An app of more than one segment, as the worker serves it.
        assert_eq!(parse_stream_path("/a/b/c.flv"), want("a/b", "c"));
    }

    #[test]
    fn the_client_address_replaces_whatever_the_client_claimed() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.append("x-forwarded-for", HeaderValue::from_static("6.6.6.5"));
        headers.insert("x-real-ip", HeaderValue::from_static("6.6.6.7"));
        headers.insert(header::FORWARDED, HeaderValue::from_static("for=6.6.6.8"));
        set_client_address(&mut headers, "203.0.113.9:4000".parse().unwrap());
        let all = |name: &str| -> Vec<&str> {
            headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect()
        };
        assert_eq!(all("x-forwarded-for"), ["203.0.113.9"]);
        assert_eq!(all("x-real-ip"), ["203.0.113.9"]);
        assert!(headers.get(header::FORWARDED).is_none());
    }

    #[test]
    fn rejects_other_paths() {
        for path in [
            "/",
            "/live",
            "/live/",
            "/live/foo",
            "/live/.flv",
            "/live/foo.ts",
            "/live/foo-x.ts",
            "//foo.flv",
            "/live/foo.mp4",
        ] {
            assert_eq!(parse_stream_path(path), None, "{path}");
        }
    }
}
