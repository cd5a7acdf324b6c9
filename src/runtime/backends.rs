//! The load balancers' backend sets: which workers exist, which are healthy, what each publishes, and
//! which one serves a stream.
//!
//! Each LB holds a [`Backends`] built from its `LbPlan.workers`. A poller checks every worker twice a
//! second (embedded workers: `GET /api/v1/published` on their control port, which also says which
//! streams they publish now; SRS workers: SRS's own stream list, `super::external::srs_api`;
//! nginx-rtmp workers: a TCP connect to their RTMP port, since nginx-rtmp has no API and no stream
//! list). Routing prefers the healthy worker that publishes the stream,
//! then ranks the healthy workers with rendezvous hashing, so every LB process picks the same worker
//! for a stream. The shell replaces the set on reload with `PUT /api/v1/backends`, so an LB never
//! restarts (and never drops its connections) when workers are added or removed.

use super::peer_digest::PeerDigests;
use crate::compile::plan::{Plan, WorkerKind, WorkerPlan};
pub use crate::net::control_client::{http_call, tcp_accepts};
use crate::net::published::{self, PublishedKeys, PublishedReport};
use crate::route;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How often each worker is checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long a player this LB sent to an edge counts before the edge's reports include it.
const NOTED_PLAYER_TTL: Duration = Duration::from_secs(5);
/// How long one health check may take before the worker counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

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
    /// The streams the worker published at its last successful check (none for nginx-rtmp workers,
    /// and none once a check fails: a worker that stopped answering may have lost them).
    #[serde(skip)]
    pub published: Arc<PublishedKeys>,
    /// Players this LB sent to this edge that its reports do not count yet, by stream key, with
    /// when the last was sent (so a burst of players spreads before the edge reports them).
    #[serde(skip)]
    pub noted_players: std::collections::HashMap<String, (u32, Instant)>,
}

/// The shared, swappable set of workers an LB routes to.
#[derive(Clone, Default)]
pub struct Backends {
    inner: Arc<RwLock<Vec<Backend>>>,
    /// Each spread stream's edge count `k` now (absent: 1), for the rule's hysteresis.
    spread: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// Our plan digest and each worker's (reported, never acted on).
    digests: Arc<PeerDigests>,
}

/// Whom an LB routes: a publisher (to the origins) or a player (to the edges, when there are any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Publish,
    Play,
    /// A player's file (HLS playlist, segment): to the stream's first edge by rendezvous, never
    /// by load, since each edge segments on its own and a player's playlist and segments must
    /// come from one of them.
    Fetch,
}

