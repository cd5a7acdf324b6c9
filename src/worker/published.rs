//! The worker's side of the published-streams report: `GET /api/v1/published` on the control port
//! lists the streams that have a publisher now (format and use in [`crate::net::published`]).
//!
//! Every LB asks twice a second, so the answer is built from names only, one entry per published
//! stream; query strings are left out (they may carry a publisher's token).

use super::hub::Hub;
use crate::net::control::Control;
use crate::net::published::{PublishedReport, PATH};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// The report for `hub` now, sorted so equal states give equal answers (the digest is added by the
/// route).
pub fn report(hub: &Hub) -> PublishedReport {
    let mut streams: Vec<_> = hub
        .published()
        .iter()
        .map(|name| name.without_param())
        .collect();
    streams.sort();
    PublishedReport {
        streams,
        players: players(hub),
        digest: None,
    }
}

/// On an edge, its players per stream, under the LBs' keys: the stream's own and, for a vhost
/// an LB cannot name (one from a host name), the default vhost's (as `PublishedKeys` indexes
/// publishers).
fn players(hub: &Hub) -> Vec<crate::net::published::StreamPlayers> {
    use crate::stream_name::{stream_key, DEFAULT_VHOST};
    if hub.edge_origin().is_none() {
        return Vec::new();
    }
    let mut counts: std::collections::BTreeMap<String, u32> = Default::default();
    for (name, players) in hub.player_counts() {
        *counts.entry(name.key()).or_default() += players;
        if name.vhost != DEFAULT_VHOST {
            *counts
                .entry(stream_key(DEFAULT_VHOST, &name.app, &name.stream))
                .or_default() += players;
        }
    }
    counts
        .into_iter()
        .map(|(key, players)| crate::net::published::StreamPlayers { key, players })
        .collect()
}

/// The `/api/v1/published` route over `hub`, with the digest `control` reports (it follows a
/// reload taken in place).
pub fn router(hub: Arc<Hub>, control: Control) -> Router {
    Router::new()
        .route(PATH, get(answer))
        .with_state((hub, control))
}

async fn answer(State((hub, control)): State<(Arc<Hub>, Control)>) -> Json<PublishedReport> {
    let mut report = report(&hub);
    report.digest = Some(control.digest());
    Json(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_name::{StreamName, VhostRule};

    use crate::worker::hub::tests::settings;

    fn listed(hub: &Hub) -> Vec<(String, String, String)> {
        report(hub)
            .streams
            .into_iter()
            .map(|s| (s.vhost, s.app, s.stream))
            .collect()
    }

    #[test]
    fn lists_only_streams_with_a_publisher_by_name() {
        let hub = Hub::new(settings());
        let cam = StreamName::from_rtmp(
            VhostRule::HostName,
            "rtmp://127.0.0.1/live",
            "live",
            "cam?token=secret",
        );
        let other = StreamName::from_rtmp(
            VhostRule::HostName,
            "rtmp://live.example.com/live",
            "live",
            "other",
        );
        let waiting = StreamName::from_rtmp(
            VhostRule::HostName,
            "rtmp://127.0.0.1/live",
            "live",
            "waiting",
        );
        let publisher = hub.publish(&cam, "rtmp://127.0.0.1/live", 1).unwrap();
        let _other_publisher = hub
            .publish(&other, "rtmp://live.example.com/live", 2)
            .unwrap();
        // A player waiting for a stream nobody publishes yet does not make it published.
        let _player = hub.play(&waiting);
        let own = |vhost: &str, stream: &str| (vhost.to_string(), "live".into(), stream.into());
        assert_eq!(
            listed(&hub),
            [
                own("__defaultVhost__", "cam"),
                own("live.example.com", "other")
            ]
        );
        let text = serde_json::to_string(&report(&hub)).unwrap();
        assert!(!text.contains("secret"), "{text}");

        drop(publisher);
        assert_eq!(listed(&hub), [own("live.example.com", "other")]);
    }
}
