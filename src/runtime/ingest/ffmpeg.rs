//! An ingest whose source oryx does not pull itself (HLS, SRT, RTSP, files): a supervised
//! `ffmpeg -c copy` child publishes it to the target; its output goes to the log under the ingest's
//! label, it dies with the role (parent-death signal) and restarts with the supervisor's backoff.
//! Its `-progress` reports come back to a loopback socket of the role: the bytes it wrote and
//! whether it is writing at all.

use super::progress::ProgressReader;
use super::source::ffmpeg_args;
use super::stats::Stats;
use crate::net::supervisor::{ChildSpec, Readiness, Supervised};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// How often the child's state is copied into the ingest's metrics.
const STATUS_EVERY: Duration = Duration::from_millis(500);
/// ffmpeg reports twice a second; this long without a report, it is not publishing.
const PROGRESS_STALE: Duration = Duration::from_secs(3);

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
    // Without the progress socket ffmpeg still runs; `connected` then only says it is running.
    let progress = match TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::warn!(%err, "no socket for ffmpeg's progress; bytes are not counted");
            None
        }
    };
    let progress_addr = progress.as_ref().and_then(|l| l.local_addr().ok());
    let last_report: Arc<Mutex<Option<Instant>>> = Arc::default();
    if let Some(listener) = progress {
        tokio::spawn(read_progress(listener, stats.clone(), last_report.clone()));
    }
    let spec = ChildSpec {
        label: format!("{}/ffmpeg", source.label),
        program: source.binary.clone().into(),
        args: ffmpeg_args(
            &source.from,
            &source.target,
            source.looping,
            source.file,
            progress_addr,
        ),
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
                let reporting = match progress_addr {
                    Some(_) => last_report
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_some_and(|at| at.elapsed() < PROGRESS_STALE),
                    None => true,
                };
                stats.set_connected(status.pid.is_some() && reporting);
                stats.set_reconnects(u64::from(status.starts.saturating_sub(1)));
                stats.set_error(status.last_exit.clone());
            }
        }
    }
    child.stop().await;
}

/// Accept each ffmpeg's progress connection (one per start) and count what it reports.
async fn read_progress(listener: TcpListener, stats: Stats, last: Arc<Mutex<Option<Instant>>>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (stats, last) = (stats.clone(), last.clone());
        tokio::spawn(async move {
            let mut reader = ProgressReader::default();
            let mut buf = vec![0u8; 4096];
            while let Ok(n @ 1..) = conn.read(&mut buf).await {
                let added = reader.push(&buf[..n]);
                if added > 0 {
                    stats.add_bytes(added);
                    *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                }
            }
        });
    }
}
