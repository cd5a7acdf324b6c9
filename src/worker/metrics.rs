//! Worker metrics: Prometheus series (through the `metrics` crate; the control API's `/metrics`
//! renders them) sampled from the hub's snapshots, and the process/system figures the SRS-style
//! `/api/v1/summaries` reports.

use crate::worker::hls::{HlsStore, StreamId};
use crate::worker::hub::Hub;
use std::sync::Arc;
use std::time::Duration;

/// How often the hub is sampled into the metrics.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(2);

/// Samples the hub (and HLS) into Prometheus series every [`SAMPLE_INTERVAL`] until the runtime ends.
pub fn spawn_sampler(hub: Arc<Hub>, hls: HlsStore) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            record(&hub, &hls);
        }
    });
}

/// Records one sample: connection and stream counts, per-stream bytes, clients and dropped frames.
pub fn record(hub: &Hub, hls: &HlsStore) {
    let streams = hub.streams();
    metrics::gauge!("oryx_connections").set(hub.connection_count() as f64);
    metrics::gauge!("oryx_streams").set(streams.len() as f64);
    let mut recv_total = 0;
    let mut send_total = 0;
    for stream in &streams {
        let labels = [
            ("vhost", stream.vhost.clone()),
            ("app", stream.app.clone()),
            ("stream", stream.name.clone()),
        ];
        metrics::counter!("oryx_stream_recv_bytes_total", &labels).absolute(stream.recv_bytes);
        metrics::counter!("oryx_stream_send_bytes_total", &labels).absolute(stream.send_bytes);
        metrics::counter!("oryx_stream_frames_total", &labels).absolute(stream.frames);
        metrics::gauge!("oryx_stream_clients", &labels).set(f64::from(stream.clients));
        let id = StreamId {
            vhost: stream.vhost.clone(),
            app: stream.app.clone(),
            stream: stream.name.clone(),
        };
        metrics::counter!("oryx_hls_dropped_frames_total", &labels)
            .absolute(hls.dropped_frames(&id));
        recv_total += stream.recv_bytes;
        send_total += stream.send_bytes;
    }
    metrics::gauge!("oryx_live_recv_bytes").set(recv_total as f64);
    metrics::gauge!("oryx_live_send_bytes").set(send_total as f64);
    // Streams whose publisher left long ago are disposed of here, so they go even if nobody publishes.
    hls.sweep();
    metrics::gauge!("oryx_hls_streams").set(hls.stream_ids().len() as f64);
    metrics::gauge!("oryx_hls_memory_bytes").set(hls.memory_bytes() as f64);
}

/// A slow player skipped `frames` frames ahead to a keyframe (called by the hub).
pub fn player_skipped(frames: u64) {
    metrics::counter!("oryx_player_dropped_frames_total").increment(frames);
    metrics::counter!("oryx_player_skips_total").increment(1);
}

/// A player fell behind too often and is disconnected (called by the hub).
pub fn player_too_slow() {
    metrics::counter!("oryx_player_too_slow_total").increment(1);
}

/// System figures for `/api/v1/summaries` (zeros where `/proc` is unavailable).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SystemSample {
    pub cpus: usize,
    pub uptime_secs: f64,
    pub load_1m: f64,
    pub load_5m: f64,
    pub load_15m: f64,
    pub mem_ram_kbyte: u64,
    pub mem_ram_percent: f64,
}

pub fn system_sample() -> SystemSample {
    let mut sample = SystemSample {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..SystemSample::default()
    };
    if let Ok(text) = std::fs::read_to_string("/proc/loadavg") {
        let mut loads = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
        sample.load_1m = loads.next().unwrap_or(0.0);
        sample.load_5m = loads.next().unwrap_or(0.0);
        sample.load_15m = loads.next().unwrap_or(0.0);
    }
    if let Ok(text) = std::fs::read_to_string("/proc/uptime") {
        sample.uptime_secs = text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
    }
    if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
        let total = meminfo_kbyte(&text, "MemTotal:");
        let available = meminfo_kbyte(&text, "MemAvailable:");
        sample.mem_ram_kbyte = total;
        if total > 0 {
            sample.mem_ram_percent =
                (total.saturating_sub(available)) as f64 * 100.0 / total as f64;
        }
    }
    sample
}

fn meminfo_kbyte(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// This process's figures for `/api/v1/summaries`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessSample {
    pub ppid: u32,
    pub rss_kbyte: u64,
    /// Average CPU use since the process started (100 = one core).
    pub cpu_percent: f64,
}

pub fn process_sample() -> ProcessSample {
    let mut sample = ProcessSample::default();
    if let Ok(text) = std::fs::read_to_string("/proc/self/status") {
        sample.rss_kbyte = meminfo_kbyte(&text, "VmRSS:");
    }
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name (which may itself contain spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // With the state at index 0: ppid 1, utime 11, stime 12, starttime 19 (proc(5) fields 4, 14, 15, 22).
    sample.ppid = field(1) as u32;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_sec > 0 {
        let ticks_per_sec = ticks_per_sec as f64;
        let cpu_secs = (field(11) + field(12)) as f64 / ticks_per_sec;
        let started_secs = field(19) as f64 / ticks_per_sec;
        let alive = system_sample().uptime_secs - started_secs;
        if alive > 0.0 {
            sample.cpu_percent = cpu_secs * 100.0 / alive;
        }
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_and_system() {
        let process = process_sample();
        assert!(process.rss_kbyte > 0);
        assert!(process.ppid > 0);
        assert!(process.cpu_percent >= 0.0);
        let system = system_sample();
        assert!(system.cpus >= 1);
        assert!(system.mem_ram_kbyte > 0);
        assert!(system.uptime_secs > 0.0);
    }

    #[test]
    fn reads_meminfo_lines() {
        let text = "MemTotal:       16314064 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(meminfo_kbyte(text, "MemTotal:"), 16_314_064);
        assert_eq!(meminfo_kbyte(text, "MemAvailable:"), 8_000_000);
        assert_eq!(meminfo_kbyte(text, "Nope:"), 0);
    }
}
