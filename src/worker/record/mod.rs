//! `record`: every publish whose first matching stream rule has a `record` is written to files
//! (fragmented MP4, FLV or MPEG-TS, by the path's extension) by a writer thread of its own, fed
//! through a bounded queue, so the publisher never waits for a disk. Each closed file is told to
//! the rule's `on_record` hooks; the state is in `/api/v1/streams` and `oryx_record_*` metrics.
//! Rooms: `sink.rs` (the hub's side: the queue and what is dropped when it is full), `queue.rs`,
//! `writer.rs` (files: when they start and end, errors and retries), `format.rs` (the containers),
//! `status.rs` (what the API shows). The contract is `docs/recording.md`.

mod format;
mod queue;
mod sink;
mod status;
mod writer;

pub use status::{RecordRegistry, RecordStatus, State};
pub use writer::RecordedFile;

use super::context::WorkerContext;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Writer threads still running in this process.
static WRITERS: AtomicUsize = AtomicUsize::new(0);

/// Waits (at most `timeout`) for the writer threads to close their files: called when the worker
/// stops, after its publishes ended.
pub fn wait_for_writers(timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while WRITERS.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Counts a writer thread while it lives.
struct WriterGuard;

impl WriterGuard {
    fn new() -> WriterGuard {
        WRITERS.fetch_add(1, Ordering::AcqRel);
        WriterGuard
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        WRITERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sets recording up in a worker: its sink on the hub; returns the registry the API reads.
/// Runs inside the worker's runtime (hooks are posted from it).
pub fn install(ctx: &Arc<WorkerContext>) -> RecordRegistry {
    let registry = RecordRegistry::new();
    ctx.hub
        .add_sink_factory(Arc::new(sink::RecordSinkFactory::new(
            Arc::downgrade(ctx),
            registry.clone(),
        )));
    registry
}
