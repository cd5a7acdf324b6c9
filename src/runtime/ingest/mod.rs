//! The `ingest` role (`oryx role ingest NAME`): pulls one source and publishes it through the
//! topology as an encoder would, so it lands on the worker the LBs send its players to.
//!
//! `rtmp://` and `http(s)://….flv` sources are pulled natively ([`pump`]: oryx's RTMP client and FLV
//! reader); anything else goes through a supervised `ffmpeg -c copy` child ([`ffmpeg`]). Where it
//! publishes is [`target`]; what it reports ([`stats`]) is on its control API next to `/healthz`,
//! `/readyz` and `/metrics`. The role is ready once its control API serves: the source may come and
//! go, which is what the reconnects and `oryx_ingest_connected` say.

pub mod ffmpeg;
pub mod flv_pull;
pub mod progress;
pub mod pump;
pub mod source;
pub mod stats;
pub mod target;

use crate::compile::plan::Plan;
use crate::compile::render::redact_url;
use crate::net::control::Control;
use anyhow::Context;
use axum::routing::get;
use axum::Router;
use source::SourceKind;
use stats::{IngestState, Stats};

/// Run the ingest `name` of `plan` until SIGTERM/SIGINT; `label` names it in logs and answers
/// (`ingest/NAME`).
pub fn run(plan: Plan, name: &str, label: String, json_log: bool) -> anyhow::Result<()> {
    let ingest = plan
        .ingests
        .iter()
        .find(|i| i.name == name)
        .cloned()
        .with_context(|| format!("the plan has no ingest {name:?}"))?;
    let targets = target::publish_urls(&plan, &ingest.stream).map_err(anyhow::Error::msg)?;
    let kind = source::classify(&ingest.from);
    // One thread: an ffmpeg child's parent-death signal fires when the thread that forked it exits,
    // so forks happen on the main thread, which lives as long as the role.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let control = Control::new(&label, &plan.digest());
        let stats = Stats::new(IngestState {
            name: ingest.name.clone(),
            stream: ingest.stream.clone(),
            from: redact_url(&ingest.from),
            mode: match kind {
                SourceKind::Rtmp => "rtmp",
                SourceKind::HttpFlv => "http-flv",
                SourceKind::Ffmpeg { .. } => "ffmpeg",
            }
            .into(),
            target: targets.first().cloned().unwrap_or_default(),
            ..IngestState::default()
        });
        let api_stats = stats.clone();
        let routes = Router::new().route(
            "/api/v1/ingest",
            get(move || {
                let stats = api_stats.clone();
                async move { axum::Json(stats.snapshot()) }
            }),
        );
        control.serve(ingest.control, routes).await?;
        control.set_ready(true);
        tracing::info!(stream = %ingest.stream, from = %redact_url(&ingest.from),
            targets = ?targets, "ingest serving");
        let stop = crate::net::shutdown::requested();
        match kind {
            SourceKind::Ffmpeg { file } => {
                let source = ffmpeg::FfmpegSource {
                    label,
                    binary: ingest.binary.clone(),
                    from: ingest.from.clone(),
                    target: targets.first().cloned().unwrap_or_default(),
                    looping: ingest.looping,
                    file,
                    json_log,
                };
                ffmpeg::run(source, stats, stop).await;
            }
            SourceKind::Rtmp | SourceKind::HttpFlv => {
                let route = pump::Route {
                    from: ingest.from.clone(),
                    shown_from: redact_url(&ingest.from),
                    kind,
                    targets,
                };
                tokio::select! {
                    _ = pump::run(route, stats) => {}
                    _ = stop => {}
                }
            }
        }
        tracing::info!("stopped");
        Ok(())
    })
}
