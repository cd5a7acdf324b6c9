//! One pull's state as the API and `/metrics` read it: which origin worker, connecting / waiting /
//! pulling / backoff, bytes received, attempts, the last error.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Where a pull is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Choosing the origin worker and dialing it.
    Connecting,
    /// Playing on the origin, which has no media for it yet (no publisher there now).
    Waiting,
    /// Media flows into this worker's hub.
    Pulling,
    /// The last attempt failed; the next one comes after the backoff.
    Backoff,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Waiting => "waiting",
            State::Pulling => "pulling",
            State::Backoff => "backoff",
        }
    }
}

/// The shared, lock-light status of one pull.
pub struct PullStatus {
    inner: Mutex<Inner>,
    bytes: AtomicU64,
    attempts: AtomicU64,
}

struct Inner {
    state: State,
    origin: Option<String>,
    error: Option<String>,
}

impl Default for PullStatus {
    fn default() -> Self {
        PullStatus {
            inner: Mutex::new(Inner {
                state: State::Connecting,
                origin: None,
                error: None,
            }),
            bytes: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
        }
    }
}

impl PullStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_state(&self, state: State) {
        self.lock().state = state;
    }

    pub fn state(&self) -> State {
        self.lock().state
    }

    /// A new attempt at `origin` (a worker name).
    pub fn attempt(&self, origin: &str) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        inner.state = State::Connecting;
        inner.origin = Some(origin.to_string());
    }

    pub fn set_error(&self, error: Option<String>) {
        self.lock().error = error;
    }

    pub fn add_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The stream entry's `"edge"` object in `/api/v1/streams`.
    pub fn json(&self) -> Value {
        let inner = self.lock();
        json!({
            "origin": inner.origin,
            "state": inner.state.as_str(),
            "bytes": self.bytes(),
            "attempts": self.attempts.load(Ordering::Relaxed),
            "error": inner.error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_its_state() {
        let status = PullStatus::default();
        status.attempt("origin-0");
        status.add_bytes(10);
        status.set_state(State::Pulling);
        let json = status.json();
        assert_eq!(json["origin"], "origin-0");
        assert_eq!(json["state"], "pulling");
        assert_eq!(json["bytes"], 10);
        assert_eq!(json["attempts"], 1);
    }
}
