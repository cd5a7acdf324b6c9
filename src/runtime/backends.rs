//! The load balancers' backend sets: which workers exist, which are healthy, and which one serves a stream.
//!
//! Each LB holds a [`Backends`] built from its `LbPlan.workers`. A poller checks every worker twice a
//! second (embedded workers: `GET /healthz` on their control port; external workers: a TCP connect to
//! their RTMP port, since nginx-rtmp has no control API). Routing ranks the healthy workers with
//! rendezvous hashing, so every LB process picks the same worker for a stream. The shell replaces the
//! set on reload with `PUT /api/v1/backends`, so an LB never restarts (and never drops its
//! connections) when workers are added or removed.

use crate::compile::plan::{Plan, WorkerKind, WorkerPlan};
use crate::route;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How often each worker is checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long one health check may take before the worker counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_millis(800);
/// Largest answer body [`http_call`] accepts.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// One worker as an LB sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    pub plan: WorkerPlan,
    pub healthy: bool,
    /// Consecutive failed checks (0 when healthy).
    pub failures: u32,
    /// When the last check finished, `None` before the first.
    #[serde(skip)]
    pub checked_at: Option<Instant>,
}

/// The shared, swappable set of workers an LB routes to.
#[derive(Clone, Default)]
pub struct Backends {
    inner: Arc<RwLock<Vec<Backend>>>,
}

/// The vhost a stream belongs to. The plan declares no vhosts, so (as in SRS without vhost sections)
/// every stream lives in the default vhost unless the client names one explicitly with `?vhost=`.
/// Host names are deliberately ignored: a publisher on `rtmp://127.0.0.1/…` and a player on
/// `http://localhost:8080/…` must still meet on the same worker.
pub fn effective_vhost(explicit: Option<&str>) -> &str {
    match explicit {
        Some(vhost) if !vhost.is_empty() => vhost,
        _ => route::DEFAULT_VHOST,
    }
}

/// The value of `name` in a URL query string (`a=1&vhost=x`), if present.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

impl Backends {
    /// The workers named in `names`, looked up in `plan`; unknown names are skipped with a warning.
    pub fn from_plan(plan: &Plan, names: &[String]) -> Backends {
        let workers = names
            .iter()
            .filter_map(|name| {
                let found = plan.worker(name).cloned();
                if found.is_none() {
                    tracing::warn!(worker = %name, "LB names a worker the plan does not have");
                }
                found
            })
            .collect();
        let backends = Backends::default();
        backends.replace(workers);
        backends
    }

    /// Swap in a new worker set, keeping the health state of workers whose plan did not change.
    pub fn replace(&self, workers: Vec<WorkerPlan>) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let next = workers
            .into_iter()
            .map(|plan| match guard.iter().find(|b| b.plan == plan) {
                Some(old) => old.clone(),
                // New workers start healthy so the first request after a reload is not refused;
                // the next poll corrects it within POLL_INTERVAL.
                None => Backend {
                    plan,
                    healthy: true,
                    failures: 0,
                    checked_at: None,
                },
            })
            .collect();
        *guard = next;
    }

    pub fn snapshot(&self) -> Vec<Backend> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Workers to try for `key`, best first: the healthy ones in rendezvous order, then the unhealthy
    /// ones (a worker may have come back since the last poll; trying it beats refusing the client).
    pub fn candidates(&self, key: &str) -> Vec<WorkerPlan> {
        let backends = self.snapshot();
        let names: Vec<&str> = backends.iter().map(|b| b.plan.name.as_str()).collect();
        let ranked = route::rank(key, &names);
        let find = |name: &str| backends.iter().find(|b| b.plan.name == name);
        let mut healthy = Vec::new();
        let mut unhealthy = Vec::new();
        for name in ranked {
            if let Some(backend) = find(name) {
                if backend.healthy {
                    healthy.push(backend.plan.clone());
                } else {
                    unhealthy.push(backend.plan.clone());
                }
            }
        }
        healthy.extend(unhealthy);
        healthy
    }

    /// Healthy workers, in plan order.
    pub fn healthy(&self) -> Vec<WorkerPlan> {
        self.snapshot()
            .into_iter()
            .filter(|b| b.healthy)
            .map(|b| b.plan)
            .collect()
    }

    /// Mark a worker down at once (the LB failed to reach it), without waiting for the poller.
    pub fn mark_down(&self, name: &str) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(backend) = guard.iter_mut().find(|b| b.plan.name == name) {
            if backend.healthy {
                tracing::warn!(worker = %name, "worker unreachable, marked down");
            }
            backend.healthy = false;
        }
    }

    /// Check every worker once and record the results.
    pub async fn poll_once(&self) {
        let plans: Vec<WorkerPlan> = self.snapshot().into_iter().map(|b| b.plan).collect();
        let checks = plans.iter().map(check_worker);
        let results = futures_util::future::join_all(checks).await;
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for (plan, ok) in plans.iter().zip(results) {
            if let Some(backend) = guard.iter_mut().find(|b| &b.plan == plan) {
                if backend.healthy != ok {
                    if ok {
                        tracing::info!(worker = %plan.name, "worker healthy");
                    } else {
                        tracing::warn!(worker = %plan.name, "worker down");
                    }
                }
                backend.healthy = ok;
                backend.failures = if ok { 0 } else { backend.failures + 1 };
                backend.checked_at = Some(Instant::now());
            }
        }
    }

    /// Poll forever in the background.
    pub fn spawn_poller(&self) {
        let backends = self.clone();
        tokio::spawn(async move {
            loop {
                backends.poll_once().await;
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        });
    }

    /// The `/api/v1/backends` routes: `GET` shows the set and its health, `PUT` replaces it (the
    /// shell calls this on reload with a JSON array of worker plans).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/backends", get(list_backends).put(put_backends))
            .with_state(self.clone())
    }
}