/// `P`, the players an edge takes of a stream before the stream spreads: its group's
/// `edge-share` (the plan entry the shell pushes on every reload), else
/// [`route::DEFAULT_EDGE_SHARE`].
pub fn edge_share(worker: &WorkerPlan) -> u32 {
    worker.edge_share.unwrap_or(route::DEFAULT_EDGE_SHARE)
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
        backends.digests.set_own(&plan.digest());
        backends.replace(workers);
        backends
    }

    /// Our plan digest and what each worker reported.
    pub fn digests(&self) -> &PeerDigests {
        &self.digests
    }

    /// Swap in a new worker set, keeping the health state of workers whose plan did not change.
    pub fn replace(&self, workers: Vec<WorkerPlan>) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let next = workers
            .into_iter()
            .map(
                |plan| match guard.iter().find(|b| same_process(&b.plan, &plan)) {
                    // Stream settings taken in place (a hot reload): the same process, the same
                    // health and published streams, under its new plan entry.
                    Some(old) => Backend {
                        plan,
                        ..old.clone()
                    },
                    // New workers start healthy so the first request after a reload is not refused;
                    // the next poll corrects it within POLL_INTERVAL.
                    None => Backend {
                        plan,
                        healthy: true,
                        failures: 0,
                        checked_at: None,
                        published: Arc::default(),
                        noted_players: Default::default(),
                    },
                },
            )
            .collect();
        *guard = next;
    }

    pub fn snapshot(&self) -> Vec<Backend> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Workers to try for `key`, best first: the healthy ones that publish the stream now (a stream
    /// exists only where its publisher is, wherever rendezvous would put it: it may have been published
    /// while its first choice was down), then the other healthy ones in rendezvous order, then the
    /// unhealthy ones (a worker may have come back since the last poll; trying it beats refusing the
    /// client). A publish of a stream that is already published goes to its publisher's worker too,
    /// which refuses it, rather than starting a second copy elsewhere.
    pub fn candidates(&self, key: &str) -> Vec<WorkerPlan> {
        let backends = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let all: Vec<&Backend> = backends.iter().collect();
        by_affinity(key, &all)
    }

    /// [`Backends::candidates`] by role: with edges (workers with an `origin`) in the set, a
    /// publisher goes to the other workers (the origins) and a player to the edges by the spread
    /// rule (DESIGN.md "Edge spreading": the top `k` edges by rendezvous, `k` from the stream's
    /// players on the edges, the least loaded of them first), then to the other edges, then to the
    /// origins. Without edges, both go where [`Backends::candidates`] says.
    pub fn candidates_for(&self, key: &str, direction: Direction) -> Vec<WorkerPlan> {
        let backends = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (edges, origins): (Vec<&Backend>, Vec<&Backend>) =
            backends.iter().partition(|b| b.plan.origin.is_some());
        if edges.is_empty() {
            return by_affinity(key, &origins);
        }
        let origins = by_affinity(key, &origins);
        if direction == Direction::Publish {
            return origins;
        }
        let (healthy, unhealthy): (Vec<&Backend>, Vec<&Backend>) =
            edges.into_iter().partition(|b| b.healthy);
        let loads: Vec<(&str, u32)> = healthy
            .iter()
            .map(|b| {
                let noted = b.noted_players.get(key).map_or(0, |(n, _)| *n);
                (b.plan.name.as_str(), b.published.players(key) + noted)
            })
            .collect();
        // The player being routed counts too: at `edge-share` S, the (S+1)-th player opens the
        // next edge instead of filling the first past its share.
        let players = loads.iter().map(|(_, n)| n).sum::<u32>() + 1;
        let k = match direction {
            Direction::Fetch => 1,
            _ => self.spread_for(key, players, &shares_ranked(key, &healthy)),
        };
        let loads = match direction {
            // Rendezvous order only: every request of a player lands on the same edge.
            Direction::Fetch => loads.iter().map(|(name, _)| (*name, 0)).collect(),
            _ => loads,
        };
        let picked = route::pick_edges(key, &loads, k);
        let unhealthy_names: Vec<&str> = unhealthy.iter().map(|b| b.plan.name.as_str()).collect();
        picked
            .into_iter()
            .chain(route::rank(key, &unhealthy_names))
            .filter_map(|name| backends.iter().find(|b| b.plan.name == name))
            .map(|b| b.plan.clone())
            .chain(origins)
            .collect()
    }

    /// The stream's edge count now, updated by the rule with its hysteresis; the table keeps only
    /// streams spread over more than one edge.
    fn spread_for(&self, key: &str, players: u32, shares: &[u32]) -> usize {
        let mut table = self.spread.lock().unwrap_or_else(|e| e.into_inner());
        let current = table.get(key).copied().unwrap_or(1);
        let k = route::spread_over(players, shares, current);
        if k > 1 {
            table.insert(key.to_string(), k);
        } else {
            table.remove(key);
        }
        k
    }

    /// Record that this LB just sent a player of `key` to edge `name` (counted until the edge's
    /// next report, which includes it).
    pub fn note_player(&self, name: &str, key: &str) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(backend) = guard
            .iter_mut()
            .find(|b| b.plan.name == name && b.plan.origin.is_some())
        {
            let noted = backend
                .noted_players
                .entry(key.to_string())
                .or_insert((0, Instant::now()));
            noted.0 += 1;
            noted.1 = Instant::now();
        }
    }

    /// Healthy workers, in plan order.
    pub fn healthy(&self) -> Vec<WorkerPlan> {
        self.snapshot()
            .into_iter()
            .filter(|b| b.healthy)
            .map(|b| b.plan)
            .collect()
    }

    /// Record that this LB just sent a publisher of `key` to worker `name`, so its players go there
    /// at once rather than after the worker's next report (up to [`POLL_INTERVAL`] later, when a
    /// stream published on a fallback would otherwise split from players sent to its first choice).
    pub fn note_publisher(&self, name: &str, key: &str) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(backend) = guard.iter_mut().find(|b| b.plan.name == name) {
            backend.published = Arc::new(backend.published.with_key(key));
        }
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
        for (plan, result) in plans.iter().zip(results) {
            self.record_check(plan, result);
        }
    }

    /// Record one check of `plan`: `Some` with what it publishes when it answered, `None` when not.
    /// A worker whose plan changed meanwhile (a reload) is left for the next poll.
    pub fn record_check(&self, plan: &WorkerPlan, result: Option<PublishedKeys>) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let Some(backend) = guard.iter_mut().find(|b| &b.plan == plan) else {
            return;
        };
        if let Some(digest) = result.as_ref().and_then(PublishedKeys::digest) {
            self.digests.observe(&peer_label(&plan.name), digest);
        }
        let ok = result.is_some();
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
        let report = Arc::new(result.unwrap_or_default());
        // Players the edge now reports are no longer in flight; a noted player the edge never
        // reports (it went away at once) is forgotten after a while.
        let before = backend.published.clone();
        backend.noted_players.retain(|key, (noted, at)| {
            let arrived = report.players(key).saturating_sub(before.players(key));
            *noted = noted.saturating_sub(arrived);
            *noted > 0 && at.elapsed() < NOTED_PLAYER_TTL
        });
        backend.published = report;
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
    /// How many streams the worker publishes, as of its last check.
    published: usize,
    /// The plan digest the worker last reported, and whether it differs from ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    digest_mismatch: bool,
    /// An edge's share as this LB uses it (absent on other workers).
    #[serde(skip_serializing_if = "Option::is_none")]
    edge_share: Option<u32>,
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
            published: b.published.stream_count(),
            digest: backends.digests.last(&peer_label(&b.plan.name)),
            digest_mismatch: backends.digests.mismatch(&peer_label(&b.plan.name)),
            edge_share: b.plan.origin.is_some().then(|| edge_share(&b.plan)),
        })
        .collect();
    Json(serde_json::json!({ "code": 0, "backends": views }))
}

