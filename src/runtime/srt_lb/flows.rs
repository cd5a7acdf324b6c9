//! The srt-lb's flow table: one [`Flow`] per caller address, from its accepted conclusion until
//! it goes idle, with the caps that keep a flood of callers bounded and the `/api/v1/flows` view.

use crate::srt::stream_id::SrtMode;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Flows at most (each holds a UDP socket, so a descriptor).
pub const MAX_FLOWS: usize = 4096;
/// Flows at most that have not reached a worker yet (what a burst of conclusions can cost).
pub const MAX_PENDING: usize = 256;
/// A flow with no packet from either side for this long is dropped (SRT sends a keepalive every
/// second, so only a dead peer stays silent this long).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The worker end of a flow, once the worker has given its cookie.
pub struct Upstream {
    pub socket: Arc<UdpSocket>,
    /// The worker's cookie, written into every conclusion the caller (re)sends.
    pub cookie: u32,
    pub worker: String,
}

/// One caller's flow.
pub struct Flow {
    pub id: u64,
    pub peer: SocketAddr,
    /// The caller's SRT socket id (a new one from the same address is a new connection).
    pub caller_socket: u32,
    pub key: String,
    pub mode: SrtMode,
    pub started: Instant,
    pub upstream: OnceLock<Upstream>,
    /// Milliseconds since `started` of the last packet either way.
    last_seen_ms: AtomicU64,
    /// Caller → worker and worker → caller bytes not yet added to the metrics.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Either side sent a shutdown.
    pub closing: AtomicBool,
    pub cancel: CancellationToken,
}

impl Flow {
    pub fn new(id: u64, peer: SocketAddr, caller_socket: u32, key: String, mode: SrtMode) -> Flow {
        Flow {
            id,
            peer,
            caller_socket,
            key,
            mode,
            started: Instant::now(),
            upstream: OnceLock::new(),
            last_seen_ms: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            cancel: CancellationToken::new(),
        }
    }

    /// A packet went through, either way.
    pub fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_seen_ms.store(now, Ordering::Relaxed);
    }

    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_seen_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    pub fn worker(&self) -> Option<&str> {
        self.upstream.get().map(|u| u.worker.as_str())
    }
}

/// Why a new flow is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Flows,
    Pending,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Full::Flows => "flows",
            Full::Pending => "pending flows",
        })
    }
}

/// Every flow by caller address, shared by the listener loop, the flow tasks and the API.
#[derive(Clone, Default)]
pub struct Flows {
    inner: Arc<RwLock<HashMap<SocketAddr, Arc<Flow>>>>,
}

impl Flows {
    pub fn get(&self, peer: &SocketAddr) -> Option<Arc<Flow>> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(peer)
            .cloned()
    }

    /// Add `flow` unless a cap is reached.
    pub fn admit(&self, flow: Arc<Flow>) -> Result<(), Full> {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_FLOWS {
            return Err(Full::Flows);
        }
        let pending = map.values().filter(|f| f.upstream.get().is_none()).count();
        if pending >= MAX_PENDING {
            return Err(Full::Pending);
        }
        map.insert(flow.peer, flow);
        metrics::gauge!("oryx_srt_lb_flows").set(map.len() as f64);
        Ok(())
    }

    /// Remove `flow` if it is still the one at its address, and stop it.
    pub fn remove(&self, flow: &Flow) {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if map.get(&flow.peer).is_some_and(|f| f.id == flow.id) {
            map.remove(&flow.peer);
        }
        metrics::gauge!("oryx_srt_lb_flows").set(map.len() as f64);
        flow.cancel.cancel();
    }

    pub fn count(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn snapshot(&self) -> Vec<Arc<Flow>> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut flows: Vec<Arc<Flow>> = map.values().cloned().collect();
        flows.sort_by_key(|f| f.id);
        flows
    }

    /// `GET /api/v1/flows`: every flow, its stream, worker and age.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/flows", get(list_flows))
            .with_state(self.clone())
    }
}

#[derive(Serialize)]
struct FlowView {
    id: u64,
    peer: SocketAddr,
    stream: String,
    publish: bool,
    /// `None` while the worker has not answered yet.
    worker: Option<String>,
    age_ms: u128,
    idle_ms: u128,
}

async fn list_flows(State(flows): State<Flows>) -> Json<serde_json::Value> {
    let views: Vec<FlowView> = flows
        .snapshot()
        .iter()
        .map(|f| FlowView {
            id: f.id,
            peer: f.peer,
            stream: f.key.clone(),
            publish: f.mode == SrtMode::Publish,
            worker: f.worker().map(str::to_string),
            age_ms: f.started.elapsed().as_millis(),
            idle_ms: f.idle_for().as_millis(),
        })
        .collect();
    Json(serde_json::json!({ "code": 0, "flows": views }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(id: u64, port: u16) -> Arc<Flow> {
        let peer = SocketAddr::from(([127, 0, 0, 1], port));
        Arc::new(Flow::new(id, peer, 7, "k".into(), SrtMode::Play))
    }

    #[test]
    fn pending_flows_are_capped_and_removal_checks_the_id() {
        let flows = Flows::default();
        for i in 0..MAX_PENDING as u16 {
            flows.admit(flow(u64::from(i), 1000 + i)).unwrap();
        }
        assert_eq!(flows.admit(flow(9999, 60000)), Err(Full::Pending));
        let first = flows
            .get(&SocketAddr::from(([127, 0, 0, 1], 1000)))
            .unwrap();
        // A stale flow at the same address does not remove the current one.
        flows.remove(&flow(12345, 1000));
        assert!(flows.get(&first.peer).is_some());
        flows.remove(&first);
        assert!(flows.get(&first.peer).is_none() && first.cancel.is_cancelled());
        assert_eq!(flows.count(), MAX_PENDING - 1);
    }
}
