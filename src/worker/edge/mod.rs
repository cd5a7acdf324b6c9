//! The edge: a worker with `origin="GROUP"` has no publishers of its own; when a stream's first
//! player arrives (any protocol: every player enters through [`Hub::play`], which tells
//! [`PlayDemand`]) or an HLS request names a stream, it pulls the stream from the origin group
//! ([`pull`], [`origin`]) into its own hub, and when the last one has been gone for [`LINGER`]
//! the pull stops. The table of pulls is here; `/api/v1/streams` shows each stream's `"edge"`
//! ([`status`]) and `/metrics` `oryx_edge_pulls` and `oryx_edge_pull_starts_total`.

pub mod origin;
pub mod pull;
pub mod status;

use crate::compile::plan::{Plan, WorkerKind, WorkerPlan};
use crate::stream_name::StreamName;
use crate::worker::hub::{Hub, PlayDemand};
use pull::PullTask;
use status::PullStatus;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long a pull outlives its last player, so a reconnecting player does not restart it.
pub const LINGER: Duration = Duration::from_secs(5);
/// How long an HLS request keeps its stream pulled (players reload the playlist every target
/// duration, so a watching player renews it long before).
pub const HLS_LEASE: Duration = Duration::from_secs(10);
/// How often a pull checks whether its demand is gone.
const DEMAND_CHECK: Duration = Duration::from_millis(500);

/// An edge worker's pulls; cheap to clone.
#[derive(Clone)]
pub struct Edge {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Weak<Hub>,
    origin_group: String,
    origins: Vec<WorkerPlan>,
    pulls: Mutex<HashMap<String, Arc<Pull>>>,
    starts: AtomicU64,
    /// [`LINGER`] (shorter in unit tests).
    linger: Duration,
    /// The worker's runtime: a player may arrive on a thread of its own (libsrt's callers).
    runtime: tokio::runtime::Handle,
}

/// One stream's pull and what keeps it wanted.
struct Pull {
    name: StreamName,
    status: Arc<PullStatus>,
    demand: Mutex<Demand>,
}

#[derive(Clone, Copy)]
struct Demand {
    players: bool,
    /// When the last player left (or the pull started, for an HLS request).
    released_at: Instant,
    /// HLS requests keep the stream until then.
    lease_until: Option<Instant>,
}

impl Demand {
    /// How long nobody has wanted the stream (zero while someone does).
    fn idle_for(&self, now: Instant) -> Duration {
        if self.players {
            return Duration::ZERO;
        }
        let since = match self.lease_until {
            Some(until) if until > self.released_at => until,
            _ => self.released_at,
        };
        now.saturating_duration_since(since)
    }
}

impl Edge {
    /// Make `worker` an edge when it has an `origin`: its hub refuses clients' publishes and tells
    /// the edge of its players. `None` for other workers. Call it on the worker's runtime.
    pub fn install(hub: &Arc<Hub>, plan: &Plan, worker: &WorkerPlan) -> Option<Edge> {
        Self::install_with(hub, plan, worker, LINGER)
    }

    fn install_with(
        hub: &Arc<Hub>,
        plan: &Plan,
        worker: &WorkerPlan,
        linger: Duration,
    ) -> Option<Edge> {
        let group = worker.origin.as_ref()?;
        let origins: Vec<WorkerPlan> = plan
            .workers
            .iter()
            .filter(|w| &w.group == group && w.origin.is_none() && w.kind == WorkerKind::Embedded)
            .cloned()
            .collect();
        if origins.is_empty() {
            tracing::error!(origin = %group, "edge: the origin group has no embedded worker to pull from");
        }
        let edge = Edge {
            inner: Arc::new(Inner {
                hub: Arc::downgrade(hub),
                origin_group: group.clone(),
                origins,
                pulls: Mutex::new(HashMap::new()),
                starts: AtomicU64::new(0),
                linger,
                runtime: tokio::runtime::Handle::current(),
            }),
        };
        hub.set_edge(group, Arc::new(edge.clone()));
        tracing::info!(origin = %group, "edge: streams are pulled from the origin group");
        Some(edge)
    }

