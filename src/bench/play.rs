//! `oryx bench play URL --players N --seconds S`: many RTMP(S) or HTTP-FLV players in one process.
//!
//! Every player is a small task on one tokio runtime (RTMP players drive oryx's own client session),
//! so thousands of them cost far less than thousands of rtmpdump processes and the load generator is
//! not what limits the measurement. Reports delivered Mbit/s, bytes per player, stalls (gaps of more
//! than a second once media flows) and time to first media byte.

use crate::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use anyhow::Context;
use rustls::pki_types::ServerName;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A gap this long without data, once media flows, counts as one stall.
const STALL_GAP: Duration = Duration::from_secs(1);
/// Players connect in waves so the server's accept backlog is not the bottleneck.
const WAVE: usize = 50;
const WAVE_PAUSE: Duration = Duration::from_millis(20);

/// What one player saw.
#[derive(Debug, Default, Clone)]
struct PlayerResult {
    connected: bool,
    error: Option<String>,
    /// Media bytes received during the measured window.
    bytes: u64,
    first_byte: Option<Duration>,
    stalls: u32,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub players: u32,
    pub connected: u32,
    pub failed: u32,
    pub seconds: f64,
    pub total_bytes: u64,
    pub mbit_per_s: f64,
    pub bytes_per_player_avg: u64,
    pub bytes_per_player_min: u64,
    pub bytes_per_player_max: u64,
    pub stalls: u32,
    pub players_with_stalls: u32,
    pub first_byte_ms_p50: f64,
    pub first_byte_ms_p95: f64,
    pub first_byte_ms_max: f64,
    pub first_error: Option<String>,
}

/// What `oryx bench play` runs.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// `rtmp://HOST:PORT/APP/STREAM` or `http://HOST:PORT/APP/STREAM.flv`.
    pub url: String,
    /// Concurrent players.
    pub players: u32,
    /// How long the measured window lasts.
    pub seconds: u64,
    /// Seconds played before the measured window starts (bytes received then are not counted).
    pub warmup: u64,
    /// Print the report as JSON.
    pub json: bool,
    /// A CA to trust for `rtmps://` besides the Web PKI roots.
    pub ca: Option<String>,
}

enum Target {
    /// With the TLS client and server name for `rtmps://`.
    Rtmp(ClientConfig, Option<(TlsConnector, ServerName<'static>)>),
    Flv {
        address: String,
        request: String,
    },
}

fn parse_target(url: &str, ca: Option<&str>) -> anyhow::Result<Target> {
    if url.starts_with("rtmp://") {
        let config =
            ClientConfig::from_url(url, ClientMode::Play).map_err(|e| anyhow::anyhow!(e))?;
        return Ok(Target::Rtmp(config, None));
    }
    if let Some(rest) = url.strip_prefix("rtmps://") {
        let mut config = ClientConfig::from_url(&format!("rtmp://{rest}"), ClientMode::Play)
            .map_err(|e| anyhow::anyhow!(e))?;
        if !rest.split('/').next().unwrap_or("").contains(':') {
            config.address = config.address.replace(":1935", ":443");
        }
        config.tc_url = config.tc_url.replacen("rtmp://", "rtmps://", 1);
        let host = config.address.rsplit_once(':').map_or("", |(h, _)| h);
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
            .with_context(|| format!("{url}: {host:?} is not a TLS server name"))?;
        let tls = crate::net::https_client::rtmps_client_config(ca)?;
        return Ok(Target::Rtmp(config, Some((TlsConnector::from(tls), name))));
    }
    let rest = url.strip_prefix("http://").with_context(|| {
        format!("{url}: use rtmp(s)://HOST/APP/STREAM or http://HOST/APP/STREAM.flv")
    })?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let address = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let request = format!(
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: oryx-bench\r\nConnection: close\r\n\r\n"
    );
    Ok(Target::Flv { address, request })
}

/// Raise the open-file limit to its hard maximum: each player is a socket.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

pub fn run(options: &PlayOptions) -> anyhow::Result<()> {
    if options.players == 0 || options.seconds == 0 {
        anyhow::bail!("--players and --seconds must be at least 1");
    }
    let target = Arc::new(parse_target(&options.url, options.ca.as_deref())?);
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(drive(target, options))?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    if report.connected == 0 {
        anyhow::bail!(
            "no player could play {}: {}",
            report.url,
            report.first_error.as_deref().unwrap_or("unknown error")
        );
    }
    Ok(())
}

async fn drive(target: Arc<Target>, options: &PlayOptions) -> anyhow::Result<Report> {
    let duration = Duration::from_secs(options.seconds);
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(options.warmup);
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(options.players as usize);
    for i in 0..options.players as usize {
        if i > 0 && i % WAVE == 0 {
            tokio::time::sleep(WAVE_PAUSE).await;
        }
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::from_std(end);
            let mut result = PlayerResult::default();
            let outcome =
                tokio::time::timeout_at(deadline, play(&target, measure_from, &mut result)).await;
            if let Ok(Err(err)) = outcome {
                result.error = Some(format!("{err:#}"));
            }
            result
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap_or_default());
    }
    let measured = Instant::now().saturating_duration_since(measure_from);
    Ok(summarize(
        &options.url,
        options.players,
        measured.as_secs_f64(),
        &results,
    ))
}

/// Tracks first byte and stalls for one player.
struct Meter<'a> {
    result: &'a mut PlayerResult,
    start: Instant,
    /// Bytes count only from here (after the warm-up).
    measure_from: Instant,
    last: Option<Instant>,
}

