//! What the API shows of each stream's recording (path, state, last error, files, bytes) and the
//! `oryx_record_*` counters: written by the writer threads, read by `/api/v1/streams`.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Ended recordings stay visible this long (a stream's last file, its error) before they are
/// forgotten, so the table follows the live streams.
const KEEP_ENDED: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the first keyframe, or the publisher left.
    Idle,
    Recording,
    /// The last attempt to open or write failed; retried at a later keyframe.
    Error,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Recording => "recording",
            State::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
struct Inner {
    path: String,
    state: State,
    error: Option<String>,
    files: u64,
    bytes: u64,
    ended: Option<Instant>,
}

/// One publish's recording state.
#[derive(Debug)]
pub struct RecordStatus(Mutex<Inner>);

impl RecordStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> State {
        self.lock().state
    }

    /// A file was opened at `path`.
    pub fn recording(&self, path: &str) {
        let mut inner = self.lock();
        inner.path = path.to_string();
        inner.state = State::Recording;
        inner.error = None;
    }

    /// Bytes written to the open file.
    pub fn wrote(&self, bytes: u64) {
        self.lock().bytes += bytes;
        metrics::counter!("oryx_record_bytes_total").increment(bytes);
    }

    /// A file was closed (it counts once closed: every counted file plays).
    pub fn closed_file(&self) {
        self.lock().files += 1;
        metrics::counter!("oryx_record_files_total").increment(1);
    }

    /// An attempt failed; true when this starts an episode (the caller logs it then, once).
    pub fn failed(&self, path: &str, error: &str) -> bool {
        let mut inner = self.lock();
        let first = inner.state != State::Error;
        inner.path = path.to_string();
        inner.state = State::Error;
        inner.error = Some(error.to_string());
        if first {
            metrics::counter!("oryx_record_errors_total").increment(1);
        }
        first
    }

    /// The publisher left: idle, unless the last attempt failed (the error stays visible).
    pub fn ended(&self) {
        let mut inner = self.lock();
        if inner.state == State::Recording {
            inner.state = State::Idle;
        }
        inner.ended = Some(Instant::now());
    }

    /// `{"path", "state", "error", "files", "bytes"}`.
    pub fn json(&self) -> Value {
        let inner = self.lock();
        json!({
            "path": inner.path,
            "state": inner.state.name(),
            "error": inner.error,
            "files": inner.files,
            "bytes": inner.bytes,
        })
    }
}

/// The recordings of one worker by stream key (`vhost/app/stream`).
#[derive(Clone, Default)]
pub struct RecordRegistry(Arc<Mutex<HashMap<String, Arc<RecordStatus>>>>);

impl RecordRegistry {
    pub fn new() -> RecordRegistry {
        metrics::counter!("oryx_record_files_total").increment(0);
        metrics::counter!("oryx_record_bytes_total").increment(0);
        metrics::counter!("oryx_record_errors_total").increment(0);
        RecordRegistry::default()
    }

    /// A new publish of `key` records to `path` (a template until the first file opens).
    pub fn start(&self, key: &str, path: &str) -> Arc<RecordStatus> {
        let status = Arc::new(RecordStatus(Mutex::new(Inner {
            path: path.to_string(),
            state: State::Idle,
            error: None,
            files: 0,
            bytes: 0,
            ended: None,
        })));
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.lock().ended.is_none_or(|at| at.elapsed() < KEEP_ENDED));
        map.insert(key.to_string(), status.clone());
        status
    }

    /// The `record` object of a stream's API entry, if it has a recording.
    pub fn json(&self, vhost: &str, app: &str, stream: &str) -> Option<Value> {
        let key = format!("{vhost}/{app}/{stream}");
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&key).map(|status| status.json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_episode_is_reported_once_and_cleared_by_a_file() {
        let registry = RecordRegistry::new();
        let status = registry.start("v/rec/show", "/x/{stream}.mp4");
        assert_eq!(registry.json("v", "rec", "show").unwrap()["state"], "idle");
        assert!(status.failed("/x/show.mp4", "Not a directory"));
        assert!(!status.failed("/x/show.mp4", "Not a directory"));
        let json = registry.json("v", "rec", "show").unwrap();
        assert_eq!(json["state"], "error");
        assert_eq!(json["error"], "Not a directory");
        status.recording("/x/show.mp4");
        status.wrote(10);
        status.closed_file();
        let json = registry.json("v", "rec", "show").unwrap();
        assert_eq!(json["state"], "recording");
        assert_eq!(json["error"], Value::Null);
        assert_eq!(
            (json["files"].as_u64(), json["bytes"].as_u64()),
            (Some(1), Some(10))
        );
        status.ended();
        assert_eq!(registry.json("v", "rec", "show").unwrap()["state"], "idle");
        assert!(registry.json("v", "rec", "other").is_none());
    }
}
