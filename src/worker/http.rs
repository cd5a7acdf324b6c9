//! The worker's HTTP router: `GET /APP/STREAM.flv` (HTTP-FLV), plus other stream files by extension.
//!
//! Stream files all live under one catch-all route, dispatched by extension, so HLS (`.m3u8`, `.ts`)
//! plugs in with [`HttpFiles::register`] while fixed routes (`/api/v1/*`) are merged into the router
//! as usual (axum prefers static routes to the catch-all).
//!
//! [`serve`] runs it behind the front every public HTTP port shares (`net::http_serve`): each
//! connection's address, a write deadline (a player that stops reading is disconnected like a
//! stalled RTMP player), a header-read timeout, a connection cap, and CORS on every answer.

use super::context::WorkerContext;
use crate::net::conn_cap::ConnectionCap;
use crate::net::http_serve::{self, Front};
use crate::net::limits;
use crate::net::write_deadline::PeerAddr;
use crate::stream_name::{self, StreamName, VhostRule};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use futures_util::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// A request for a stream file, already resolved to its stream.
pub struct FileRequest {
    /// The stream (for a segment, `STREAM-SEQ.ts`, the stream without `-SEQ`) and the query.
    pub name: StreamName,
    /// The path as requested (`/live/s.m3u8`), without the query.
    pub path: String,
    /// The client's address (from `X-Forwarded-For`/`X-Real-IP` when the peer is our loopback LB).
    pub ip: String,
    pub headers: HeaderMap,
}

pub type FileHandler = Arc<dyn Fn(FileRequest) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// WHEP/WHIP signaling (`worker/webrtc/signaling.rs`), when the worker has WebRTC.
pub type SignalingHandler = Arc<
    dyn Fn(crate::worker::webrtc::signaling::SignalingRequest) -> BoxFuture<'static, Response<Body>>
        + Send
        + Sync,
>;

/// Handlers by file extension (`.flv` is built in), and WebRTC signaling.
#[derive(Default, Clone)]
pub struct HttpFiles {
    handlers: Arc<RwLock<Vec<(String, FileHandler)>>>,
    signaling: Arc<RwLock<Option<SignalingHandler>>>,
    /// On an edge: HTTP requests for a stream's files make it pulled (`worker/edge/`).
    edge: Arc<RwLock<Option<super::edge::Edge>>>,
}

impl HttpFiles {
    /// Serve files ending in `ext` (with its dot: `.m3u8`) with `handler`.
    pub fn register(&self, ext: &str, handler: FileHandler) {
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((ext.to_string(), handler));
    }

    /// Serve WHEP/WHIP signaling paths with `handler`.
    pub fn register_signaling(&self, handler: SignalingHandler) {
        *self.signaling.write().unwrap_or_else(|e| e.into_inner()) = Some(handler);
    }

    /// This worker is an edge: stream file requests keep their stream pulled.
    pub fn set_edge(&self, edge: super::edge::Edge) {
        *self.edge.write().unwrap_or_else(|e| e.into_inner()) = Some(edge);
    }

    fn edge(&self) -> Option<super::edge::Edge> {
        self.edge.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn signaling(&self) -> Option<SignalingHandler> {
        self.signaling
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The handler of extension `ext` (without its dot).
    fn find(&self, ext: &str) -> Option<FileHandler> {
        self.handlers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(registered, _)| registered.strip_prefix('.') == Some(ext))
            .map(|(_, handler)| handler.clone())
    }
}

#[derive(Clone)]
struct HttpState {
    ctx: Arc<WorkerContext>,
    files: HttpFiles,
}

/// The worker's HTTP router. Serve it with [`serve`].
pub fn router(ctx: Arc<WorkerContext>, files: HttpFiles) -> Router {
    Router::new()
        .route(
            "/{*path}",
            get(dispatch)
                .post(dispatch)
                .delete(dispatch)
                .patch(dispatch)
                .options(preflight),
        )
        .with_state(HttpState { ctx, files })
}

/// Serve `app` (the router, and whatever was merged into it) on the worker's HTTP port. A connection
/// whose writes make no progress for `write_timeout` is closed, which ends its response and the
/// player behind it; the role passes [`crate::net::write_deadline::WRITE_TIMEOUT`]. The connection cap
/// leaves half the open-files limit to RTMP.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    write_timeout: Duration,
) -> std::io::Result<()> {
    let label = format!("worker HTTP {}", listener.local_addr()?);
    let front = Front {
        role: "worker",
        cap: ConnectionCap::new(label, limits::current_connection_cap(2)),
        write_timeout,
        cors: true,
    };
    let handler = http_serve::router_handler(app);
    http_serve::serve(listener, front, handler, std::future::pending()).await;
    Ok(())
}