impl Meter<'_> {
    fn media(&mut self, n: usize) {
        let now = Instant::now();
        if self.result.first_byte.is_none() {
            self.result.first_byte = Some(now - self.start);
        }
        if let Some(last) = self.last {
            if now - last > STALL_GAP {
                self.result.stalls += 1;
            }
        }
        self.last = Some(now);
        if now >= self.measure_from {
            self.result.bytes += n as u64;
        }
    }
}

async fn play(
    target: &Target,
    measure_from: Instant,
    result: &mut PlayerResult,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut meter = Meter {
        result,
        start,
        measure_from,
        last: None,
    };
    match target {
        Target::Rtmp(config, tls) => {
            let sock = TcpStream::connect(&config.address).await?;
            sock.set_nodelay(true)?;
            match tls {
                None => play_rtmp(sock, config, &mut meter, &mut buf).await,
                Some((connector, name)) => {
                    let sock = connector.connect(name.clone(), sock).await?;
                    play_rtmp(sock, config, &mut meter, &mut buf).await
                }
            }
        }
        Target::Flv { address, request } => {
            let mut sock = TcpStream::connect(address).await?;
            sock.write_all(request.as_bytes()).await?;
            let mut head = Vec::new();
            loop {
                let n = sock.read(&mut buf).await?;
                if n == 0 {
                    anyhow::bail!("server closed the connection");
                }
                if meter.result.connected {
                    meter.media(n);
                    continue;
                }
                head.extend_from_slice(&buf[..n]);
                if head.len() > 64 * 1024 {
                    anyhow::bail!("HTTP response head too long");
                }
                if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    let status = String::from_utf8_lossy(&head[..end]).to_string();
                    if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
                        anyhow::bail!(
                            "HTTP: {}",
                            status.lines().next().unwrap_or("no status line")
                        );
                    }
                    meter.result.connected = true;
                    let body = head.len() - end - 4;
                    if body > 0 {
                        meter.media(body);
                    }
                }
            }
        }
    }
}

