//! An ingest whose source oryx does not pull itself (HLS, SRT, RTSP, files): a supervised
//! `ffmpeg -c copy` child publishes it to the target; its output goes to the log under the ingest's
//! label, it dies with the role (parent-death signal) and restarts with the supervisor's backoff.

use super::source::ffmpeg_args;
use super::stats::Stats;
use crate::net::supervisor::{ChildSpec, Readiness, Supervised};
use std::time::Duration;

/// How often the child's state is copied into the ingest's metrics.
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// What the ffmpeg child runs.
pub struct FfmpegSource {
    /// The ingest's label (`ingest/live-lobby`).
    pub label: String,
    pub binary: String,
    pub from: String,
    pub target: String,
    pub looping: bool,
    pub file: bool,
    pub json_log: bool,
}

/// Supervise the ffmpeg child until `stop` resolves, then stop it (SIGTERM, SIGKILL after a bound).
pub async fn run(source: FfmpegSource, stats: Stats, stop: impl std::future::Future<Output = ()>) {
    let spec = ChildSpec {
        label: format!("{}/ffmpeg", source.label),
        program: source.binary.clone().into(),
        args: ffmpeg_args(&source.from, &source.target, source.looping, source.file),
        validate: None,
        readiness: Readiness::Started,
        prefix_output: true,
        json_output: source.json_log,
        skip_line: None,
    };
    tracing::info!(binary = %source.binary, target = %source.target, "ingest through ffmpeg");
    let child = Supervised::start(spec);
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(STATUS_EVERY);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let status = child.status();
                stats.set_connected(status.pid.is_some());
                stats.set_reconnects(u64::from(status.starts.saturating_sub(1)));
                stats.set_error(status.last_exit.clone());
            }
        }
    }
    child.stop().await;
}
