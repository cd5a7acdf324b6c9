//! What one forward shares between the publisher's sink, its push task, the API and `/metrics`: the
//! queue and its wake-up, the connection state and the counters.

use super::queue::Queue;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// Where a forward's connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Dialing, handshaking or waiting for `NetStream.Publish.Start`.
    Connecting,
    /// Publishing to the target.
    Connected,
    /// The last attempt failed; waiting before the next.
    Backoff,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Backoff => "backoff",
        }
    }
}

/// One forward of one publish.
pub struct Forward {
    /// The target URL with its query values masked.
    pub url: String,
    queue: Mutex<Queue>,
    /// Wakes the push task: frames queued or the publisher left.
    pub wake: Notify,
    /// Wakes the push task while it connects or backs off: the publisher left. (Apart from `wake`,
    /// whose one permit the pump must not lose to another waiter.)
    pub done: Notify,
    state: AtomicU8,
    bytes: AtomicU64,
    reconnects: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A snapshot of one forward for the API and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSnapshot {
    pub url: String,
    pub state: State,
    pub bytes: u64,
    pub reconnects: u64,
    pub skipped_frames: u64,
    pub last_error: Option<String>,
}

impl Forward {
    pub fn new(url: String, queue_bytes: usize) -> Forward {
        Forward {
            url,
            queue: Mutex::new(Queue::new(queue_bytes)),
            wake: Notify::new(),
            done: Notify::new(),
            state: AtomicU8::new(State::Connecting as u8),
            bytes: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// The publisher left: the task sends what is queued, ends the publish and stops.
    pub fn end(&self) {
        self.queue().end();
        self.wake.notify_one();
        self.done.notify_one();
    }

    pub fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            s if s == State::Connected as u8 => State::Connected,
            s if s == State::Backoff as u8 => State::Backoff,
            _ => State::Connecting,
        }
    }

    pub fn add_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_error(&self, error: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    pub fn snapshot(&self) -> ForwardSnapshot {
        ForwardSnapshot {
            url: self.url.clone(),
            state: self.state(),
            bytes: self.bytes.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            skipped_frames: self.queue().skipped(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

impl ForwardSnapshot {
    /// The entry of `"forwards"` in `/api/v1/streams`.
    pub fn json(&self) -> Value {
        json!({
            "url": self.url,
            "state": self.state.as_str(),
            "bytes": self.bytes,
            "reconnects": self.reconnects,
            "skipped_frames": self.skipped_frames,
            "last_error": self.last_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reports_state_counters_and_the_last_error() {
        let f = Forward::new("rtmp://h/live/s?key=***".into(), 1 << 20);
        assert_eq!(f.snapshot().state, State::Connecting);
        f.set_state(State::Backoff);
        f.count_reconnect();
        f.add_bytes(10);
        f.set_error("connection refused".into());
        let json = f.snapshot().json();
        assert_eq!(json["state"], "backoff");
        assert_eq!(json["reconnects"], 1);
        assert_eq!(json["bytes"], 10);
        assert_eq!(json["skipped_frames"], 0);
        assert_eq!(json["last_error"], "connection refused");
        assert_eq!(json["url"], "rtmp://h/live/s?key=***");
    }
}
