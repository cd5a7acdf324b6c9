//! What an ingest reports: the `/metrics` series (`oryx_ingest_connected`, `oryx_ingest_bytes_total`,
//! `oryx_ingest_reconnects_total`, labelled `ingest="NAME"`) and the same state as JSON on its
//! control API (`GET /api/v1/ingest`, with the last error).

use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The ingest's state as `GET /api/v1/ingest` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestState {
    pub name: String,
    pub stream: String,
    /// The source, credentials in its URL replaced by `***`.
    pub from: String,
    /// `rtmp`, `http-flv` or `ffmpeg`.
    pub mode: String,
    /// Where it publishes (the first choice).
    pub target: String,
    /// Media flows from the source to the target (ffmpeg: its child runs and reports output).
    pub connected: bool,
    /// Media bytes published (native: tag payloads; ffmpeg: what it wrote to the target).
    pub bytes: u64,
    pub reconnects: u64,
    /// Why the last connection ended or failed.
    pub last_error: Option<String>,
}

/// Shared by the pulling task and the control API.
#[derive(Clone)]
pub struct Stats {
    name: String,
    state: Arc<Mutex<IngestState>>,
}

impl Stats {
    pub fn new(state: IngestState) -> Stats {
        let stats = Stats {
            name: state.name.clone(),
            state: Arc::new(Mutex::new(state)),
        };
        // Every series exists from the start, at zero.
        stats.set_connected(false);
        metrics::counter!("oryx_ingest_bytes_total", "ingest" => stats.name.clone()).increment(0);
        metrics::counter!("oryx_ingest_reconnects_total", "ingest" => stats.name.clone())
            .increment(0);
        stats
    }

    fn with<T>(&self, f: impl FnOnce(&mut IngestState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn snapshot(&self) -> IngestState {
        self.with(|s| s.clone())
    }

    pub fn set_connected(&self, connected: bool) {
        self.with(|s| s.connected = connected);
        metrics::gauge!("oryx_ingest_connected", "ingest" => self.name.clone())
            .set(f64::from(u8::from(connected)));
    }

    pub fn add_bytes(&self, bytes: u64) {
        self.with(|s| s.bytes += bytes);
        metrics::counter!("oryx_ingest_bytes_total", "ingest" => self.name.clone())
            .increment(bytes);
    }

    /// One more reconnect attempt.
    pub fn reconnect(&self) {
        self.with(|s| s.reconnects += 1);
        metrics::counter!("oryx_ingest_reconnects_total", "ingest" => self.name.clone())
            .increment(1);
    }

    /// The reconnect count as a supervisor reports it (ffmpeg restarts).
    pub fn set_reconnects(&self, reconnects: u64) {
        self.with(|s| s.reconnects = reconnects);
        metrics::counter!("oryx_ingest_reconnects_total", "ingest" => self.name.clone())
            .absolute(reconnects);
    }

    pub fn set_error(&self, error: Option<String>) {
        self.with(|s| s.last_error = error);
    }
}
