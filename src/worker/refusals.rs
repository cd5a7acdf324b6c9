//! The log line for connections refused at `max-connections`: at most one a second per worker, with
//! the limit and how many were refused since the previous line, so a full worker says so without a
//! flood of clients flooding its log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The second of the last line (Unix time), and refusals since then that had no line of their own.
static LAST_LINE_SECOND: AtomicU64 = AtomicU64::new(0);
static UNREPORTED: AtomicU64 = AtomicU64::new(0);

/// Note a refusal of `client` over `protocol` ("rtmp", "http-flv") at `limit` connections.
pub fn at_limit(protocol: &str, client: &str, limit: u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let last = LAST_LINE_SECOND.load(Ordering::Relaxed);
    let first_this_second = now > last
        && LAST_LINE_SECOND
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
    if !first_this_second {
        UNREPORTED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let also = UNREPORTED.swap(0, Ordering::Relaxed);
    tracing::warn!(
        protocol,
        client,
        limit,
        refused_without_line = also,
        "connection refused: max-connections {limit} reached"
    );
}
