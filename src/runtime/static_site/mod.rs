//! The static role: files, HTTPS (ACME, file or self-signed certificates), reverse proxy routes.
//!
//! `oryx role static NAME --plan FILE` runs `plan.statics[NAME]`: a plain HTTP listener (serving the
//! site, or redirecting to HTTPS), a TLS listener, and the control API, which turns ready once every
//! listener is bound (with ACME, the first certificate may still be on its way then).

pub mod files;
pub mod proxy;
pub mod redirect;

use crate::compile::plan::{AcmeChallenge, CertSource, Plan, StaticPlan};
use crate::net::conn_cap::{ConnectionCap, Slot};
use crate::net::control::Control;
use crate::net::http_serve::HEADER_READ_TIMEOUT;
use crate::net::tls_server as tls;
use anyhow::Context;
use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls_acme::ResolvesServerCertAcme;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// Everything a request handler needs, shared by all connections.
pub struct Site {
    files: files::Files,
    proxy: proxy::Proxy,
    /// Set when ACME with HTTP-01 runs: the plain listener answers its challenges.
    http01: Option<Arc<ResolvesServerCertAcme>>,
    /// Set when the plain listener only redirects: the TLS port to send clients to.
    redirect_to_tls_port: Option<u16>,
}

pub fn run(plan: Plan, name: &str) -> anyhow::Result<()> {
    let site = plan
        .statics
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .with_context(|| format!("the plan has no static site named {name:?}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(site, &plan.digest()))
}

/// Bind every listener of `plan`, mark the role ready, and serve until the process is stopped.
pub async fn serve(plan: StaticPlan, digest: &str) -> anyhow::Result<()> {
    let control = Control::new(&format!("static/{}", plan.name), digest);
    let tls_status = tls::initial_status(plan.tls.as_ref().map(|t| &t.certs));
    control.serve(plan.control, tls_status.router()).await?;
    let http01 = check_listeners(&plan)?;
    // Bound before the ACME client starts, so its validation connections always find the ports.
    let plain_listener = match plan.listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let tls_listener = match &plan.tls {
        Some(tls_plan) => Some(bind(tls_plan.listen).await?),
        None => None,
    };
    let (tls_acceptor, acme_state) = match &plan.tls {
        None => (None, None),
        Some(tls_plan) => {
            let (acceptor, acme) = tls::acceptor(
                &tls_plan.certs,
                &tls_status,
                tls::ALPN_HTTP,
                tls::AcmeOwner::Orders,
            )?;
            (Some(acceptor), acme)
        }
    };
    let site = Arc::new(Site {
        files: files::Files::new(&plan.root, plan.directory_listing)?,
        proxy: proxy::Proxy::new(&plan.proxies)?,
        http01: acme_state
            .as_ref()
            .filter(|_| http01)
            .map(|a| a.resolver.clone()),
        redirect_to_tls_port: match (&plan.tls, plan.redirect_https) {
            (Some(tls_plan), true) => Some(tls_plan.listen.port()),
            _ => None,
        },
    });

    let mut tasks = tokio::task::JoinSet::new();
    if let (Some(addr), Some(listener)) = (plan.listen, plain_listener) {
        tracing::info!(%addr, "plain HTTP listening");
        let site = site.clone();
        tasks.spawn(async move { accept_plain(listener, site).await });
    }
    if let (Some(tls_plan), Some(acceptor), Some(listener)) =
        (&plan.tls, tls_acceptor, tls_listener)
    {
        tracing::info!(addr = %tls_plan.listen, "HTTPS listening");
        let site = site.clone();
        tasks.spawn(async move { accept_tls(listener, acceptor, site).await });
    }
    control.set_ready(true);
    tracing::info!(name = %plan.name, root = %plan.root, "static site ready");
    match tasks.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(err)) => Err(anyhow::anyhow!("a listener task failed: {err}")),
        None => Ok(()),
    }
}

