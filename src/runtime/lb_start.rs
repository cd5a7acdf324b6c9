//! What every load balancer does before it serves: its runtime, control API, backend health polling and
//! public listener (with the backlog `somaxconn` allows), with readiness reported only once all of
//! them are up.

use super::backends::Backends;
use crate::compile::plan::{LbPlan, Plan};
use crate::net::control::Control;
use crate::net::tls_status::TlsStatus;
use anyhow::Context;
use std::future::Future;

/// A load balancer that is ready to serve.
pub struct StartedLb {
    pub control: Control,
    pub backends: Backends,
    pub listener: tokio::net::TcpListener,
    /// The rtmp-lb's RTMPS listener (bound, certificates not loaded yet) and what `/api/v1/tls`
    /// reports about its certificates.
    pub tls: Option<(tokio::net::TcpListener, TlsStatus)>,
}

/// Run the LB `role` (`rtmp-lb`, `http-lb`, `api-lb`) of `plan`: start everything it needs, mark it
/// ready, then hand over to `serve` until it returns.
pub fn run<F, Fut>(plan: Plan, role: &'static str, serve: F) -> anyhow::Result<()>
where
    F: FnOnce(StartedLb) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let lb: LbPlan = match role {
        "rtmp-lb" => plan.rtmp_lb.clone(),
        "http-lb" => plan.http_lb.clone(),
        _ => plan.api_lb.clone(),
    }
    .with_context(|| format!("the plan has no {role}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let control = Control::new(role, &plan.digest());
        let backends = Backends::from_plan(&plan, &lb.workers);
        backends.poll_once().await;
        backends.spawn_poller();
        let tls_status = lb
            .tls
            .as_ref()
            .map(|tls| crate::net::tls_server::initial_status(Some(&tls.certs)));
        let mut router = backends.router();
        if let Some(status) = &tls_status {
            router = router.merge(status.router());
        }
        control.serve(lb.control, router).await?;
        let listener = crate::net::limits::bind(lb.listen)
            .with_context(|| format!("{role} cannot listen on {}", lb.listen))?;
        let tls = match (&lb.tls, tls_status) {
            (Some(tls), Some(status)) => {
                let listener = crate::net::limits::bind(tls.listen)
                    .with_context(|| format!("{role} cannot listen on {} (tls)", tls.listen))?;
                Some((listener, status))
            }
            _ => None,
        };
        tracing::info!(role, listen = %lb.listen, workers = ?lb.workers, "serving");
        control.set_ready(true);
        serve(StartedLb {
            control,
            backends,
            listener,
            tls,
        })
        .await
    })
}