async fn put_backends(
    State(backends): State<Backends>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    match serde_json::from_slice::<Vec<WorkerPlan>>(&body) {
        Ok(workers) => {
            // The shell sends the digest of the plan it now runs (`?digest=`).
            if let Some(digest) = query.get("digest") {
                backends.digests.set_own(digest);
            }
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

/// `backends` for `key`, best first: the healthy ones that publish the stream now, then the other
/// healthy ones in rendezvous order, then the unhealthy ones ([`Backends::candidates`]).
fn by_affinity(key: &str, backends: &[&Backend]) -> Vec<WorkerPlan> {
    let names: Vec<&str> = backends.iter().map(|b| b.plan.name.as_str()).collect();
    let ranked: Vec<&Backend> = route::rank(key, &names)
        .into_iter()
        .filter_map(|name| backends.iter().find(|b| b.plan.name == name).copied())
        .collect();
    let (healthy, unhealthy): (Vec<&Backend>, Vec<&Backend>) =
        ranked.into_iter().partition(|b| b.healthy);
    let (publishing, others): (Vec<&Backend>, Vec<&Backend>) =
        healthy.into_iter().partition(|b| b.published.answers(key));
    publishing
        .into_iter()
        .chain(others)
        .chain(unhealthy)
        .map(|b| b.plan.clone())
        .collect()
}

/// Each of `edges`' share, in `key`'s rendezvous order (the order [`route::pick_edges`] fills).
fn shares_ranked(key: &str, edges: &[&Backend]) -> Vec<u32> {
    let names: Vec<&str> = edges.iter().map(|b| b.plan.name.as_str()).collect();
    route::rank(key, &names)
        .into_iter()
        .filter_map(|name| edges.iter().find(|b| b.plan.name == name))
        .map(|b| edge_share(&b.plan))
        .collect()
}

/// One health check: `Some` with the streams the worker publishes when it is up, `None` when not.
/// An embedded worker is up when it answers `GET /api/v1/published` with 200 (its report is the answer;
/// an unreadable one counts as no streams). An SRS worker is up when its API lists its streams. An
/// nginx-rtmp worker only proves its RTMP port accepts connections, and reports no streams.
pub async fn check_worker(worker: &WorkerPlan) -> Option<PublishedKeys> {
    match worker.kind {
        WorkerKind::Embedded => {
            let answer =
                http_call(worker.control, "GET", published::PATH, None, CHECK_TIMEOUT).await;
            match answer {
                Ok((200, body)) => {
                    let report = serde_json::from_str::<PublishedReport>(&body).unwrap_or_else(|err| {
                        tracing::debug!(worker = %worker.name, "unreadable published report: {err}");
                        PublishedReport::default()
                    });
                    Some(PublishedKeys::from_report(&report))
                }
                _ => None,
            }
        }
        WorkerKind::Srs => super::external::srs_api::check(worker, CHECK_TIMEOUT).await,
        WorkerKind::NginxRtmp => tcp_accepts(worker.rtmp, CHECK_TIMEOUT)
            .await
            .then(PublishedKeys::default),
    }
}

/// A worker's name as a peer in logs and the `oryx_peer_digest_mismatch` gauge.
fn peer_label(worker: &str) -> String {
    format!("worker/{worker}")
}

/// Whether two plan entries are one running worker: a hot reload changes only its settings.
fn same_process(a: &WorkerPlan, b: &WorkerPlan) -> bool {
    (&a.name, a.kind, a.rtmp, a.http, a.control) == (&b.name, b.kind, b.rtmp, b.http, b.control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::{HlsSettings, HookSettings, HttpFlvSettings, StreamSettings};

    fn worker(name: &str, port: u16) -> WorkerPlan {
        WorkerPlan {
            srt: None,
            webrtc: None,
            host: None,
            origin: None,
            edge_share: None,
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
                merge_read_ms: 0,
                play_wait_ms: 30_000,
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
                    segment_format: Default::default(),
                    low_latency: false,
                    part_ms: None,
                },
                hooks: HookSettings::default(),
                rules: Vec::new(),
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

    /// What a worker reports when it publishes `streams` (vhost, app, stream).
    fn publishing(streams: &[(&str, &str, &str)]) -> Option<PublishedKeys> {
        let streams = streams
            .iter()
            .map(|(vhost, app, stream)| crate::stream_name::StreamName::new(vhost, app, stream))
            .collect();
        Some(PublishedKeys::from_report(&PublishedReport {
            streams,
            ..Default::default()
        }))
    }

    fn names(workers: Vec<WorkerPlan>) -> Vec<String> {
        workers.into_iter().map(|w| w.name).collect()
    }

    /// Three workers, and `key`'s rendezvous order over them.
    fn three_workers(key: &str) -> (Backends, Vec<WorkerPlan>, Vec<String>) {
        let plans = vec![worker("a", 1000), worker("b", 2000), worker("c", 3000)];
        let backends = Backends::default();
        backends.replace(plans.clone());
        let ranked = route::rank(key, &["a", "b", "c"])
            .into_iter()
            .map(str::to_string)
            .collect();
        (backends, plans, ranked)
    }

    fn plan_of<'a>(plans: &'a [WorkerPlan], name: &str) -> &'a WorkerPlan {
        plans.iter().find(|w| w.name == name).unwrap()
    }

    #[test]
    fn the_worker_that_publishes_a_stream_comes_first() {
        let key = route::stream_key("", "live", "foo");
        let (backends, plans, ranked) = three_workers(&key);
        // The stream was published on the last choice (say while the others were down).
        let publisher = plan_of(&plans, &ranked[2]);
        backends.record_check(
            publisher,
            publishing(&[(route::DEFAULT_VHOST, "live", "foo")]),
        );
        assert_eq!(
            names(backends.candidates(&key)),
            [&*ranked[2], &*ranked[0], &*ranked[1]]
        );
        let counts: Vec<(String, usize)> = backends
            .snapshot()
            .into_iter()
            .map(|b| (b.plan.name, b.published.stream_count()))
            .filter(|(_, count)| *count > 0)
            .collect();
        assert_eq!(counts, [(ranked[2].clone(), 1)]);
        // Other streams keep their rendezvous order.
        let other = route::stream_key("", "live", "bar");
        assert_eq!(
            names(backends.candidates(&other)),
            route::rank(&other, &["a", "b", "c"])
        );
    }

    #[test]
    fn a_hot_settings_change_keeps_what_the_lb_knows_about_the_worker() {
        let key = route::stream_key("", "live", "foo");
        let (backends, plans, ranked) = three_workers(&key);
        let publisher = plan_of(&plans, &ranked[2]).clone();
        backends.record_check(
            &publisher,
            publishing(&[(route::DEFAULT_VHOST, "live", "foo")]),
        );
        // A reload pushes the same workers with new stream settings (taken in place by them).
        let hooked: Vec<WorkerPlan> = plans
            .iter()
            .cloned()
            .map(|mut w| {
                w.stream.hooks.on_play = vec!["http://127.0.0.1:9/play".into()];
                w
            })
            .collect();
        backends.replace(hooked.clone());
        assert_eq!(names(backends.candidates(&key))[0], ranked[2]);
        assert_eq!(backends.snapshot()[0].plan, hooked[0]);
        // A worker at a new address is another process: nothing carries over.
        let mut moved = hooked.clone();
        for w in &mut moved {
            w.rtmp.set_port(w.rtmp.port() + 100);
        }
        backends.replace(moved);
        assert_eq!(
            names(backends.candidates(&key)),
            route::rank(&key, &["a", "b", "c"])
        );
    }

    #[test]
    fn an_explicit_vhost_prefers_only_a_publisher_in_that_vhost() {
        let key = route::stream_key("v1.example", "live", "foo");
        let (backends, plans, ranked) = three_workers(&key);
        let publisher = plan_of(&plans, &ranked[1]);
        backends.record_check(publisher, publishing(&[("v1.example", "live", "foo")]));
        assert_eq!(names(backends.candidates(&key))[0], ranked[1]);

        let elsewhere = route::stream_key("v2.example", "live", "foo");
        assert_eq!(
            names(backends.candidates(&elsewhere)),
            route::rank(&elsewhere, &["a", "b", "c"])
        );
    }

    #[test]
    fn the_default_vhost_prefers_a_publisher_whose_vhost_came_from_its_host_name() {
        // A publisher on rtmp://live.example.com/live/foo: the LB ignored the host, the worker made
        // it the stream's vhost.
        let key = route::stream_key("", "live", "foo");
        let (backends, plans, ranked) = three_workers(&key);
        let publisher = plan_of(&plans, &ranked[2]);
        backends.record_check(
            publisher,
            publishing(&[("live.example.com", "live", "foo")]),
        );
        assert_eq!(names(backends.candidates(&key))[0], ranked[2]);
        // An LB key naming a different vhost explicitly is another stream.
        let explicit = route::stream_key("v.example", "live", "foo");
        assert_eq!(
            names(backends.candidates(&explicit)),
            route::rank(&explicit, &["a", "b", "c"])
        );
    }

    #[test]
    fn a_publisher_the_lb_routed_is_preferred_before_the_next_report() {
        let key = route::stream_key("", "live", "foo");
        let (backends, plans, ranked) = three_workers(&key);
        backends.note_publisher(&ranked[1], &key);
        assert_eq!(names(backends.candidates(&key))[0], ranked[1]);
        // The worker's next report is the truth: it does not publish the stream (say the publish
        // was refused), so the rendezvous order is back.
        backends.record_check(plan_of(&plans, &ranked[1]), publishing(&[]));
        assert_eq!(names(backends.candidates(&key)), ranked);
    }

    #[test]
    fn an_unhealthy_publisher_is_not_preferred() {
        let key = route::stream_key("", "live", "foo");
        let (backends, plans, ranked) = three_workers(&key);
        let publisher = plan_of(&plans, &ranked[0]).clone();
        backends.record_check(
            &publisher,
            publishing(&[(route::DEFAULT_VHOST, "live", "foo")]),
        );
        // Marked down by an LB that could not reach it: tried last despite its (stale) report.
        backends.mark_down(&publisher.name);
        assert_eq!(
            names(backends.candidates(&key)),
            [&*ranked[1], &*ranked[2], &*ranked[0]]
        );
        // A failed check forgets what it published: back healthy, it is the rendezvous first choice
        // again, not a publisher, until a report says so.
        backends.record_check(&publisher, None);
        let down = backends.snapshot();
        let down = down.iter().find(|b| b.plan == publisher).unwrap();
        assert!(!down.healthy && down.failures == 1);
        assert_eq!(down.published.stream_count(), 0);
        let publisher_b = plan_of(&plans, &ranked[1]);
        backends.record_check(
            publisher_b,
            publishing(&[(route::DEFAULT_VHOST, "live", "foo")]),
        );
        backends.record_check(&publisher, publishing(&[]));
        assert_eq!(
            names(backends.candidates(&key)),
            [&*ranked[1], &*ranked[0], &*ranked[2]]
        );
    }

    #[test]
    fn with_edges_publishers_go_to_origins_and_players_spread_over_edges() {
        let mut plans = vec![worker("origin", 1000)];
        for (i, port) in [2000u16, 3000, 4000].into_iter().enumerate() {
            let mut edge = worker(&format!("edge-{i}"), port);
            edge.group = "edge".into();
            edge.origin = Some("origin".into());
            edge.edge_share = Some(3);
            plans.push(edge);
        }
        let backends = Backends::default();
        backends.replace(plans.clone());
        let key = route::stream_key("", "live", "hot");
        assert_eq!(
            names(backends.candidates_for(&key, Direction::Publish)),
            ["origin"]
        );
        let edges = ["edge-0", "edge-1", "edge-2"];
        let ranked = route::rank(&key, &edges);
        let play = names(backends.candidates_for(&key, Direction::Play));
        assert_eq!(play, [ranked[0], ranked[1], ranked[2], "origin"]);
        // Past one edge's share (its group's `edge-share`, 3) the stream takes a second edge,
        // the less loaded one first: the third player still fits the first edge, the fourth
        // opens the second.
        for _ in 0..2 {
            backends.note_player(ranked[0], &key);
        }
        let play = names(backends.candidates_for(&key, Direction::Play));
        assert_eq!(play[0], ranked[0], "three players fit one edge");
        backends.note_player(ranked[0], &key);
        let play = names(backends.candidates_for(&key, Direction::Play));
        assert_eq!(play[0], ranked[1], "the fourth player opens a second edge");
        // A reload's push with a larger share: four players are far under 75 % of one edge's
        // 100, so the stream is back on its first edge.
        let wider: Vec<WorkerPlan> = plans
            .iter()
            .cloned()
            .map(|mut w| {
                w.edge_share = w.origin.as_ref().map(|_| 100);
                w
            })
            .collect();
        backends.replace(wider);
        let play = names(backends.candidates_for(&key, Direction::Play));
        assert_eq!(play[0], ranked[0]);
        // Without edges, both directions route as before.
        let plain = Backends::default();
        plain.replace(vec![worker("a", 1000), worker("b", 2000)]);
        assert_eq!(
            plain.candidates_for(&key, Direction::Play),
            plain.candidates(&key)
        );
        assert_eq!(
            plain.candidates_for(&key, Direction::Publish),
            plain.candidates(&key)
        );
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
        assert!(check_worker(&plan).await.is_none());
        plan.kind = WorkerKind::NginxRtmp;
        assert!(check_worker(&plan).await.is_none());
        plan.kind = WorkerKind::Srs;
        assert!(check_worker(&plan).await.is_none());
    }
}
