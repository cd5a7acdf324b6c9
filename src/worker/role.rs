//! Entry point of `oryx role worker NAME`: runs one embedded worker from its plan slice — RTMP, HTTP
//! (HTTP-FLV and friends) and the control API — until SIGTERM/SIGINT.

use super::context::WorkerContext;
use super::http::HttpFiles;
use crate::compile::plan::{Plan, WorkerKind};
use crate::net::control::Control;
use anyhow::Context;
use std::sync::Arc;

pub fn run(plan: Plan, name: &str) -> anyhow::Result<()> {
    let worker = plan
        .worker(name)
        .with_context(|| format!("no worker named {name:?} in the plan"))?
        .clone();
    if worker.kind != WorkerKind::Embedded {
        anyhow::bail!(
            "worker {name} is of kind {}, not embedded",
            worker.kind.as_str()
        );
    }
    // One thread, like an SRS or nginx-rtmp worker process: fan-out is kernel time per write, and a
    // second scheduler thread only adds cross-thread wakeups and work stealing (~15 % more CPU per
    // delivered Gbit/s at 200 players). A topology scales past one core with more workers (`count`).
    // Disk I/O (HLS files) has its own thread; nothing else in a worker blocks.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        super::lb_peers::init(&plan);
        let ctx = WorkerContext::new(worker.stream.clone(), worker.proxy_protocol);
        let rtmp = crate::net::limits::bind(worker.rtmp)
            .with_context(|| format!("RTMP cannot listen on {}", worker.rtmp))?;
        let http = crate::net::limits::bind(worker.http)
            .with_context(|| format!("HTTP cannot listen on {}", worker.http))?;
        let files = HttpFiles::default();
        let control = Control::new(&format!("worker/{name}"), &plan.digest());
        let edge = super::edge::Edge::install(&ctx.hub, &plan, &worker);
        if let Some(edge) = &edge {
            files.set_edge(edge.clone());
            let section = edge.clone();
            control.add_metrics_section(Arc::new(move || section.exposition()));
        }
        let control_routes = plug_ins(&ctx, &files, name, &control, worker.rtmp, edge);
        if let Some(plan) = &worker.webrtc {
            let service = super::webrtc::WebRtc::install(&ctx, plan)?;
            files.register_signaling(std::sync::Arc::new(move |request| {
                let service = service.clone();
                Box::pin(super::webrtc::signaling::handle(service, request))
            }));
        }
        // Reload in place: on the control port only, never on the HTTP port the public may reach.
        let settings_route = super::settings::router(settings_route(&ctx, &worker, &control));
        control
            .serve(worker.control, control_routes.clone().merge(settings_route))
            .await?;
        tokio::spawn(super::rtmp_conn::serve(rtmp, ctx.clone()));
        tokio::spawn(super::handoff::run(worker.rtmp, ctx.clone()));
        if let Some(srt) = &worker.srt {
            super::srt::start(srt, ctx.clone())
                .with_context(|| format!("SRT cannot listen on {}", srt.listen))?;
        }
        // The API answers on the HTTP port too, as SRS serves it on a port of its own.
        // Behind the control secret there as on the control port: the public API is the api-lb's.
        let app = super::http::router(ctx.clone(), files)
            .merge(crate::net::control_secret::protect(control_routes));
        tokio::spawn(async move {
            let write_timeout = crate::net::write_deadline::WRITE_TIMEOUT;
            if let Err(err) = super::http::serve(http, app, write_timeout).await {
                tracing::error!(%err, "HTTP server stopped");
            }
        });
        control.set_ready(true);
        tracing::info!(rtmp = %worker.rtmp, http = %worker.http, control = %worker.control, "worker ready");
        crate::net::shutdown::requested().await;
        tracing::info!("worker stopping");
        Ok(())
    });
    // Dropping the runtime ends the connections and so their publishes: recordings finish their
    // files (the last fMP4 fragment) before the process exits.
    drop(runtime);
    super::record::wait_for_writers(std::time::Duration::from_secs(2));
    result
}

/// The seam for optional parts: HLS registers a sink factory on `ctx.hub` and `.m3u8`/`.ts` handlers
/// on `files`; forwards and recording a sink factory each (their state goes to the API and metrics);
/// metrics add their section to `control`'s `/metrics`; the SRS-compatible API and the
/// published-streams report the LBs poll return their `/api/v1/*` routes here (served on the control
/// port); the streams' child processes (exec, transcode) start from a sink factory, their RTMP
/// URLs pointing at `rtmp`.
fn plug_ins(
    ctx: &Arc<WorkerContext>,
    files: &HttpFiles,
    name: &str,
    control: &Control,
    rtmp: std::net::SocketAddr,
    edge: Option<super::edge::Edge>,
) -> axum::Router {
    let hls = super::hls::install(ctx, files, name);
    let forwards = super::forward::install(ctx, rtmp);
    let section_forwards = forwards.clone();
    control.add_metrics_section(Arc::new(move || {
        super::metrics::forward_exposition(&section_forwards)
    }));
    let children = super::children::Children::default();
    ctx.hub
        .add_sink_factory(Arc::new(super::children::ChildrenFactory::new(
            children.clone(),
            ctx.live().clone(),
            rtmp,
            Some(hls.masters()),
        )));
    let section_children = children.clone();
    control.add_metrics_section(Arc::new(move || {
        super::metrics::children_exposition(&section_children)
    }));
    let live_hls = hls.clone();
    ctx.live().watch(move |s| live_hls.update(&s.hls));
    let rates = super::metrics::Rates::new();
    super::metrics::spawn_sampler(ctx.hub.clone(), hls.clone(), rates.clone());
    let (hub, section_rates) = (ctx.hub.clone(), rates.clone());
    control.add_metrics_section(Arc::new(move || {
        super::metrics::exposition(&hub, &hls, &section_rates)
    }));
    let legacy_audio = ctx.legacy_audio.clone();
    control.add_metrics_section(Arc::new(move || legacy_audio.exposition()));
    let record = super::record::install(ctx);
    super::api::Api::new(ctx.hub.clone(), name, rates)
        .with_forwards(forwards)
        .with_children(children)
        .with_record(record)
        .with_edge(edge)
        .router()
        .merge(super::published::router(ctx.hub.clone(), control.clone()))
}

/// What `PUT /settings` swaps: the live stream settings (the context's watchers pass them on), the
/// PROXY header switch and the digest the control API reports.
fn settings_route(
    ctx: &Arc<WorkerContext>,
    worker: &crate::compile::plan::WorkerPlan,
    control: &Control,
) -> super::settings::SettingsRoute {
    let (ctx, control) = (ctx.clone(), control.clone());
    super::settings::SettingsRoute {
        running: Arc::new(std::sync::Mutex::new(worker.clone())),
        live: ctx.live().clone(),
        on_update: Arc::new(move |entry, digest| {
            ctx.set_proxy_protocol(entry.proxy_protocol);
            if let Some(digest) = digest {
                control.set_digest(digest);
            }
        }),
    }
}