    fn pulls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Pull>>> {
        self.inner.pulls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Someone wants `name`: a player (`lease` none) or an HLS request (`lease` its length).
    /// Starts the pull unless one runs.
    fn want(&self, name: &StreamName, lease: Option<Duration>) {
        let key = name.key();
        let now = Instant::now();
        let mut pulls = self.pulls();
        if let Some(pull) = pulls.get(&key) {
            let mut demand = pull.demand.lock().unwrap_or_else(|e| e.into_inner());
            match lease {
                None => demand.players = true,
                Some(lease) => demand.lease_until = Some(now + lease),
            }
            return;
        }
        let Some(hub) = self.inner.hub.upgrade() else {
            return;
        };
        let pull = Arc::new(Pull {
            name: name.without_param(),
            status: Arc::new(PullStatus::default()),
            demand: Mutex::new(Demand {
                players: lease.is_none(),
                released_at: now,
                lease_until: lease.map(|lease| now + lease),
            }),
        });
        pulls.insert(key.clone(), pull.clone());
        drop(pulls);
        self.inner.starts.fetch_add(1, Ordering::Relaxed);
        tracing::info!(stream = %key, origin = %self.inner.origin_group, "edge pull starting");
        let task = PullTask {
            name: pull.name.clone(),
            hub,
            origins: self.inner.origins.clone(),
            status: pull.status.clone(),
        };
        let edge = self.clone();
        self.inner.runtime.spawn(async move {
            tokio::select! {
                () = task.run() => {}
                () = edge.demand_gone(&key, &pull) => {}
            }
            tracing::info!(stream = %key, "edge pull stopped: no player for {LINGER:?}");
        });
    }

    /// Completes (and removes the pull from the table) once nobody has wanted it for [`LINGER`].
    async fn demand_gone(&self, key: &str, pull: &Arc<Pull>) {
        loop {
            tokio::time::sleep(DEMAND_CHECK.min(self.inner.linger / 2)).await;
            let mut pulls = self.pulls();
            let idle = pull
                .demand
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .idle_for(Instant::now());
            if idle >= self.inner.linger {
                if pulls.get(key).is_some_and(|p| Arc::ptr_eq(p, pull)) {
                    pulls.remove(key);
                }
                return;
            }
        }
    }

    /// An HTTP request for one of `name`'s files (HLS): keep the stream pulled for a while.
    pub fn http_request(&self, name: &StreamName) {
        self.want(name, Some(HLS_LEASE));
    }

    /// The `"edge"` object of a stream's API entry, when this edge pulls it.
    pub fn json(&self, vhost: &str, app: &str, stream: &str) -> Option<serde_json::Value> {
        let key = crate::stream_name::stream_key(vhost, app, stream);
        let pull = self.pulls().get(&key)?.clone();
        let mut json = pull.status.json();
        json["origin_group"] = self.inner.origin_group.clone().into();
        Some(json)
    }

    /// `/metrics` lines: the pulls running now and how many were started.
    pub fn exposition(&self) -> String {
        let pulls = self.pulls().len();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP oryx_edge_pulls Streams this edge pulls from its origin group now."
        );
        let _ = writeln!(out, "# TYPE oryx_edge_pulls gauge");
        let _ = writeln!(out, "oryx_edge_pulls {pulls}");
        let _ = writeln!(out, "# HELP oryx_edge_pull_starts_total Pulls started (a stream's first player after none).");
        let _ = writeln!(out, "# TYPE oryx_edge_pull_starts_total counter");
        let _ = writeln!(
            out,
            "oryx_edge_pull_starts_total {}",
            self.inner.starts.load(Ordering::Relaxed)
        );
        out
    }
}

impl PlayDemand for Edge {
    fn first_player(&self, name: &StreamName) {
        self.want(name, None);
    }

    fn last_player_left(&self, name: &StreamName) {
        if let Some(pull) = self.pulls().get(&name.key()) {
            let mut demand = pull.demand.lock().unwrap_or_else(|e| e.into_inner());
            demand.players = false;
            demand.released_at = Instant::now();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A worker plan for tests, named `name`.
    pub fn worker_plan(name: &str) -> WorkerPlan {
        WorkerPlan {
            srt: None,
            webrtc: None,
            host: None,
            origin: None,
            edge_share: None,
            name: name.into(),
            group: "origin".into(),
            kind: WorkerKind::Embedded,
            binary: None,
            rtmp: "127.0.0.1:1".parse().unwrap(),
            http: "127.0.0.1:2".parse().unwrap(),
            control: "127.0.0.1:3".parse().unwrap(),
            proxy_protocol: false,
            stream: crate::worker::hub::tests::settings(),
        }
    }

    #[test]
    fn demand_lingers_after_the_last_player_and_a_lease() {
        let now = Instant::now();
        let mut demand = Demand {
            players: true,
            released_at: now,
            lease_until: None,
        };
        assert_eq!(demand.idle_for(now + LINGER * 2), Duration::ZERO);
        demand.players = false;
        assert_eq!(demand.idle_for(now + LINGER), LINGER);
        demand.lease_until = Some(now + HLS_LEASE);
        assert_eq!(demand.idle_for(now + HLS_LEASE), Duration::ZERO);
        assert_eq!(demand.idle_for(now + HLS_LEASE + LINGER), LINGER);
    }

    #[tokio::test]
    async fn players_start_one_pull_and_it_stops_after_the_linger() {
        const LINGER: Duration = Duration::from_millis(400);
        let hub = Hub::new(crate::worker::hub::tests::settings());
        let mut edge_plan = worker_plan("edge-0");
        edge_plan.group = "edge".into();
        edge_plan.origin = Some("origin".into());
        let plan: Plan =
            crate::worker::edge::tests::plan_with(vec![worker_plan("origin"), edge_plan.clone()]);
        let edge = Edge::install_with(&hub, &plan, &edge_plan, LINGER).unwrap();
        assert_eq!(hub.edge_origin(), Some("origin"));
        let name = StreamName::new("", "live", "cam");
        let first = hub.play(&name);
        let second = hub.play(&name);
        assert_eq!(edge.pulls().len(), 1);
        assert!(edge.exposition().contains("oryx_edge_pull_starts_total 1"));
        drop(first);
        drop(second);
        tokio::time::sleep(LINGER / 2).await;
        // A player back within the linger keeps the same pull.
        let back = hub.play(&name);
        tokio::time::sleep(LINGER * 2).await;
        assert_eq!(edge.pulls().len(), 1);
        assert!(edge.json("", "live", "cam").is_some());
        drop(back);
        tokio::time::sleep(LINGER * 3).await;
        assert_eq!(edge.pulls().len(), 0);
        assert!(edge.exposition().contains("oryx_edge_pulls 0"));
        assert!(edge.exposition().contains("oryx_edge_pull_starts_total 1"));
    }

    pub fn plan_with(workers: Vec<WorkerPlan>) -> Plan {
        let mut plan: Plan = serde_json::from_value(serde_json::json!({
            "version": 1, "env": null, "ports": {"from": 1, "to": 2},
            "shell_control": "127.0.0.1:1", "workers": [], "rtmp_lb": null, "http_lb": null,
            "api_lb": null, "statics": [], "ingests": []
        }))
        .unwrap();
        plan.workers = workers;
        plan
    }
}