/// Refuse a site whose listeners cannot work; `Ok(true)` when ACME answers http-01 challenges on
/// the plain listener.
fn check_listeners(plan: &StaticPlan) -> anyhow::Result<bool> {
    if plan.listen.is_none() && plan.tls.is_none() {
        anyhow::bail!("static {}: neither a plain nor a TLS listener", plan.name);
    }
    if plan.redirect_https && plan.tls.is_none() {
        anyhow::bail!(
            "static {}: redirect to HTTPS needs a tls listener",
            plan.name
        );
    }
    let http01 = matches!(
        plan.tls.as_ref().map(|t| &t.certs),
        Some(CertSource::Acme(acme)) if acme.challenge == AcmeChallenge::Http01
    );
    if http01 && plan.listen.is_none() {
        anyhow::bail!(
            "static {}: ACME http-01 needs a plain listener to answer its challenges",
            plan.name
        );
    }
    Ok(http01)
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    crate::net::limits::bind(addr).with_context(|| format!("cannot listen on {addr}"))
}

/// The cap of one of the site's listeners (a proxied request holds an upstream descriptor too).
fn connection_cap(listener: &TcpListener, kind: &str) -> ConnectionCap {
    let label = match listener.local_addr() {
        Ok(addr) => format!("static {kind} {addr}"),
        Err(_) => format!("static {kind}"),
    };
    ConnectionCap::new(label, crate::net::limits::current_connection_cap(2))
}

/// The next connection, with Nagle off; accept errors (out of file descriptors and the like) are
/// logged and retried, so the site keeps serving once they pass.
async fn next_connection(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                return (tcp, peer);
            }
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn accept_plain(listener: TcpListener, site: Arc<Site>) -> anyhow::Result<()> {
    let cap = connection_cap(&listener, "http");
    loop {
        let slot = cap.acquire().await;
        let (tcp, peer) = next_connection(&listener).await;
        let site = site.clone();
        tokio::spawn(async move { serve_connection(tcp, peer, site, false, slot).await });
    }
}

async fn accept_tls(
    listener: TcpListener,
    acceptor: tls::TlsAcceptor,
    site: Arc<Site>,
) -> anyhow::Result<()> {
    let cap = connection_cap(&listener, "https");
    loop {
        let slot = cap.acquire().await;
        let (tcp, peer) = next_connection(&listener).await;
        let site = site.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Some(stream) = acceptor.accept(tcp).await {
                serve_connection(stream, peer, site, true, slot).await;
            }
        });
    }
}

/// Serve one connection under its place in the listener's cap. The HTTP/2 sniffing of hyper's
/// automatic builder reads with no timeout, so a connection that sends no request within the
/// header-read timeout is closed here (hyper's own timeout covers HTTP/1 requests after that).
async fn serve_connection<IO>(io: IO, peer: SocketAddr, site: Arc<Site>, https: bool, slot: Slot)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = Arc::new(slot);
    let request_slot = slot.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        request_slot.requested();
        let site = site.clone();
        async move { Ok::<_, std::convert::Infallible>(site.handle(req, peer, https).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let first_request_overdue = async {
        tokio::time::sleep(HEADER_READ_TIMEOUT).await;
        if slot.has_requested() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = connection => {
            if let Err(err) = result {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        }
        _ = first_request_overdue => tracing::debug!(%peer, "no request in time: closed"),
        _ = slot.evicted.cancelled() => tracing::debug!(%peer, "closed to make room under the connection cap"),
    }
}

impl Site {
    /// Route one request: ACME HTTP-01 → redirect → proxy routes → files.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        https: bool,
    ) -> Response<Body> {
        let path = req.uri().path();
        if !https {
            if let Some(resolver) = &self.http01 {
                if let Some(resp) = redirect::http01_answer(resolver, path) {
                    return resp;
                }
            }
            if let Some(port) = self.redirect_to_tls_port {
                return redirect::to_https(&req, port);
            }
        }
        let resp = if self.proxy.matches(path) {
            self.proxy.forward(req, peer, https).await
        } else {
            self.files.serve(req).await
        };
        let class = match resp.status().as_u16() / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        metrics::counter!("oryx_static_requests_total", "class" => class).increment(1);
        resp
    }
}
