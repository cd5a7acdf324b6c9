//! Child processes per published stream: the first matching stream rule's `exec` commands and its
//! `transcode` ffmpeg, started at publish, supervised while the stream lives (restart with backoff,
//! crash loops reported in the log and the API), stopped at unpublish (SIGTERM, SIGKILL after
//! [`STOP_GRACE`]). Their output goes to the worker's log prefixed with the rule
//! (`[exec live/* live/cam] …`); they die with the worker (parent-death signal, `net::supervisor`).
//!
//! Rooms: `words.rs` splits a command line like a shell, `command.rs` builds each command line,
//! `sink.rs` is the hub's side (a sink per publish that starts and stops them). This file holds the
//! registry the API and `/metrics` read.

pub mod command;
pub mod sink;
pub mod words;

use crate::net::supervisor::Supervised;
use command::Kind;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use sink::ChildrenFactory;

/// Between SIGTERM and SIGKILL when a stream's children stop. Short: ffmpeg flushes and closes its
/// outputs well within it, a republish within seconds must find the renditions' names free again,
/// and the worker's own stop (3 s drain inside the shell's 5 s) must not wait on them.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// One child of a stream, as the API lists it.
struct Child {
    kind: Kind,
    /// The command line, credential masked.
    command: String,
    state: State,
}

enum State {
    Running(Supervised),
    /// Never started (its program is missing, its command line does not split): said once.
    Failed(String),
}

/// The children of every published stream, by stream key; shared by the sinks, the API and
/// `/metrics`.
#[derive(Clone, Default)]
pub struct Children {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    streams: Mutex<HashMap<String, (u64, Vec<Child>)>>,
    next_id: AtomicU64,
    /// Restarts of children already stopped, per kind ([`Kind::ALL`] order), so the counter in
    /// `/metrics` never goes down.
    restarts_done: [AtomicU64; 2],
}

fn kind_index(kind: Kind) -> usize {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl Children {
    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Vec<Child>)>> {
        self.inner.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a publish's children under `key`; returns the id `stop` takes.
    fn insert(&self, key: String, children: Vec<Child>) -> u64 {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.streams().insert(key, (id, children));
        id
    }

    /// Stop the children of publish `id` of `key` (in the background: never on the publisher's
    /// path), forgetting them at once.
    fn stop(&self, key: &str, id: u64) {
        let children = {
            let mut streams = self.streams();
            match streams.get(key) {
                Some((current, _)) if *current == id => streams.remove(key).map(|(_, c)| c),
                _ => None,
            }
        };
        for child in children.into_iter().flatten() {
            if let State::Running(supervised) = child.state {
                let restarts = restarts(&supervised);
                self.inner.restarts_done[kind_index(child.kind)]
                    .fetch_add(u64::from(restarts), Ordering::Relaxed);
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(supervised.stop_within(STOP_GRACE));
                    }
                    // Dropping it stops the child too (the supervision sees its stop channel close).
                    Err(_) => drop(supervised),
                }
            }
        }
    }

    /// The `children` array of a stream in `/api/v1/streams`.
    pub fn json(&self, vhost: &str, app: &str, stream: &str) -> Value {
        let key = crate::route::stream_key(vhost, app, stream);
        let streams = self.streams();
        let Some((_, children)) = streams.get(&key) else {
            return json!([]);
        };
        let list: Vec<Value> = children.iter().map(child_json).collect();
        Value::Array(list)
    }

    /// Per kind: children running now, and restarts so far (stopped children included).
    pub fn counts(&self) -> Vec<(&'static str, u64, u64)> {
        let streams = self.streams();
        Kind::ALL
            .iter()
            .map(|&kind| {
                let mine = streams
                    .values()
                    .flat_map(|(_, children)| children)
                    .filter(|child| child.kind == kind);
                let (mut running, mut restarted) = (0, 0);
                for child in mine {
                    if let State::Running(supervised) = &child.state {
                        running += u64::from(supervised.status().pid.is_some());
                        restarted += u64::from(restarts(supervised));
                    }
                }
                let done = self.inner.restarts_done[kind_index(kind)].load(Ordering::Relaxed);
                (kind.as_str(), running, restarted + done)
            })
            .collect()
    }
}

/// Starts after the first.
fn restarts(supervised: &Supervised) -> u32 {
    supervised.status().starts.saturating_sub(1)
}

fn child_json(child: &Child) -> Value {
    let (pid, restarts, crash_loop, last_exit) = match &child.state {
        State::Running(supervised) => {
            let status = supervised.status();
            let restarts = status.starts.saturating_sub(1);
            (status.pid, restarts, status.crash_loop, status.last_exit)
        }
        State::Failed(reason) => (None, 0, false, Some(reason.clone())),
    };
    json!({
        "kind": child.kind.as_str(),
        "command": child.command,
        "pid": pid,
        "restarts": restarts,
        "crash_loop": crash_loop,
        "last_exit": last_exit,
    })
}
