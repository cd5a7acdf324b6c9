//! What the role reports about its certificates on the control API: `GET /api/v1/tls` answers the
//! certificate source, the names, whether a certificate is being served yet, and the last ACME error.

use axum::routing::get;
use axum::Router;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Default)]
pub struct TlsStatus {
    inner: Arc<Mutex<TlsState>>,
}

#[derive(Serialize, Clone, Default, Debug, PartialEq, Eq)]
pub struct TlsState {
    /// `none` (no TLS listener), `files`, `self-signed` or `acme`.
    pub source: String,
    pub names: Vec<String>,
    /// `none`, `pending` (ACME order under way) or `ready` (a certificate is served).
    pub state: String,
    /// Certificates deployed since start (ACME: from the cache or newly issued).
    pub deployed: u64,
    pub last_deployed_unix: Option<u64>,
    pub last_error: Option<String>,
}

impl TlsStatus {
    pub fn new(source: &str, names: Vec<String>, state: &str) -> TlsStatus {
        let status = TlsStatus::default();
        status.update(|s| {
            s.source = source.to_string();
            s.names = names;
            s.state = state.to_string();
        });
        status
    }

    fn update(&self, change: impl FnOnce(&mut TlsState)) {
        // A poisoned lock only means a panic elsewhere mid-update; the data stays usable.
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut state);
    }

    pub fn snapshot(&self) -> TlsState {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn deployed(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.update(|s| {
            s.state = "ready".into();
            s.deployed += 1;
            s.last_deployed_unix = Some(now);
            s.last_error = None;
        });
    }

    pub fn failed(&self, error: String) {
        self.update(|s| s.last_error = Some(error));
    }

    /// The control-API routes for this status.
    pub fn router(&self) -> Router {
        let status = self.clone();
        Router::new().route(
            "/api/v1/tls",
            get(move || {
                let snapshot = status.snapshot();
                async move { axum::Json(snapshot) }
            }),
        )
    }
}
