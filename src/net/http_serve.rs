//! The accept loop of every public plain-HTTP port (the http-lb, the api-lb, the workers' HTTP
//! port): a connection cap, a header-read timeout, a write deadline and a bounded drain, so neither
//! slowloris nor a player that stops reading can hold the port's descriptors.
//!
//! HTTP/1 only: hyper's automatic HTTP/2 detection reads the first bytes with no timeout at all, so
//! a connection that sends nothing would escape the header-read timeout (players speak HTTP/1.1).

use super::conn_cap::ConnectionCap;
use super::write_deadline::{PeerAddr, WriteDeadline};
use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::future::BoxFuture;
use http::{header, HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client may take to send a request's headers, counted from the connection (or from
/// the end of the previous response on a kept-alive one).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// hyper's buffers per connection: enough for any request head and a few chunks of a live body;
/// its default (~400 KiB) is what made every FLV player cost the http-lb ~140 KiB.
const MAX_BUF_SIZE: usize = 64 * 1024;

/// Answers one request from `peer`.
pub type Handler =
    Arc<dyn Fn(Request<Incoming>, SocketAddr) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// How one port is served.
pub struct Front {
    /// Names the role in the log: `http-lb`, `api-lb`, `worker`.
    pub role: &'static str,
    pub cap: ConnectionCap,
    /// A connection whose socket accepts nothing for this long is closed.
    pub write_timeout: Duration,
    /// Add `Access-Control-Allow-Origin: *` to answers that have none (errors included), so web
    /// players see the status instead of an opaque CORS failure.
    pub cors: bool,
}

/// The handler of an axum router, with the peer's address as `ConnectInfo<SocketAddr>` and
/// `ConnectInfo<PeerAddr>`.
pub fn router_handler(router: axum::Router) -> Handler {
    use tower::ServiceExt;
    Arc::new(move |mut request: Request<Incoming>, peer: SocketAddr| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
        let router = router.clone();
        Box::pin(async move {
            match router.oneshot(request.map(Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
    })
}

/// Serve `handler` on `listener` until `stop` resolves, then stop accepting and drain in-flight
/// requests for a bounded time (see [`super::shutdown::drain`]).
pub async fn serve(
    listener: TcpListener,
    front: Front,
    handler: Handler,
    stop: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let cors = front.cors;
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = front.cap.acquire() => slot,
            _ = &mut stop => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = next_connection(&listener) => accepted,
            _ = &mut stop => break,
        };
        let _ = tcp.set_nodelay(true);
        let slot = Arc::new(slot);
        let evicted = slot.evicted.clone();
        let handler = handler.clone();
        let request_slot = slot.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            request_slot.requested();
            let answer = handler(request, peer);
            async move {
                let mut response = answer.await;
                if cors {
                    allow_any_origin(&mut response);
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let io = TokioIo::new(WriteDeadline::new(tcp, front.write_timeout));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_BUF_SIZE)
            // Body chunks go out as they are (one writev) instead of being copied into hyper's
            // write buffer.
            .writev(true)
            .serve_connection(io, service);
        let connection = graceful.watch(connection);
        let role = front.role;
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(role, %peer, %err, "connection ended with an error");
                    }
                }
                _ = evicted.cancelled() => {
                    tracing::debug!(role, %peer, "closed to make room under the connection cap");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    super::shutdown::drain(front.role, graceful.shutdown()).await;
}

/// The next connection; accept errors (the descriptors of the process ran out after all, a
/// connection reset before it was accepted) back off briefly instead of spinning.
async fn next_connection(listener: &TcpListener) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// `Access-Control-Allow-Origin: *` unless the answer set its own.
pub fn allow_any_origin<B>(response: &mut Response<B>) {
    response
        .headers_mut()
        .entry(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .or_insert(HeaderValue::from_static("*"));
}

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`): any origin,
/// the read methods, and whatever headers the page asked for (hls.js and mpegts.js add their own).
pub fn preflight<B>(request: &Request<B>) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = http::StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, DELETE, PATCH, OPTIONS"),
    );
    let asked = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}