/// One RTMP player over `sock` (TCP, or TLS for `rtmps://`) until it fails or is stopped.
async fn play_rtmp<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    config: &ClientConfig,
    meter: &mut Meter<'_>,
    buf: &mut [u8],
) -> anyhow::Result<()> {
    let mut session = ClientSession::new(config.clone());
    sock.write_all(&session.take_output()).await?;
    sock.flush().await?;
    loop {
        let n = sock.read(buf).await?;
        if n == 0 {
            anyhow::bail!("server closed the connection");
        }
        for event in session.feed(&buf[..n])? {
            match event {
                ClientEvent::Started => meter.result.connected = true,
                ClientEvent::Media { payload, .. } => meter.media(payload.len()),
                ClientEvent::Status { level, code, .. } if level == "error" => {
                    anyhow::bail!("{code}")
                }
                ClientEvent::CommandError { description } => anyhow::bail!(description),
                _ => {}
            }
        }
        let out = session.take_output();
        if !out.is_empty() {
            sock.write_all(&out).await?;
            sock.flush().await?;
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summarize(url: &str, players: u32, seconds: f64, results: &[PlayerResult]) -> Report {
    let connected: Vec<&PlayerResult> = results.iter().filter(|r| r.connected).collect();
    let total_bytes: u64 = results.iter().map(|r| r.bytes).sum();
    let bytes: Vec<u64> = connected.iter().map(|r| r.bytes).collect();
    let mut first: Vec<f64> = connected
        .iter()
        .filter_map(|r| r.first_byte)
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    first.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Report {
        url: url.to_string(),
        players,
        connected: connected.len() as u32,
        failed: results.iter().filter(|r| !r.connected).count() as u32,
        seconds,
        total_bytes,
        mbit_per_s: total_bytes as f64 * 8.0 / 1e6 / seconds.max(0.001),
        bytes_per_player_avg: if bytes.is_empty() {
            0
        } else {
            bytes.iter().sum::<u64>() / bytes.len() as u64
        },
        bytes_per_player_min: bytes.iter().copied().min().unwrap_or(0),
        bytes_per_player_max: bytes.iter().copied().max().unwrap_or(0),
        stalls: results.iter().map(|r| r.stalls).sum(),
        players_with_stalls: results.iter().filter(|r| r.stalls > 0).count() as u32,
        first_byte_ms_p50: percentile(&first, 0.5),
        first_byte_ms_p95: percentile(&first, 0.95),
        first_byte_ms_max: first.last().copied().unwrap_or(0.0),
        first_error: results.iter().find_map(|r| r.error.clone()),
    }
}

fn print_human(r: &Report) {
    println!("url              {}", r.url);
    println!(
        "players          {} ({} playing, {} failed)",
        r.players, r.connected, r.failed
    );
    println!(
        "delivered        {:.1} Mbit/s over {:.1} s ({} bytes)",
        r.mbit_per_s, r.seconds, r.total_bytes
    );
    println!(
        "per player       avg {} B, min {} B, max {} B",
        r.bytes_per_player_avg, r.bytes_per_player_min, r.bytes_per_player_max
    );
    println!(
        "stalls           {} ({} players)",
        r.stalls, r.players_with_stalls
    );
    println!(
        "first byte       p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        r.first_byte_ms_p50, r.first_byte_ms_p95, r.first_byte_ms_max
    );
    if let Some(err) = &r.first_error {
        println!("first error      {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert!(matches!(
            parse_target("rtmp://127.0.0.1:1935/live/s", None).unwrap(),
            Target::Rtmp(_, None)
        ));
        match parse_target("rtmps://localhost/live/s", None).unwrap() {
            Target::Rtmp(config, Some((_, name))) => {
                assert_eq!(config.address, "localhost:443");
                assert_eq!(config.tc_url, "rtmps://localhost/live");
                assert_eq!(name.to_str(), "localhost");
            }
            _ => panic!("expected rtmps"),
        }
        match parse_target("http://127.0.0.1:8080/live/s.flv", None).unwrap() {
            Target::Flv { address, request } => {
                assert_eq!(address, "127.0.0.1:8080");
                assert!(request.starts_with("GET /live/s.flv HTTP/1.1\r\n"));
            }
            Target::Rtmp(..) => panic!("expected flv"),
        }
        assert!(parse_target("ftp://x/y", None).is_err());
    }

    #[test]
    fn summary_counts_stalls_and_percentiles() {
        let results = vec![
            PlayerResult {
                connected: true,
                bytes: 100,
                first_byte: Some(Duration::from_millis(10)),
                stalls: 1,
                error: None,
            },
            PlayerResult {
                connected: true,
                bytes: 300,
                first_byte: Some(Duration::from_millis(30)),
                stalls: 0,
                error: None,
            },
            PlayerResult {
                error: Some("refused".into()),
                ..PlayerResult::default()
            },
        ];
        let r = summarize("u", 3, 1.0, &results);
        assert_eq!((r.connected, r.failed, r.stalls), (2, 1, 1));
        assert_eq!(r.bytes_per_player_avg, 200);
        assert_eq!(r.first_byte_ms_max, 30.0);
        assert_eq!(r.first_error.as_deref(), Some("refused"));
        assert!((r.mbit_per_s - 0.0032).abs() < 1e-9);
    }
}
