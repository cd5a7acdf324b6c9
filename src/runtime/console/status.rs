//! `GET /api/v1/console`: what the console shows besides the workers' streams and clients: the
//! plan digest and the roles' health (from the shell's `/status`, which needs no credential), the
//! workers as this api-lb's health checks see them, and where players reach the http-lb.

use crate::compile::plan::Plan;
use crate::runtime::backends::{http_call, Backends};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone)]
pub struct ConsoleInfo {
    backends: Backends,
    digest: String,
    shell: SocketAddr,
    /// The http-lb's public listener, if the topology has one.
    play: Option<SocketAddr>,
}

impl ConsoleInfo {
    pub fn from_plan(plan: &Plan, backends: Backends) -> ConsoleInfo {
        ConsoleInfo {
            backends,
            digest: plan.digest(),
            shell: plan.shell_control,
            play: plan.http_lb.as_ref().map(|lb| lb.listen),
        }
    }
}

/// The route, to sit behind the api-lb's credential check with the rest of `/api/v1`.
pub fn status_router(info: ConsoleInfo) -> Router {
    Router::new()
        .route("/api/v1/console", get(console))
        .with_state(info)
}

async fn console(State(info): State<ConsoleInfo>) -> Json<Value> {
    let shell = http_call(info.shell, "GET", "/status", None, Duration::from_secs(2))
        .await
        .ok()
        .filter(|(status, _)| *status == 200)
        .and_then(|(_, text)| serde_json::from_str::<Value>(&text).ok());
    let workers: Vec<Value> = info
        .backends
        .snapshot()
        .into_iter()
        .map(|b| json!({"name": b.plan.name, "kind": b.plan.kind, "healthy": b.healthy}))
        .collect();
    // A wildcard or loopback listener is reached at the page's own host name; a specific public
    // address is given as is.
    let play = info.play.map(|addr| {
        let host = (!addr.ip().is_unspecified() && !addr.ip().is_loopback())
            .then(|| addr.ip().to_string());
        json!({"scheme": "http", "host": host, "port": addr.port()})
    });
    Json(json!({
        "code": 0,
        "server": format!("oryx-api-lb/{}", env!("CARGO_PKG_VERSION")),
        "digest": shell.as_ref().and_then(|s| s.get("digest").cloned()).unwrap_or(json!(info.digest)),
        "roles": shell.as_ref().and_then(|s| s.get("roles").cloned()).unwrap_or(Value::Null),
        "workers": workers,
        "play": play,
    }))
}
