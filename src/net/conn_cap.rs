//! A per-listener connection cap: at most `cap` connections open at once, so a flood (slowloris, a
//! burst of players) can never run the process out of descriptors and lock out everyone else.
//!
//! At the cap, the connection that has waited longest without sending a request is closed to make
//! room (a slowloris connection never finishes its request, a real client sends one at once); when
//! every connection is serving a request, new ones wait in the listen backlog until one closes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The cap of one listener; cheap to clone.
#[derive(Clone)]
pub struct ConnectionCap {
    inner: Arc<Inner>,
}

struct Inner {
    /// Names the listener in the log: `http-lb 0.0.0.0:8080`.
    label: String,
    cap: usize,
    state: Mutex<State>,
    freed: Notify,
}

#[derive(Default)]
struct State {
    open: usize,
    next_id: u64,
    /// Connections that have not sent a request yet, oldest first, with the token that closes them.
    idle: BTreeMap<u64, CancellationToken>,
    /// Set while at the cap, so the log says so once per episode.
    saturated: bool,
}

/// One open connection's place under the cap; dropping it frees the place.
pub struct Slot {
    inner: Arc<Inner>,
    id: u64,
    /// Cancelled when the cap closes this connection to make room.
    pub evicted: CancellationToken,
    requested: AtomicBool,
}

impl ConnectionCap {
    pub fn new(label: impl Into<String>, cap: usize) -> ConnectionCap {
        ConnectionCap {
            inner: Arc::new(Inner {
                label: label.into(),
                cap: cap.max(1),
                state: Mutex::new(State::default()),
                freed: Notify::new(),
            }),
        }
    }

    pub fn cap(&self) -> usize {
        self.inner.cap
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.inner.lock().open
    }

    /// A place for the next connection: at once below the cap; at the cap, once the oldest
    /// connection without a request is closed, or once any connection ends.
    pub async fn acquire(&self) -> Slot {
        loop {
            let freed = self.inner.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.inner.lock();
                if state.open < self.inner.cap {
                    if state.saturated && state.open < self.inner.cap * 9 / 10 {
                        state.saturated = false;
                        tracing::info!(
                            listener = %self.inner.label,
                            open = state.open,
                            "back under the connection cap"
                        );
                    }
                    state.open += 1;
                    state.next_id += 1;
                    let id = state.next_id;
                    let evicted = CancellationToken::new();
                    state.idle.insert(id, evicted.clone());
                    return Slot {
                        inner: self.inner.clone(),
                        id,
                        evicted,
                        requested: AtomicBool::new(false),
                    };
                }
                if !state.saturated {
                    state.saturated = true;
                    tracing::warn!(
                        listener = %self.inner.label,
                        cap = self.inner.cap,
                        "connection cap reached: {} holds {} connections (the cap follows the \
                         open-files limit); connections without a request are closed to make room, \
                         else new ones wait in the backlog",
                        self.inner.label,
                        state.open
                    );
                }
                if let Some((_, oldest)) = state.idle.pop_first() {
                    oldest.cancel();
                }
            }
            freed.await;
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Slot {
    /// The connection sent a request: from now on it is not closed to make room.
    pub fn requested(&self) {
        if !self.requested.swap(true, Ordering::Relaxed) {
            self.inner.lock().idle.remove(&self.id);
        }
    }
}

impl Slot {
    /// Whether the connection has sent a request.
    pub fn has_requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut state = self.inner.lock();
            state.open -= 1;
            state.idle.remove(&self.id);
        }
        self.inner.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn at_the_cap_the_oldest_connection_without_a_request_makes_room() {
        let cap = ConnectionCap::new("test", 2);
        let first = cap.acquire().await;
        let second = cap.acquire().await;
        second.requested();
        assert_eq!(cap.open(), 2);
        let third = tokio::spawn({
            let cap = cap.clone();
            async move { cap.acquire().await }
        });
        tokio::time::timeout(Duration::from_secs(5), first.evicted.cancelled())
            .await
            .expect("the idle connection is told to close");
        assert!(!second.evicted.is_cancelled());
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the freed place goes to the waiting connection")
            .unwrap();
        assert_eq!(cap.open(), 2);
        drop((second, third));
        assert_eq!(cap.open(), 0);
    }

    #[tokio::test]
    async fn when_every_connection_is_busy_new_ones_wait_for_one_to_end() {
        let cap = ConnectionCap::new("test", 1);
        let busy = cap.acquire().await;
        busy.requested();
        let waiting = tokio::spawn({
            let cap = cap.clone();
            async move { cap.acquire().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert!(!busy.evicted.is_cancelled());
        drop(busy);
        let next = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("a place frees when the busy connection ends")
            .unwrap();
        assert_eq!(cap.open(), 1);
        drop(next);
    }
}
