//! Calls to the loopback control APIs of oryx's roles: small bounded HTTP/1.1 exchanges that carry the
//! control secret ([`crate::net::control_secret`]) to listeners of our own user only, and the probes
//! that do without it.

use crate::net::control_secret::{self, Secret};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;

/// Largest answer body a call accepts.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// True when `addr` accepts a TCP connection within `timeout`.
pub async fn tcp_accepts(addr: SocketAddr, timeout: Duration) -> bool {
    let connect = async {
        let target = super::pod::dial_addr(addr).await?;
        tokio::net::TcpStream::connect(target).await
    };
    matches!(tokio::time::timeout(timeout, connect).await, Ok(Ok(_)))
}

/// A control call with this process's secret: returns the status and the body as text. The whole
/// exchange is bounded by `timeout` and the body by 8 MiB.
pub async fn http_call(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: Option<String>,
    timeout: Duration,
) -> anyhow::Result<(u16, String)> {
    let secret = control_secret::process();
    call(addr, method, path_and_query, body, timeout, Some(secret)).await
}

/// A `GET` of an open route (`/healthz`, `/readyz`) without the secret: probes need not reveal it
/// to whatever answers on a port.
pub async fn http_probe(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<(u16, String)> {
    call(addr, "GET", path, None, timeout, None).await
}

/// Refuse to send the secret to a local port another user listens on (it may have bound a role's
/// port while the role restarted). A remote control address cannot be asked: the operator chose it.
fn check_listener(addr: SocketAddr, _secret: &Secret) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        return Ok(());
    }
    let own = crate::net::handoff::own_uid();
    let refusal = match super::port_owner::listener_uid(addr) {
        Some(uid) if uid == own => return Ok(()),
        Some(uid) => format!(
            "{addr} is held by uid {uid}, not by oryx (uid {own}): the control secret is not sent there"
        ),
        None => format!("cannot tell who listens on {addr}: the control secret is not sent there"),
    };
    report(addr, &refusal);
    anyhow::bail!(refusal)
}

/// Log a refused control address as an error, at most every 30 s per address: pollers ask twice a
/// second, and their callers only see a failed call.
fn report(addr: SocketAddr, refusal: &str) {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::Instant;
    static LAST: OnceLock<Mutex<HashMap<SocketAddr, Instant>>> = OnceLock::new();
    let mut last = LAST
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if last
        .get(&addr)
        .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(30))
    {
        return;
    }
    // Bounded: one entry per control address of the plan.
    last.insert(addr, now);
    tracing::error!("control call refused: {refusal}");
}

/// A call carrying `secret` when given (only to a listener of our own user, see
/// [`super::port_owner`]).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: Option<String>,
    timeout: Duration,
    secret: Option<&Secret>,
) -> anyhow::Result<(u16, String)> {
    let exchange = async {
        // In a pod, a peer's plan address is its Service DNS name, resolved now.
        let target = super::pod::dial_addr(addr).await?;
        let stream = tokio::net::TcpStream::connect(target).await?;
        if let Some(secret) = secret {
            check_listener(target, secret)?;
        }
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(hyper::header::HOST, addr.to_string());
        if let Some(secret) = secret {
            request = request.header(hyper::header::AUTHORIZATION, secret.bearer());
        }
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let collected = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|err| anyhow::anyhow!("reading answer from {addr}: {err}"))?;
        let text = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
        anyhow::Ok((status, text))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => {
            anyhow::bail!("{addr} did not answer {method} {path_and_query} within {timeout:?}")
        }
    }
}
