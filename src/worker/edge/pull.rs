//! One pull: play the stream on an origin worker with oryx's RTMP client
//! ([`crate::net::rtmp_conn`]) and publish what comes into this worker's hub, so the GOP cache and
//! every protocol serve it from here. A failure (the origin restarted, its publisher left for
//! longer than its `play-wait`, nothing received for [`IDLE`]) drops the hub's publisher (players
//! wait for the next one, as on any republish) and the pull tries again after a backoff, asking
//! again which origin publishes the stream. The task ends when the table says the stream's
//! demand is gone (`super::Edge`).

use super::origin;
use super::status::{PullStatus, State};
use crate::compile::plan::WorkerPlan;
use crate::net::rtmp_conn::RtmpConn;
use crate::rtmp::client::ClientMode;
use crate::stream_name::StreamName;
use crate::worker::hub::{ClientKind, Frame, Hub};
use anyhow::anyhow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first wait after a failure; doubles up to [`BACKOFF_CAP`].
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(4);
/// A pull that carried media this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// An origin that sends nothing for this long is asked again (it may not have the stream, and
/// another origin may have it by now).
const IDLE: Duration = Duration::from_secs(10);

/// What a pull needs: the stream, the hub to feed, the origin group, its status.
pub struct PullTask {
    pub name: StreamName,
    pub hub: Arc<Hub>,
    pub origins: Vec<WorkerPlan>,
    pub status: Arc<PullStatus>,
}

impl PullTask {
    /// Pull until dropped (the edge's table cancels it when the demand is gone).
    pub async fn run(self) {
        let key = self.name.key();
        let mut backoff = BACKOFF_FIRST;
        let mut down_since: Option<Instant> = None;
        loop {
            let candidates = origin::candidates(&self.origins, &key).await;
            let Some(origin) = candidates.first() else {
                self.status
                    .set_error(Some("the origin group has no worker".into()));
                self.status.set_state(State::Backoff);
                tokio::time::sleep(BACKOFF_CAP).await;
                continue;
            };
            self.status.attempt(&origin.name);
            let mut flowed = None;
            let err = self.session(origin, &mut flowed).await;
            let reason = format!("{err:#}");
            if flowed.is_some_and(|d: Duration| d >= STABLE_AFTER) {
                backoff = BACKOFF_FIRST;
            }
            if down_since.is_none() || flowed.is_some() {
                tracing::warn!(stream = %key, origin = %origin.name, %reason, retry_in = ?backoff,
                    "edge pull interrupted");
                down_since = Some(Instant::now());
            } else {
                tracing::debug!(stream = %key, origin = %origin.name, %reason, "edge pull still down");
            }
            self.status.set_error(Some(reason));
            self.status.set_state(State::Backoff);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_CAP);
        }
    }

    /// One connection to `origin`: returns why it ended; `flowed` is how long media came.
    async fn session(&self, origin: &WorkerPlan, flowed: &mut Option<Duration>) -> anyhow::Error {
        // In a pod, the origin's Service DNS name, resolved at each pull (its IP changes when it
        // restarts).
        let address = match crate::net::pod::dial_addr(origin.rtmp).await {
            Ok(addr) => origin::reachable(addr),
            Err(err) => return anyhow!("origin {}: {err}", origin.name),
        };
        let url = pull_url(&address.to_string(), &self.name);
        let mut conn = match RtmpConn::start(&url, ClientMode::Play).await {
            Ok(conn) => conn,
            Err(err) => return err.context(format!("origin {} ({address})", origin.name)),
        };
        self.status.set_state(State::Waiting);
        let first = match tokio::time::timeout(IDLE, conn.next_tag()).await {
            Ok(Ok(tag)) => tag,
            Ok(Err(err)) => return err,
            Err(_) => return anyhow!("origin {} sent nothing for {IDLE:?}", origin.name),
        };
        // The hub's publisher exists only while media flows, so players wait through a gap.
        let guard = self
            .hub
            .register_client(&address.to_string(), ClientKind::FmlePublish);
        let tc_url = format!("rtmp://{address}/{}", self.name.app);
        // Internal: the origin ran the stream rules (forwards, recording, transcodes); HLS still
        // segments it here.
        let mut publisher = match self
            .hub
            .publish_as(&self.name, &tc_url, guard.entry.id, true)
        {
            Ok(publisher) => publisher,
            Err(err) => return anyhow!("{err}"),
        };
        guard.entry.describe(
            ClientKind::FmlePublish,
            &tc_url,
            Some(&self.name),
            Some(publisher.stream_id()),
        );
        self.status.set_state(State::Pulling);
        self.status.set_error(None);
        tracing::info!(stream = %self.name.key(), origin = %origin.name, "edge pulling");
        let started = Instant::now();
        let mut tag = first;
        loop {
            let size = tag.payload.len();
            self.status.add_bytes(size);
            guard.entry.add_recv(size as u64);
            publisher.push(Frame {
                kind: tag.kind,
                timestamp: tag.timestamp,
                payload: tag.payload,
            });
            *flowed = Some(started.elapsed());
            tag = match tokio::time::timeout(IDLE, conn.next_tag()).await {
                Ok(Ok(tag)) => tag,
                Ok(Err(err)) => return err,
                Err(_) => return anyhow!("origin {} sent nothing for {IDLE:?}", origin.name),
            };
        }
    }
}

/// `rtmp://ORIGIN/APP/STREAM?vhost=V&oryx_edge=CREDENTIAL`: the vhost explicit unless it is the
/// default one (the origin then keys the stream as this edge does), and the stream's credential.
pub fn pull_url(address: &str, name: &StreamName) -> String {
    let credential = crate::worker::internal::edge_query_pair(name);
    name.rtmp_url(address, &name.stream, Some(&credential))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_name::DEFAULT_VHOST;

    #[test]
    fn the_pull_url_names_the_vhost_and_carries_the_credential() {
        let name = StreamName::new(DEFAULT_VHOST, "live", "cam");
        let url = pull_url("127.0.0.1:1935", &name);
        assert!(url.starts_with("rtmp://127.0.0.1:1935/live/cam?oryx_edge="));
        let named = StreamName::new("v.example", "live", "cam");
        assert!(
            pull_url("h:1", &named).starts_with("rtmp://h:1/live/cam?vhost=v.example&oryx_edge=")
        );
    }
}