#[derive(Serialize)]
struct BackendView {
    name: String,
    kind: WorkerKind,
    rtmp: SocketAddr,
    http: SocketAddr,
    control: SocketAddr,
    healthy: bool,
    failures: u32,
    checked_ms_ago: Option<u128>,
}

async fn list_backends(State(backends): State<Backends>) -> Json<serde_json::Value> {
    let views: Vec<BackendView> = backends
        .snapshot()
        .into_iter()
        .map(|b| BackendView {
            name: b.plan.name.clone(),
            kind: b.plan.kind,
            rtmp: b.plan.rtmp,
            http: b.plan.http,
            control: b.plan.control,
            healthy: b.healthy,
            failures: b.failures,
            checked_ms_ago: b.checked_at.map(|t| t.elapsed().as_millis()),
        })
        .collect();
    Json(serde_json::json!({ "code": 0, "backends": views }))
}

async fn put_backends(
    State(backends): State<Backends>,
    body: axum::body::Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    match serde_json::from_slice::<Vec<WorkerPlan>>(&body) {
        Ok(workers) => {
            let names: Vec<String> = workers.iter().map(|w| w.name.clone()).collect();
            tracing::info!(workers = ?names, "backend set replaced");
            backends.replace(workers);
            backends.poll_once().await;
            (StatusCode::OK, Json(serde_json::json!({ "code": 0 })))
        }
        Err(err) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "code": 1, "error": format!("bad backend list: {err}") })),
        ),
    }
}

/// One health check: embedded workers answer `/healthz` on their control port; external ones only
/// prove their RTMP port accepts connections.
pub async fn check_worker(worker: &WorkerPlan) -> bool {
    match worker.kind {
        WorkerKind::Embedded => matches!(
            http_call(worker.control, "GET", "/healthz", None, CHECK_TIMEOUT).await,
            Ok((200, _))
        ),
        WorkerKind::Srs | WorkerKind::NginxRtmp => tcp_accepts(worker.rtmp, CHECK_TIMEOUT).await,
    }
}

/// True when `addr` accepts a TCP connection within `timeout`.
pub async fn tcp_accepts(addr: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// A small HTTP/1.1 call to a loopback control API: returns the status and the body as text.
/// The whole exchange is bounded by `timeout` and the body by 8 MiB.
pub async fn http_call(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: Option<String>,
    timeout: Duration,
) -> anyhow::Result<(u16, String)> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(hyper::header::HOST, addr.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::{HlsSettings, HookSettings, HttpFlvSettings, StreamSettings};

    fn worker(name: &str, port: u16) -> WorkerPlan {
        WorkerPlan {
            name: name.into(),
            group: "live".into(),
            kind: WorkerKind::Embedded,
            binary: None,
            rtmp: ([127, 0, 0, 1], port).into(),
            http: ([127, 0, 0, 1], port + 1).into(),
            control: ([127, 0, 0, 1], port + 2).into(),
            proxy_protocol: false,
            stream: StreamSettings {
                gop_cache: true,
                chunk_size: 4096,
                merge_write_ms: 0,
                player_queue_bytes: 1 << 20,
                max_connections: 0,
                http_flv: HttpFlvSettings {
                    enabled: true,
                    wait_ms: 0,
                },
                hls: HlsSettings {
                    enabled: true,
                    fragment_ms: 2000,
                    window: 6,
                    path: None,
                },
                hooks: HookSettings::default(),
            },
        }
    }

    #[test]
    fn healthy_workers_come_first_in_rendezvous_order() {
        let backends = Backends::default();
        backends.replace(vec![
            worker("a", 1000),
            worker("b", 2000),
            worker("c", 3000),
        ]);
        let key = route::stream_key("", "live", "foo");
        let ranked: Vec<String> = backends
            .candidates(&key)
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(ranked, route::rank(&key, &["a", "b", "c"]));

        backends.mark_down(&ranked[0]);
        let after: Vec<String> = backends
            .candidates(&key)
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(
            after,
            vec![ranked[1].clone(), ranked[2].clone(), ranked[0].clone()]
        );
        assert_eq!(backends.healthy().len(), 2);
    }

    #[test]
    fn replace_keeps_health_of_unchanged_workers() {
        let backends = Backends::default();
        backends.replace(vec![worker("a", 1000), worker("b", 2000)]);
        backends.mark_down("a");
        backends.replace(vec![
            worker("a", 1000),
            worker("b", 2000),
            worker("c", 3000),
        ]);
        let snapshot = backends.snapshot();
        assert!(!snapshot[0].healthy);
        assert!(snapshot[1].healthy && snapshot[2].healthy);
    }

    #[test]
    fn vhost_comes_only_from_an_explicit_parameter() {
        assert_eq!(effective_vhost(None), route::DEFAULT_VHOST);
        assert_eq!(effective_vhost(Some("")), route::DEFAULT_VHOST);
        assert_eq!(effective_vhost(Some("v.example")), "v.example");
        assert_eq!(query_param("a=1&vhost=v&b", "vhost"), Some("v"));
        assert_eq!(query_param("a=1&b", "b"), Some(""));
        assert_eq!(query_param("a=1", "vhost"), None);
    }

    #[tokio::test]
    async fn down_workers_fail_their_checks() {
        // Bind then drop to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut plan = worker("gone", 1000);
        plan.control = ([127, 0, 0, 1], port).into();
        plan.rtmp = plan.control;
        assert!(!check_worker(&plan).await);
        plan.kind = WorkerKind::NginxRtmp;
        assert!(!check_worker(&plan).await);
    }
}
