//! The loopback control API every role serves: `/healthz`, `/readyz`, `/metrics`, plus role routes.
//!
//! `/healthz` answers as soon as the process runs; `/readyz` only once the role says it is ready (its
//! listeners are bound), which is what the shell waits for before it reports a role as up. Both are
//! open and say nothing secret; every other route needs the control secret
//! ([`super::control_secret`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Text a role appends to `/metrics`, rendered at each scrape (series it must be able to drop).
pub type MetricsSection = Arc<dyn Fn() -> String + Send + Sync>;

/// Shared state of a role's control API.
#[derive(Clone)]
pub struct Control {
    inner: Arc<ControlInner>,
}

struct ControlInner {
    role: String,
    /// The plan digest; a worker that takes a reload in place reports the new one.
    digest: Mutex<String>,
    ready: AtomicBool,
    metrics: PrometheusHandle,
    sections: Mutex<Vec<MetricsSection>>,
}

#[derive(Serialize)]
struct Health<'a> {
    role: &'a str,
    pid: u32,
    digest: String,
    ready: bool,
}

/// The process-wide Prometheus recorder, installed once.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist in tests that run several roles in one process; then this
            // handle simply renders nothing, which is harmless.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl Control {
    /// `role` names the role in answers (`worker/live-0`); `digest` is the plan digest.
    pub fn new(role: &str, digest: &str) -> Control {
        let metrics = prometheus();
        metrics::gauge!("oryx_plan_info", "digest" => digest.to_string(), "role" => role.to_string())
            .set(1.0);
        Control {
            inner: Arc::new(ControlInner {
                role: role.to_string(),
                digest: Mutex::new(digest.to_string()),
                ready: AtomicBool::new(false),
                metrics,
                sections: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    /// Appends `section` to every `/metrics` answer, after the recorder's series. For per-object
    /// series (one per stream) that must vanish with their object, which the recorder cannot do.
    pub fn add_metrics_section(&self, section: MetricsSection) {
        self.inner
            .sections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(section);
    }

    pub fn digest(&self) -> String {
        self.inner
            .digest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The role now runs the plan `digest` (its slice of it was updated in place).
    pub fn set_digest(&self, digest: &str) {
        let old = std::mem::replace(
            &mut *self.inner.digest.lock().unwrap_or_else(|e| e.into_inner()),
            digest.to_string(),
        );
        let role = self.inner.role.clone();
        metrics::gauge!("oryx_plan_info", "digest" => old, "role" => role.clone()).set(0.0);
        metrics::gauge!("oryx_plan_info", "digest" => digest.to_string(), "role" => role).set(1.0);
    }

    /// The control routes, merged with the role's own `extra` routes; all but `/healthz` and
    /// `/readyz` behind the control secret.
    pub fn router(&self, extra: Router) -> Router {
        let protected = Router::new()
            .route("/metrics", get(metrics_text))
            .with_state(self.clone())
            .merge(extra);
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(self.clone())
            .merge(super::control_secret::protect(protected))
    }

    /// Bind `addr` and serve the control API until the process ends.
    pub async fn serve(&self, addr: SocketAddr, extra: Router) -> anyhow::Result<()> {
        // The somaxconn backlog like every listener: a burst of LB polls and probes after a
        // restart must not be refused by a 128-entry queue.
        let listener = super::limits::bind(addr)
            .map_err(|err| anyhow::anyhow!("control API cannot listen on {addr}: {err}"))?;
        let app = self.router(extra);
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "control API stopped");
            }
        });
        Ok(())
    }
}

fn health(control: &Control) -> Health<'_> {
    Health {
        role: &control.inner.role,
        pid: std::process::id(),
        digest: control.digest(),
        ready: control.is_ready(),
    }
}

async fn healthz(State(control): State<Control>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::to_value(health(&control)).unwrap_or_default())
}

async fn readyz(State(control): State<Control>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let status = if control.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::to_value(health(&control)).unwrap_or_default()),
    )
}

async fn metrics_text(
    State(control): State<Control>,
) -> ([(&'static str, &'static str); 1], String) {
    let mut text = control.inner.metrics.render();
    let sections = control
        .inner
        .sections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for section in sections {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&section());
    }
    ([("content-type", "text/plain; version=0.0.4")], text)
}
