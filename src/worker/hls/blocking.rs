//! LL-HLS blocking requests (RFC 8216bis 6.2.5.2): a playlist request with `_HLS_msn`/`_HLS_part`,
//! or a request for the part the preload hint names, is held until the stream's edge gets there.
//! Each waiter sleeps on its stream's change counter and on the store's one tick (no timer of its
//! own), and is answered within three target durations: 503 when the edge never came, 400 at once
//! for a segment more than two past the playlist's end.

use super::{lock, HlsStore, StreamHls};
use crate::media::hls::ll_playlist::{part_readiness, readiness, Readiness};
use axum::http::StatusCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the store's clock wakes the waiters to check their deadlines.
pub const TICK: Duration = Duration::from_millis(200);

/// What a blocked request waits for.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    Playlist { msn: u64, part: Option<u64> },
    Part(u64),
}

/// Holds the request until what it wants exists. `None`: go on and answer it; `Some`: answer this
/// status instead. Streams without low latency never block.
pub async fn hold(
    store: &HlsStore,
    entry: &Arc<Mutex<StreamHls>>,
    want: Want,
) -> Option<(StatusCode, &'static str)> {
    let (mut changes, bound) = {
        let state = lock(entry);
        let target = Duration::from_millis(state.segmenter.target_duration_ms());
        // Three target durations at most, less a tick for the clock's granularity.
        (
            state.changes.subscribe(),
            (target * 3).saturating_sub(TICK * 2),
        )
    };
    let mut ticks = store.inner.ticks.subscribe();
    let deadline = Instant::now() + bound;
    loop {
        let position = lock(entry).segmenter.position()?;
        let now = match want {
            Want::Playlist { msn, part } => readiness(position, msn, part),
            Want::Part(id) => part_readiness(position, id),
        };
        match (now, want) {
            (Readiness::Ready, _) => return None,
            (Readiness::TooFar, Want::Playlist { .. }) => {
                return Some((
                    StatusCode::BAD_REQUEST,
                    "_HLS_msn is more than two segments past the playlist\n",
                ))
            }
            (Readiness::TooFar, Want::Part(_)) => {
                return Some((StatusCode::NOT_FOUND, "no such part\n"))
            }
            (Readiness::Wait, _) => {}
        }
        if Instant::now() >= deadline {
            return Some((
                StatusCode::SERVICE_UNAVAILABLE,
                "the stream did not get there within three target durations\n",
            ));
        }
        let woke = tokio::select! {
            changed = changes.changed() => changed,
            ticked = ticks.changed() => ticked,
        };
        if woke.is_err() {
            return Some((StatusCode::SERVICE_UNAVAILABLE, "the stream is gone\n"));
        }
    }
}
