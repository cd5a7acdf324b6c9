//! A native ingest's life: pull the source (RTMP play or HTTP-FLV), publish each tag to the target
//! as it came (metadata, sequence headers, frames, timestamps), and when either side goes away start
//! over after a capped backoff: logged once per outage with its reason, every attempt counted.

use super::flv_pull::FlvPull;
use super::source::SourceKind;
use super::stats::Stats;
use crate::media::flv::FlvTag;
use crate::net::rtmp_conn::RtmpConn;
use crate::rtmp::client::ClientMode;
use anyhow::anyhow;
use std::time::{Duration, Instant};

/// First delay before a reconnect; doubles per failed attempt up to [`BACKOFF_CAP`].
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// A connection that carried media this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// A source that sends nothing for this long is dropped and asked again (a half-open TCP
/// connection, an upstream that lost its publisher but keeps its players).
const SOURCE_IDLE: Duration = Duration::from_secs(10);

/// What an ingest pulls from and publishes to.
pub struct Route {
    pub from: String,
    /// `from` as the log may show it.
    pub shown_from: String,
    pub kind: SourceKind,
    /// Target `rtmp://` URLs, best first.
    pub targets: Vec<String>,
}

/// Pull and publish until the task is dropped.
pub async fn run(route: Route, stats: Stats) {
    let mut delay = BACKOFF_FIRST;
    // When the current outage began and how many attempts it took, while there is one.
    let mut outage: Option<(Instant, u64)> = None;
    let mut first = true;
    loop {
        if !first {
            stats.reconnect();
        }
        first = false;
        let mut flowing_since = None;
        let err = session(&route, &stats, &mut flowing_since, &mut outage).await;
        stats.set_connected(false);
        let reason = format!("{err:#}");
        stats.set_error(Some(reason.clone()));
        let flowed = flowing_since.map(|at: Instant| at.elapsed());
        delay = match flowed {
            Some(flowed) if flowed >= STABLE_AFTER => BACKOFF_FIRST,
            _ => delay,
        };
        match &mut outage {
            None => {
                tracing::warn!(from = %route.shown_from, %reason, retry_in = ?delay,
                    "ingest interrupted; reconnecting until it is back");
                outage = Some((Instant::now(), 1));
            }
            Some((_, attempts)) => {
                *attempts += 1;
                tracing::debug!(from = %route.shown_from, %reason, retry_in = ?delay, "still down");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BACKOFF_CAP);
    }
}

/// One connection to each side, until one fails; returns why.
async fn session(
    route: &Route,
    stats: &Stats,
    flowing_since: &mut Option<Instant>,
    outage: &mut Option<(Instant, u64)>,
) -> anyhow::Error {
    let shown = &route.shown_from;
    let mut source = match Source::start(route).await {
        Ok(source) => source,
        Err(err) => return err.context(format!("source {shown}")),
    };
    // The target is asked only once the source has media, so a dead source leaves no empty stream.
    let first = match source.next_tag().await {
        Ok(tag) => tag,
        Err(err) => return err.context(format!("source {shown}")),
    };
    let (mut target, url) = match publish(&route.targets).await {
        Ok(target) => target,
        Err(err) => return err,
    };
    if let Err(err) = target.send(&first).await {
        return err.context(format!("target {url}"));
    }
    stats.add_bytes(first.payload.len() as u64);
    stats.set_connected(true);
    stats.set_error(None);
    *flowing_since = Some(Instant::now());
    match outage.take() {
        Some((since, attempts)) => tracing::info!(from = %shown, target = %url,
            down = ?since.elapsed(), attempts, "ingest back"),
        None => tracing::info!(from = %shown, target = %url, "ingest publishing"),
    }
    loop {
        tokio::select! {
            tag = source.next_tag() => {
                let tag = match tag {
                    Ok(tag) => tag,
                    Err(err) => return err.context(format!("source {shown}")),
                };
                if let Err(err) = target.send(&tag).await {
                    return err.context(format!("target {url}"));
                }
                stats.add_bytes(tag.payload.len() as u64);
            }
            pumped = target.pump() => {
                if let Err(err) = pumped {
                    return err.context(format!("target {url}"));
                }
            }
        }
    }
}

/// Publish to the first target that takes the stream.
async fn publish(targets: &[String]) -> Result<(RtmpConn, String), anyhow::Error> {
    let mut last = anyhow!("no target to publish to");
    for url in targets {
        match RtmpConn::start(url, ClientMode::Publish).await {
            Ok(conn) => return Ok((conn, url.clone())),
            Err(err) => last = err.context(format!("target {url}")),
        }
    }
    Err(last)
}

/// A connected source.
enum Source {
    Rtmp(Box<RtmpConn>),
    Flv(Box<FlvPull>),
}

impl Source {
    async fn start(route: &Route) -> anyhow::Result<Source> {
        match route.kind {
            SourceKind::Rtmp => Ok(Source::Rtmp(Box::new(
                RtmpConn::start(&route.from, ClientMode::Play).await?,
            ))),
            SourceKind::HttpFlv => Ok(Source::Flv(Box::new(FlvPull::start(&route.from).await?))),
            SourceKind::Ffmpeg { .. } => Err(anyhow!("not a native source")),
        }
    }

    /// The next tag, or an error after [`SOURCE_IDLE`] without one. Cancel-safe.
    async fn next_tag(&mut self) -> anyhow::Result<FlvTag> {
        let next = async {
            match self {
                Source::Rtmp(conn) => conn.next_tag().await,
                Source::Flv(pull) => pull.next_tag().await,
            }
        };
        tokio::time::timeout(SOURCE_IDLE, next)
            .await
            .map_err(|_| anyhow!("nothing received for {SOURCE_IDLE:?}"))?
    }
}
