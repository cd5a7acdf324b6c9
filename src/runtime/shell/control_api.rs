//! The shell's loopback control API: `/healthz`, `/readyz`, `/status`, the merged `/metrics` of
//! every role, and `/reload` and `/reload/dry-run` for `oryx reload`.
//!
//! The handlers never touch the running roles: they read the [`Board`] the shell's loop publishes
//! and pass reload requests to that loop as [`ShellRequest`]s, so one task owns the roles.

use super::reload::{DryRunReport, ReloadReport};
use crate::net::control_client::http_call;
use crate::net::supervisor::ChildStatus;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A request the control API hands to the shell's loop, with where to send the answer.
pub enum ShellRequest {
    Reload(oneshot::Sender<ReloadReport>),
    DryRun(oneshot::Sender<DryRunReport>),
}

/// What the control API's `/status` shows for one role.
#[derive(Serialize)]
pub struct RoleStatus {
    pub role: String,
    #[serde(flatten)]
    pub status: ChildStatus,
}

/// What the shell's loop last published for the control API to show.
#[derive(Default)]
struct Published {
    digest: String,
    roles: Vec<RoleStatus>,
    /// Each oryx role's control address, for the merged `/metrics`.
    targets: Vec<(String, SocketAddr)>,
}

/// The shell's state as the control API sees it; the loop publishes, the handlers read.
#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<Published>>);

impl Board {
    pub fn publish(
        &self,
        digest: String,
        roles: Vec<RoleStatus>,
        targets: Vec<(String, SocketAddr)>,
    ) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Published {
            digest,
            roles,
            targets,
        };
    }

    fn read<T>(&self, f: impl FnOnce(&Published) -> T) -> T {
        f(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Clone)]
struct ControlState {
    requests: mpsc::Sender<ShellRequest>,
    board: Board,
}

/// Serve the control API on `listener` in a task of its own.
pub fn spawn(
    listener: tokio::net::TcpListener,
    requests: mpsc::Sender<ShellRequest>,
    board: Board,
) {
    let router = control_router(ControlState { requests, board });
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(%err, "shell control API stopped");
        }
    });
}

fn control_router(state: ControlState) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"role": "shell", "ok": true})) }),
        )
        .route(
            "/readyz",
            get(|| async { Json(serde_json::json!({"role": "shell", "ready": true})) }),
        )
        .route("/status", get(status_handler))
        .merge(crate::net::control_secret::protect(
            Router::new()
                .route("/metrics", get(metrics_handler))
                .route("/reload", post(reload_handler))
                .route("/reload/dry-run", post(dry_run_handler)),
        ))
        .with_state(state)
}

async fn status_handler(State(state): State<ControlState>) -> Json<serde_json::Value> {
    state.board.read(|board| {
        Json(serde_json::json!({
            "pid": std::process::id(),
            "digest": board.digest,
            "roles": board.roles,
        }))
    })
}

/// Every role's `/metrics` with a `role` label, and the supervisor's view of each role: one page for
/// the whole topology, so one Prometheus scrape job covers it.
async fn metrics_handler(State(state): State<ControlState>) -> impl axum::response::IntoResponse {
    let targets = state.board.read(|board| board.targets.clone());
    let pages =
        futures_util::future::join_all(targets.iter().map(|(_, control)| {
            http_call(*control, "GET", "/metrics", None, Duration::from_secs(2))
        }))
        .await;
    let mut merged = crate::runtime::metrics_merge::Merged::default();
    for ((role, _), page) in targets.iter().zip(pages) {
        let scraped = match page {
            Ok((200, text)) => {
                merged.add(role, &text);
                1.0
            }
            _ => 0.0,
        };
        merged.own(
            "oryx_shell_role_scrape_ok",
            "gauge",
            "1 when the shell could read the role's own /metrics.",
            role,
            scraped,
        );
    }
    let roles: Vec<(String, ChildStatus)> = state.board.read(|board| {
        board
            .roles
            .iter()
            .map(|r| (r.role.clone(), r.status.clone()))
            .collect()
    });
    for (role, status) in roles {
        merged.own(
            "oryx_shell_role_ready",
            "gauge",
            "1 when the role reports ready.",
            &role,
            f64::from(u8::from(status.ready)),
        );
        merged.own(
            "oryx_shell_role_restarts_total",
            "counter",
            "Times the supervisor restarted the role.",
            &role,
            f64::from(status.starts.saturating_sub(1)),
        );
        merged.own(
            "oryx_shell_role_crash_loop",
            "gauge",
            "1 while the role is in a crash loop (restarting with the longest backoff).",
            &role,
            f64::from(u8::from(status.crash_loop)),
        );
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        merged.render(),
    )
}

async fn reload_handler(State(state): State<ControlState>) -> Json<ReloadReport> {
    let (tx, rx) = oneshot::channel();
    if state.requests.send(ShellRequest::Reload(tx)).await.is_err() {
        return Json(ReloadReport {
            error: Some("the shell is shutting down".into()),
            ..ReloadReport::default()
        });
    }
    Json(rx.await.unwrap_or_else(|_| ReloadReport {
        error: Some("the shell is shutting down".into()),
        ..ReloadReport::default()
    }))
}

async fn dry_run_handler(State(state): State<ControlState>) -> Json<DryRunReport> {
    let (tx, rx) = oneshot::channel();
    let gone = || DryRunReport {
        error: Some("the shell is shutting down".into()),
        ..DryRunReport::default()
    };
    if state.requests.send(ShellRequest::DryRun(tx)).await.is_err() {
        return Json(gone());
    }
    Json(rx.await.unwrap_or_else(|_| gone()))
}
