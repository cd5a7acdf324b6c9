//! The worker's merge clock: one timer ticking every merge window, which every player waiting out its
//! window listens to, so one wakeup per tick writes all of them.
//!
//! A timer per player would do the same work with one timer-wheel entry per player per window; the
//! shared tick turns that into one timer and one waiter list. A player that starts waiting just after
//! a tick waits for the next one, so its window is at most one tick long, never longer.
//!
//! A reload may change the window ([`MergeClock::set_window`]); the ticking task takes the new one
//! after its next tick.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;

pub struct MergeClock {
    /// The window in microseconds (swapped by a reload).
    window_us: AtomicU64,
    /// Wakes the ticking task when the window changes.
    changed: Arc<Notify>,
    tick: Notify,
    /// The ticking task is started by the first waiter (a runtime exists by then).
    started: AtomicBool,
}

impl MergeClock {
    /// A clock for `window`; a zero window never waits.
    pub fn new(window: Duration) -> Arc<MergeClock> {
        Arc::new(MergeClock {
            window_us: AtomicU64::new(window.as_micros() as u64),
            changed: Arc::new(Notify::new()),
            tick: Notify::new(),
            started: AtomicBool::new(false),
        })
    }

    pub fn window(&self) -> Duration {
        Duration::from_micros(self.window_us.load(Ordering::Relaxed))
    }

    /// Tick every `window` from the next tick on (a zero window stops waiting at once).
    pub fn set_window(&self, window: Duration) {
        self.window_us
            .store(window.as_micros() as u64, Ordering::Relaxed);
        self.changed.notify_one();
        // Waiters of the old window go on now rather than wait out a longer one.
        self.tick.notify_waiters();
    }

    /// Completes at the next tick (at once for a zero window).
    pub async fn next_tick(self: &Arc<Self>) {
        if self.window().is_zero() {
            return;
        }
        let tick = self.tick.notified();
        self.start();
        tick.await;
    }

    fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let clock: Weak<MergeClock> = Arc::downgrade(self);
        let mut window = self.window();
        let changed = self.changed.clone();
        tokio::spawn(async move {
            let mut ticks = ticker(window);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = changed.notified() => {}
                }
                // The worker is gone (its context was dropped): stop ticking.
                let Some(clock) = clock.upgrade() else { return };
                clock.tick.notify_waiters();
                // A zero window has no waiters; keep the old pace until a real window comes back.
                let now = clock.window();
                if now != window && !now.is_zero() {
                    window = now;
                    ticks = ticker(window);
                    ticks.tick().await;
                }
            }
        });
    }
}

fn ticker(window: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(window);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test]
    async fn waiters_wake_together_within_one_window() {
        let window = Duration::from_millis(100);
        let clock = MergeClock::new(window);
        let started = Instant::now();
        let a = tokio::spawn({
            let clock = clock.clone();
            async move {
                clock.next_tick().await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        clock.next_tick().await;
        let woke = Instant::now();
        let other = a.await.unwrap();
        // Both woke on the same tick, no later than one window after they began waiting.
        assert!(
            woke.duration_since(other) < Duration::from_millis(50),
            "{woke:?} vs {other:?}"
        );
        assert!(woke.duration_since(started) <= window + Duration::from_millis(60));
    }

    #[tokio::test]
    async fn a_zero_window_never_waits() {
        let clock = MergeClock::new(Duration::ZERO);
        tokio::time::timeout(Duration::from_millis(50), clock.next_tick())
            .await
            .expect("a zero window returns at once");
    }

    #[tokio::test]
    async fn a_new_window_is_taken_and_zero_stops_waiting() {
        let clock = MergeClock::new(Duration::from_secs(3600));
        // The ticking task runs on the hour-long window until the change reaches it.
        clock.start();
        tokio::task::yield_now().await;
        clock.set_window(Duration::from_millis(20));
        assert_eq!(clock.window(), Duration::from_millis(20));
        tokio::time::timeout(Duration::from_secs(5), clock.next_tick())
            .await
            .expect("the new window ticks");
        clock.set_window(Duration::ZERO);
        tokio::time::timeout(Duration::from_millis(50), clock.next_tick())
            .await
            .expect("a zero window returns at once");
    }

    #[tokio::test]
    async fn the_clock_stops_with_its_worker() {
        let clock = MergeClock::new(Duration::from_millis(10));
        clock.next_tick().await;
        let weak = Arc::downgrade(&clock);
        drop(clock);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(weak.upgrade().is_none());
    }
}
