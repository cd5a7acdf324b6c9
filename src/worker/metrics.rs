//! Worker metrics: the 30 s byte rates of streams and clients (sampled like SRS's `kbps`), the
//! Prometheus section `/metrics` renders from the hub at scrape time (so a disposed stream's series
//! disappear with it), and the process/system figures the SRS-style `/api/v1/summaries` reports.

use crate::worker::hls::{HlsStore, StreamName};
use crate::worker::hub::Hub;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often byte counters are sampled (and dead HLS streams swept).
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(2);
/// The window of the `recv_30s`/`send_30s` rates.
pub const RATE_WINDOW: Duration = Duration::from_secs(30);
/// Samples kept per stream or client: the window at [`SAMPLE_INTERVAL`] plus slack for a late tick.
const MAX_SAMPLES: usize = 32;
/// A baseline younger than this gives too noisy a rate: report 0 as SRS does before its first sample.
const MIN_RATE_SPAN: Duration = Duration::from_secs(1);

/// Kilobits per second received and sent over the last [`RATE_WINDOW`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Kbps {
    pub recv_30s: u64,
    pub send_30s: u64,
}

/// One sample of a byte counter pair.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    recv: u64,
    send: u64,
}

/// Periodic samples of the byte counters of every stream and client (keyed by their hub id, which
/// streams and clients draw from one sequence), from which 30 s rates are computed. Ids no longer
/// present at a sampling are forgotten, so memory follows the live streams and clients.
#[derive(Default)]
pub struct Rates {
    windows: Mutex<HashMap<u64, VecDeque<Sample>>>,
}

impl Rates {
    pub fn new() -> Arc<Rates> {
        Arc::new(Rates::default())
    }

    /// Records `(id, recv_bytes, send_bytes)` for everything alive at `now`; forgets the rest.
    pub fn sample(&self, now: Instant, counters: impl IntoIterator<Item = (u64, u64, u64)>) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut alive = HashMap::with_capacity(windows.len());
        for (id, recv, send) in counters {
            let mut samples = windows.remove(&id).unwrap_or_default();
            samples.push_back(Sample {
                at: now,
                recv,
                send,
            });
            // Keep exactly one sample at least a window old: it is the baseline.
            while samples.len() > MAX_SAMPLES
                || samples
                    .get(1)
                    .is_some_and(|next| now.saturating_duration_since(next.at) >= RATE_WINDOW)
            {
                samples.pop_front();
            }
            alive.insert(id, samples);
        }
        *windows = alive;
    }

    /// The rates of `id` whose counters read `recv`/`send` at `now`, against the oldest sample in
    /// the window; zeros until the id has been sampled long enough.
    pub fn kbps(&self, id: u64, recv: u64, send: u64, now: Instant) -> Kbps {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let Some(base) = windows
            .get(&id)
            .and_then(|samples| samples.front())
            .copied()
        else {
            return Kbps::default();
        };
        let span = now.saturating_duration_since(base.at);
        if span < MIN_RATE_SPAN {
            return Kbps::default();
        }
        let rate = |now_bytes: u64, then_bytes: u64| {
            (now_bytes.saturating_sub(then_bytes) as f64 * 8.0 / 1000.0 / span.as_secs_f64()) as u64
        };
        Kbps {
            recv_30s: rate(recv, base.recv),
            send_30s: rate(send, base.send),
        }
    }

    /// Ids with samples (for tests and bounds checks).
    pub fn tracked(&self) -> usize {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Every [`SAMPLE_INTERVAL`] until the runtime ends: samples the byte counters of the hub's streams
/// and clients into `rates`, and sweeps HLS streams whose publisher left long ago (so they go even
/// if nobody publishes again).
pub fn spawn_sampler(hub: Arc<Hub>, hls: HlsStore, rates: Arc<Rates>) {
    super::counters::register();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            sample(&hub, &rates);
            hls.sweep();
        }
    });
}

