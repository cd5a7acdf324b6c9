//! A worker's live stream settings: swapped in place by the shell's reload (`PUT /settings` on the
//! control port) so a hook, HLS or merge-window change reaches a running worker without a restart.
//!
//! Connections take a snapshot ([`LiveSettings::get`]) when they start and at their natural boundaries
//! (a segment cut, a player's merge window), so a change applies to what starts next and never
//! disturbs a connection mid-message. Parts that keep their own copy (the HLS store, the merge clock)
//! subscribe with [`LiveSettings::watch`].

use crate::compile::diff::worker_hot_field;
use crate::compile::plan::{StreamSettings, WorkerPlan};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

type Watcher = Box<dyn Fn(&StreamSettings) + Send + Sync>;
/// Called with an accepted plan entry and the plan digest it came with.
pub type OnUpdate = Arc<dyn Fn(&WorkerPlan, Option<&str>) + Send + Sync>;

/// The current stream settings of one worker, shared by every connection.
pub struct LiveSettings {
    current: RwLock<Arc<StreamSettings>>,
    watchers: Mutex<Vec<Watcher>>,
}

impl LiveSettings {
    pub fn new(settings: StreamSettings) -> Arc<LiveSettings> {
        Arc::new(LiveSettings {
            current: RwLock::new(Arc::new(settings)),
            watchers: Mutex::new(Vec::new()),
        })
    }

    /// The settings in force now; a snapshot that a later [`set`](Self::set) does not change.
    pub fn get(&self) -> Arc<StreamSettings> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Put `settings` in force for everything that starts from now on, and tell the watchers.
    pub fn set(&self, settings: StreamSettings) {
        let settings = Arc::new(settings);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = settings.clone();
        for watcher in self
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            watcher(&settings);
        }
    }

    /// Call `watcher` with the new settings at every [`set`](Self::set).
    pub fn watch(&self, watcher: impl Fn(&StreamSettings) + Send + Sync + 'static) {
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(watcher));
    }
}

/// Why a settings update was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("this is worker {running}, not {sent}")]
    OtherWorker { running: String, sent: String },
    #[error("{0} cannot change in a running worker; restart it")]
    Cold(String),
}

/// Check that `new` differs from `running` only in fields a running worker takes
/// ([`worker_hot_field`]); the field paths are those of `oryx plan --diff`.
pub fn check_update(running: &WorkerPlan, new: &WorkerPlan) -> Result<(), UpdateError> {
    if running.name != new.name {
        return Err(UpdateError::OtherWorker {
            running: running.name.clone(),
            sent: new.name.clone(),
        });
    }
    let old = serde_json::to_value(running).unwrap_or_default();
    let new = serde_json::to_value(new).unwrap_or_default();
    let cold = changed_paths("", &old, &new)
        .into_iter()
        .filter(|path| !worker_hot_field(path))
        .collect::<Vec<_>>();
    if cold.is_empty() {
        Ok(())
    } else {
        Err(UpdateError::Cold(cold.join(", ")))
    }
}

fn changed_paths(path: &str, old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|key| {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    let null = Value::Null;
                    changed_paths(
                        &child,
                        a.get(key).unwrap_or(&null),
                        b.get(key).unwrap_or(&null),
                    )
                })
                .collect()
        }
        _ if old != new => vec![path.to_string()],
        _ => Vec::new(),
    }
}

/// What a running worker needs to take a new plan entry: the entry in force and where to apply it.
#[derive(Clone)]
pub struct SettingsRoute {
    pub running: Arc<Mutex<WorkerPlan>>,
    pub live: Arc<LiveSettings>,
    /// Called with the accepted entry and the new plan digest (`?digest=`), after the swap.
    pub on_update: OnUpdate,
}

/// `PUT /settings` with the worker's new plan entry as JSON: 200 when in force, 409 (with the reason)
/// when it changes something only a restart can, 422 when it is not a worker plan entry. Served on the
/// control port only, outside `/api/v1/` (which the api-lb passes through to workers).
pub fn router(route: SettingsRoute) -> Router {
    Router::new()
        .route("/settings", put(put_settings))
        .with_state(route)
}

async fn put_settings(
    State(route): State<SettingsRoute>,
    Query(query): Query<HashMap<String, String>>,
    Json(new): Json<WorkerPlan>,
) -> (StatusCode, Json<serde_json::Value>) {
    let mut running = route.running.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(err) = check_update(&running, &new) {
        tracing::warn!(%err, "settings update refused");
        return (
            StatusCode::CONFLICT,
            Json(serde_json::json!({"ok": false, "error": err.to_string()})),
        );
    }
    route.live.set(new.stream.clone());
    (route.on_update)(&new, query.get("digest").map(String::as_str));
    *running = new;
    tracing::info!("stream settings updated in place");
    (StatusCode::OK, Json(serde_json::json!({"ok": true})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::hub::tests::settings;

    fn entry() -> WorkerPlan {
        WorkerPlan {
            srt: None,
            webrtc: None,
            host: None,
            origin: None,
            edge_share: None,
            name: "w".into(),
            group: "w".into(),
            kind: crate::compile::plan::WorkerKind::Embedded,
            binary: None,
            rtmp: "127.0.0.1:1".parse().unwrap(),
            http: "127.0.0.1:2".parse().unwrap(),
            control: "127.0.0.1:3".parse().unwrap(),
            proxy_protocol: false,
            stream: settings(),
        }
    }

    #[test]
    fn snapshots_keep_their_values_and_watchers_see_changes() {
        let live = LiveSettings::new(settings());
        let before = live.get();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        live.watch(move |s| record.lock().unwrap().push(s.hls.window));
        let mut next = settings();
        next.hls.window = before.hls.window + 4;
        live.set(next.clone());
        assert_eq!(live.get().hls.window, next.hls.window);
        assert_ne!(before.hls.window, next.hls.window);
        assert_eq!(*seen.lock().unwrap(), [next.hls.window]);
    }

    #[test]
    fn only_hot_fields_may_change() {
        let running = entry();
        let mut hot = entry();
        hot.stream.hooks.on_play = vec!["http://127.0.0.1:9/play".into()];
        hot.stream.hls.window = 3;
        hot.proxy_protocol = true;
        assert_eq!(check_update(&running, &hot), Ok(()));

        let mut ports = entry();
        ports.rtmp = "127.0.0.1:9".parse().unwrap();
        ports.stream.hls.path = Some("/tmp/x".into());
        assert_eq!(
            check_update(&running, &ports),
            Err(UpdateError::Cold("rtmp, stream.hls.path".into()))
        );
        let mut other = entry();
        other.name = "v".into();
        assert!(matches!(
            check_update(&running, &other),
            Err(UpdateError::OtherWorker { .. })
        ));
    }
}
