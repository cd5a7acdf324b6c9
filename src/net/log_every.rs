//! Log lines that would repeat for one name (a peer that does not resolve, a squatted socket) are
//! let through at most once per period per name, so a failing dependency is reported, not flooded.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Whether a line of `topic` about `name` is due now (none in the last `every`); marks it sent.
/// One entry per (topic, name): callers pass names from the plan, so the table stays small.
pub fn due(topic: &'static str, name: &str, every: Duration) -> bool {
    static LAST: OnceLock<Mutex<HashMap<(&'static str, String), Instant>>> = OnceLock::new();
    let mut last = LAST
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let key = (topic, name.to_string());
    if last
        .get(&key)
        .is_some_and(|at| now.duration_since(*at) < every)
    {
        return false;
    }
    last.insert(key, now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_due_once_per_period_and_topics_do_not_share_it() {
        let hour = Duration::from_secs(3600);
        assert!(due("test-a", "peer", hour));
        assert!(!due("test-a", "peer", hour));
        assert!(due("test-a", "other", hour));
        assert!(due("test-b", "peer", hour));
        assert!(due("test-a", "peer", Duration::ZERO));
    }
}