/// The client's address: the peer's, or for our http-lb (loopback or its host) the one it put last in
/// `X-Forwarded-For` (each proxy appends the address it saw; the http-lb replaces the header
/// altogether, so what a client wrote there never counts).
/// In a pod, where the http-lb's address is unknown, the header counts only with the http-lb's
/// credential for that address ([`crate::net::forwarded`]).
fn client_ip(peer: SocketAddr, headers: &HeaderMap) -> String {
    let pod = crate::net::pod::active();
    if super::lb_peers::forwards_for(peer.ip()) || pod {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .or_else(|| headers.get("x-real-ip").and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok());
        let vouched = |ip: &str| {
            !pod || headers
                .get(crate::net::forwarded::HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| crate::net::forwarded::verify_now(ip, v))
        };
        if let Some(ip) = forwarded.filter(|ip| vouched(ip)) {
            return ip.to_string();
        }
    }
    peer.ip().to_string()
}

fn not_found() -> Response<Body> {
    let mut response = Response::new(Body::from("not found\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

async fn preflight(request: Request) -> Response<Body> {
    http_serve::preflight(&request)
}

async fn dispatch(
    State(state): State<HttpState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    request: Request,
) -> Response<Body> {
    if let Some(target) = stream_name::parse_webrtc(request.uri().path(), request.uri().query()) {
        return signaling(&state, peer, request, target).await;
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return not_found();
    }
    let uri = request.uri();
    let path = uri.path().to_string();
    let query = uri.query().map(str::to_string);
    let headers = request.headers().clone();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_string();
    let ip = client_ip(peer, &headers);
    // The same reading of the path as the http-lb's, so what one routes the other serves.
    let Some(target) = stream_name::parse_path(&path) else {
        return not_found();
    };
    let name = StreamName::from_http(VhostRule::HostName, &host, &target, query.as_deref());
    if target.file.ext == "flv" {
        return super::http_flv::serve(state.ctx, name, ip).await;
    }
    let Some(handler) = state.files.find(target.file.ext) else {
        return not_found();
    };
    let playlist = target.file.ext == "m3u8";
    let request = FileRequest {
        name,
        path,
        ip,
        headers,
    };
    match state.files.edge() {
        Some(edge) if playlist => edge_playlist(&edge, &handler, request).await,
        Some(edge) => {
            edge.http_request(&request.name);
            handler(request).await
        }
        None => handler(request).await,
    }
}

/// How long an edge holds a playlist request while the pull it started brings the stream's first
/// segment (a fragment or two after the pull begins).
const EDGE_PLAYLIST_WAIT: Duration = Duration::from_secs(15);
const EDGE_PLAYLIST_RETRY: Duration = Duration::from_millis(250);

/// A playlist on an edge: the request starts (or renews) the stream's pull, and a 404 is asked
/// again until the playlist exists or [`EDGE_PLAYLIST_WAIT`] has passed, as a player waits for a
/// publisher.
async fn edge_playlist(
    edge: &super::edge::Edge,
    handler: &FileHandler,
    request: FileRequest,
) -> Response<Body> {
    let deadline = tokio::time::Instant::now() + EDGE_PLAYLIST_WAIT;
    loop {
        edge.http_request(&request.name);
        let again = FileRequest {
            name: request.name.clone(),
            path: request.path.clone(),
            ip: request.ip.clone(),
            headers: request.headers.clone(),
        };
        let response = handler(again).await;
        let now = tokio::time::Instant::now();
        if response.status() != StatusCode::NOT_FOUND || now + EDGE_PLAYLIST_RETRY > deadline {
            return response;
        }
        tokio::time::sleep(EDGE_PLAYLIST_RETRY).await;
    }
}

/// A WHEP/WHIP request: to the WebRTC service, or 404 where the worker has none.
async fn signaling(
    state: &HttpState,
    peer: SocketAddr,
    request: Request,
    target: stream_name::WebRtcPath,
) -> Response<Body> {
    let Some(handler) = state.files.signaling() else {
        let mut response = Response::new(Body::from(
            "WebRTC is not enabled on this worker (`webrtc { udp … }`)\n",
        ));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let (parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let query = parts.uri.query();
    let name = crate::worker::webrtc::signaling::stream_name(&target, &host, query);
    handler(crate::worker::webrtc::signaling::SignalingRequest {
        method: parts.method.clone(),
        target,
        name,
        ip: client_ip(peer, &parts.headers),
        headers: parts.headers,
        body,
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_address_the_nearest_proxy_added_counts_and_only_from_loopback() {
        let lb: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        // A client's claim first, the proxy's own observation last.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9")]);
        assert_eq!(client_ip(lb, &chain), "203.0.113.9");
        assert_eq!(client_ip(remote, &chain), "198.51.100.7");
        let real = headers(&[("x-real-ip", "203.0.113.10")]);
        assert_eq!(client_ip(lb, &real), "203.0.113.10");
        let junk = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(client_ip(lb, &junk), "127.0.0.1");
    }
}