/// One sampling of every stream's and client's byte counters.
pub fn sample(hub: &Hub, rates: &Rates) {
    let streams = hub.streams();
    let clients = hub.clients();
    let counters = streams
        .iter()
        .map(|s| (s.id, s.recv_bytes, s.send_bytes))
        .chain(clients.iter().map(|c| (c.id, c.recv_bytes, c.send_bytes)));
    rates.sample(Instant::now(), counters);
}

/// Escapes a Prometheus label value (backslash, double quote, newline).
fn label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A metric family: its HELP and TYPE lines, then one line per series.
fn family(out: &mut String, name: &str, kind: &str, help: &str, series: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in series {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// The worker's section of `/metrics`, rendered from the hub now: connections, streams, and per
/// live stream (labels `vhost`, `app`, `stream`) bytes in and out, frames, clients, 30 s rates and
/// frames HLS dropped. Streams the hub disposed of are simply absent, so series never pile up.
///
/// Long, but a table: one `family` call per metric, in the order `/metrics` lists them, so a
/// metric's name, type and help read in one place.
pub fn exposition(hub: &Hub, hls: &HlsStore, rates: &Rates) -> String {
    let streams = hub.streams();
    let now = Instant::now();
    let mut out = String::new();
    family(
        &mut out,
        "oryx_connections",
        "gauge",
        "Open client connections (RTMP and HTTP-FLV).",
        &[(String::new(), hub.connection_count() as f64)],
    );
    family(
        &mut out,
        "oryx_streams",
        "gauge",
        "Streams the worker knows (published or waited for by players).",
        &[(String::new(), streams.len() as f64)],
    );
    let publishing = streams
        .iter()
        .filter(|s| s.publisher_client.is_some())
        .count();
    family(
        &mut out,
        "oryx_streams_published",
        "gauge",
        "Streams with a publisher.",
        &[(String::new(), publishing as f64)],
    );
    let mut recv = Vec::with_capacity(streams.len());
    let mut send = Vec::with_capacity(streams.len());
    let mut frames = Vec::with_capacity(streams.len());
    let mut clients = Vec::with_capacity(streams.len());
    let mut kbps_recv = Vec::with_capacity(streams.len());
    let mut kbps_send = Vec::with_capacity(streams.len());
    let mut dropped = Vec::with_capacity(streams.len());
    for stream in &streams {
        let labels = format!(
            "{{vhost=\"{}\",app=\"{}\",stream=\"{}\"}}",
            label_value(&stream.vhost),
            label_value(&stream.app),
            label_value(&stream.name)
        );
        let kbps = rates.kbps(stream.id, stream.recv_bytes, stream.send_bytes, now);
        let id = StreamName::new(&stream.vhost, &stream.app, &stream.name);
        recv.push((labels.clone(), stream.recv_bytes as f64));
        send.push((labels.clone(), stream.send_bytes as f64));
        frames.push((labels.clone(), stream.frames as f64));
        clients.push((labels.clone(), f64::from(stream.clients)));
        kbps_recv.push((labels.clone(), kbps.recv_30s as f64));
        kbps_send.push((labels.clone(), kbps.send_30s as f64));
        dropped.push((labels, hls.dropped_frames(&id) as f64));
    }
    family(
        &mut out,
        "oryx_stream_recv_bytes_total",
        "counter",
        "Bytes received from the stream's publishers.",
        &recv,
    );
    family(
        &mut out,
        "oryx_stream_send_bytes_total",
        "counter",
        "Bytes sent to the stream's players.",
        &send,
    );
    family(
        &mut out,
        "oryx_stream_frames_total",
        "counter",
        "Audio, video and data frames the stream received.",
        &frames,
    );
    family(
        &mut out,
        "oryx_stream_clients",
        "gauge",
        "Publisher and players of the stream.",
        &clients,
    );
    family(
        &mut out,
        "oryx_stream_recv_kbps",
        "gauge",
        "Receive rate over the last 30 s, kbit/s.",
        &kbps_recv,
    );
    family(
        &mut out,
        "oryx_stream_send_kbps",
        "gauge",
        "Send rate over the last 30 s, kbit/s.",
        &kbps_send,
    );
    family(
        &mut out,
        "oryx_stream_hls_dropped_frames_total",
        "counter",
        "Frames HLS dropped for the stream (before the first keyframe, malformed).",
        &dropped,
    );
    family(
        &mut out,
        "oryx_hls_streams",
        "gauge",
        "Streams HLS holds segments for (live or recently ended).",
        &[(String::new(), hls.stream_ids().len() as f64)],
    );
    family(
        &mut out,
        "oryx_hls_memory_bytes",
        "gauge",
        "Bytes of HLS segments held in memory.",
        &[(String::new(), hls.memory_bytes() as f64)],
    );
    out
}

/// The worker's child processes in `/metrics`: `oryx_children{kind}` running now and
/// `oryx_child_restarts_total{kind}` (`kind` is `exec` or `transcode`).
pub fn children_exposition(children: &crate::worker::children::Children) -> String {
    let counts = children.counts();
    let series = |pick: fn(&(&str, u64, u64)) -> u64| -> Vec<(String, f64)> {
        counts
            .iter()
            .map(|c| (format!("{{kind=\"{}\"}}", c.0), pick(c) as f64))
            .collect()
    };
    let mut out = String::new();
    family(
        &mut out,
        "oryx_children",
        "gauge",
        "Child processes of published streams (exec, transcode) running now.",
        &series(|c| c.1),
    );
    family(
        &mut out,
        "oryx_child_restarts_total",
        "counter",
        "Restarts of child processes of published streams.",
        &series(|c| c.2),
    );
    out
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

/// The forwards' section of `/metrics` (label `url`, query values masked): connected (0/1), bytes
/// sent, reconnects and frames skipped for a slow target. Forwards of the same URL add up; a
/// forward is listed while its publish lasts.
pub fn forward_exposition(forwards: &crate::worker::forward::Forwards) -> String {
    use crate::worker::forward::State;
    let mut by_url: std::collections::BTreeMap<String, [f64; 4]> = Default::default();
    for f in forwards.all() {
        let entry = by_url.entry(f.url.clone()).or_default();
        entry[0] = entry[0].max(f64::from(u8::from(f.state == State::Connected)));
        entry[1] += f.bytes as f64;
        entry[2] += f.reconnects as f64;
        entry[3] += f.skipped_frames as f64;
    }
    let series = |i: usize| -> Vec<(String, f64)> {
        by_url
            .iter()
            .map(|(url, values)| (format!("{{url=\"{}\"}}", label_value(url)), values[i]))
            .collect()
    };
    let mut out = String::new();
    let families = [
        (
            "oryx_forward_connected",
            "gauge",
            "1 while the forward publishes to its target.",
        ),
        (
            "oryx_forward_bytes_total",
            "counter",
            "Bytes sent to the forward's target.",
        ),
        (
            "oryx_forward_reconnects_total",
            "counter",
            "Connection attempts after a failure.",
        ),
        (
            "oryx_forward_skipped_frames_total",
            "counter",
            "Frames dropped because the target could not keep up (skipped to a keyframe).",
        ),
    ];
    for (i, (name, kind, help)) in families.into_iter().enumerate() {
        family(&mut out, name, kind, help, &series(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::hub::tests::settings as stream_settings;
    use crate::worker::hub::{Frame, FrameKind};
    use bytes::Bytes;

    #[test]
    fn rates_cover_the_last_thirty_seconds() {
        let rates = Rates::default();
        let start = Instant::now();
        // 10 kB/s for 40 s, then 20 kB/s for 30 s, sampled every 2 s.
        let mut bytes = 0u64;
        for tick in 0..=35u64 {
            let at = start + Duration::from_secs(tick * 2);
            rates.sample(at, [(1, bytes, bytes / 2)]);
            bytes += if tick < 20 { 20_000 } else { 40_000 };
        }
        let now = start + Duration::from_secs(71);
        let recv_now = bytes - 20_000;
        let kbps = rates.kbps(1, recv_now, recv_now / 2, now);
        // The window only holds the 20 kB/s part: 160 kbit/s received, half of it sent.
        assert!((155..=165).contains(&kbps.recv_30s), "{kbps:?}");
        assert!((77..=83).contains(&kbps.send_30s), "{kbps:?}");
        let windows = rates.windows.lock().unwrap();
        let span = now.duration_since(windows[&1].front().unwrap().at);
        assert!(
            span >= RATE_WINDOW && span <= RATE_WINDOW + SAMPLE_INTERVAL + Duration::from_secs(1)
        );
    }

    #[test]
    fn rates_start_at_zero_and_forget_the_departed() {
        let rates = Rates::default();
        let start = Instant::now();
        assert_eq!(rates.kbps(5, 1000, 1000, start), Kbps::default());
        rates.sample(start, [(5, 0, 0), (6, 0, 0)]);
        // Too young a baseline gives no rate yet.
        assert_eq!(
            rates.kbps(5, 1000, 0, start + Duration::from_millis(200)),
            Kbps::default()
        );
        // 125 000 bytes in 2 s = 500 kbit/s.
        let later = start + Duration::from_secs(2);
        assert_eq!(
            rates.kbps(5, 0, 125_000, later),
            Kbps {
                recv_30s: 0,
                send_30s: 500
            }
        );
        rates.sample(later, [(6, 10, 10)]);
        assert_eq!(rates.tracked(), 1);
        assert_eq!(rates.kbps(5, 0, 125_000, later), Kbps::default());
        // Counters that went backwards never give a huge rate.
        assert_eq!(
            rates.kbps(6, 0, 0, later + Duration::from_secs(5)),
            Kbps::default()
        );
    }

    #[test]
    fn exposition_lists_live_streams_only() {
        let hub = Hub::new(stream_settings());
        let hls = HlsStore::new(stream_settings().hls);
        let rates = Rates::default();
        let name = crate::stream_name::StreamName::from_rtmp(
            crate::stream_name::VhostRule::HostName,
            "rtmp://127.0.0.1/live",
            "live",
            "cam\\\"q\nx",
        );
        let mut publisher = hub.publish(&name, "rtmp://127.0.0.1/live", 1).unwrap();
        publisher.push(Frame {
            kind: FrameKind::Video,
            timestamp: 0,
            payload: Bytes::from_static(&[0x17, 1, 0, 0, 0, 9, 9, 9]),
        });
        let text = exposition(&hub, &hls, &rates);
        let labels = r#"{vhost="__defaultVhost__",app="live",stream="cam\\\"q\nx"}"#;
        assert!(
            text.contains("# TYPE oryx_stream_recv_bytes_total counter"),
            "{text}"
        );
        assert!(
            text.contains(&format!("oryx_stream_recv_bytes_total{labels} 8")),
            "{text}"
        );
        assert!(
            text.contains(&format!("oryx_stream_frames_total{labels} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("oryx_stream_clients{labels} 1")),
            "{text}"
        );
        assert!(text.contains("oryx_streams 1\n"), "{text}");
        assert!(text.contains("oryx_streams_published 1\n"), "{text}");
        drop(publisher);
        let text = exposition(&hub, &hls, &rates);
        assert!(!text.contains("stream=\""), "{text}");
        assert!(text.contains("oryx_streams 0\n"), "{text}");
        // Many short streams leave nothing behind, neither series nor rate samples.
        for n in 0..50 {
            let name = crate::stream_name::StreamName::from_rtmp(
                crate::stream_name::VhostRule::HostName,
                "rtmp://127.0.0.1/live",
                "live",
                &format!("short-{n}"),
            );
            let publisher = hub.publish(&name, "rtmp://127.0.0.1/live", 2).unwrap();
            sample(&hub, &rates);
            assert_eq!(rates.tracked(), 1);
            drop(publisher);
        }
        sample(&hub, &rates);
        assert_eq!(rates.tracked(), 0);
        let text = exposition(&hub, &hls, &rates);
        assert!(!text.contains("short-"), "{text}");
        // Every line is a comment or `name{labels} value` with a numeric value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("series line");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

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
