//! Bounded polling: every wait in the tests ends after its timeout.

use std::time::{Duration, Instant};

/// Calls `probe` every `interval` until it returns `Some` or `timeout` passes (`None`).
pub fn poll<T>(
    timeout: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(interval);
    }
}

/// Polls `check` every 50 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    poll(timeout, Duration::from_millis(50), || check().then_some(())).is_some()
}

/// Polls `probe` every 100 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, probe: impl FnMut() -> Option<T>) -> Option<T> {
    poll(timeout, Duration::from_millis(100), probe)
}

/// Polls `probe` every 50 ms until it returns `Some`; fails the test naming `what` after `timeout`.
pub fn expect_within<T>(timeout: Duration, what: &str, probe: impl FnMut() -> Option<T>) -> T {
    poll(timeout, Duration::from_millis(50), probe)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}
