//! The published-streams report: what an embedded worker tells the LBs it publishes (`GET
//! /api/v1/published`), and which LB routing keys each of its streams answers.
//!
//! The LBs poll it as their health check, so they learn where each stream's publisher actually is and
//! send its players there, even when that is not the worker rendezvous hashing ranks first (the
//! stream was published while that worker was down). The worker side is `crate::worker::published`.
//!
//! The report also carries the worker's plan digest (`"digest"`, docs/control-plane.md): hosts
//! compile the same file separately, and an LB that polls a worker running another plan says so
//! rather than silently mixing two configurations (`crate::runtime::peer_digest`).

use crate::stream_name::{stream_key, StreamName, DEFAULT_VHOST};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Where the worker serves the report, on its control port.
pub const PATH: &str = "/api/v1/published";

/// The report's body: `{"streams":[{"vhost":…,"app":…,"stream":…}, …],"digest":"sha256:…"}`, one
/// entry per published stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedReport {
    /// Each stream's name without its query (the wire form of [`StreamName`]).
    pub streams: Vec<StreamName>,
    /// The plan digest the worker runs (`None` from workers that do not say, e.g. SRS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// An edge's players per stream (its routing key): what the LBs spread a stream's players by
    /// (`crate::route::spread`). Absent on other workers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub players: Vec<StreamPlayers>,
}

/// One stream's player count on an edge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPlayers {
    pub key: String,
    pub players: u32,
}

/// The routing keys one worker's published streams answer, for a constant-time look-up per client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedKeys {
    keys: HashSet<String>,
    streams: usize,
    /// An edge's players by routing key ([`PublishedReport::players`]).
    players: std::collections::HashMap<String, u32>,
    digest: Option<String>,
}

impl PublishedKeys {
    /// Index `report` by the routing keys its streams answer.
    ///
    /// The LBs' key has the vhost only when the client named one with `?vhost=` (they ignore host
    /// names), while the worker also makes a DNS host name its own vhost (the two rules:
    /// [`crate::stream_name::VhostRule`]). So a stream answers its own `vhost/app/stream` (which an LB key with that
    /// explicit vhost equals) and the default-vhost key of its app and stream (the LB key of a client
    /// that named no vhost, whatever host it used). The worker cannot tell a host-derived vhost from
    /// an explicit one, so an explicit one answers the default-vhost key too; at worst that sends the
    /// clients of that key to a worker publishing the same app/stream in another vhost, and as all of
    /// them go there alike, that key's publisher and players still meet.
    pub fn from_report(report: &PublishedReport) -> PublishedKeys {
        let mut keys = HashSet::with_capacity(report.streams.len() * 2);
        for published in &report.streams {
            keys.insert(published.key());
            keys.insert(stream_key(DEFAULT_VHOST, &published.app, &published.stream));
        }
        let players = report
            .players
            .iter()
            .map(|entry| (entry.key.clone(), entry.players))
            .collect();
        PublishedKeys {
            keys,
            streams: report.streams.len(),
            players,
            digest: report.digest.clone(),
        }
    }

    /// An edge's players of the stream `key` at its last report.
    pub fn players(&self, key: &str) -> u32 {
        self.players.get(key).copied().unwrap_or(0)
    }

    /// The plan digest the worker reported, if it said.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Whether a client routed by `key` (an LB routing key) would find one of these streams.
    pub fn answers(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// How many streams: those the report listed, plus publishers noted since ([`Self::with_key`]).
    pub fn stream_count(&self) -> usize {
        self.streams
    }

    /// These keys plus `key`: a publisher the LB itself just sent to this worker, known before the
    /// worker's next report (which replaces the set with the worker's own word).
    pub fn with_key(&self, key: &str) -> PublishedKeys {
        let mut keys = self.keys.clone();
        let streams = self.streams + usize::from(keys.insert(key.to_string()));
        PublishedKeys {
            keys,
            streams,
            players: self.players.clone(),
            digest: self.digest.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(streams: &[(&str, &str, &str)]) -> PublishedKeys {
        let streams = streams
            .iter()
            .map(|(vhost, app, stream)| StreamName::new(vhost, app, stream))
            .collect();
        PublishedKeys::from_report(&PublishedReport {
            streams,
            ..Default::default()
        })
    }

    #[test]
    fn an_explicit_vhost_must_match() {
        let published = keys(&[("v1", "live", "foo")]);
        assert!(published.answers(&stream_key("v1", "live", "foo")));
        assert!(!published.answers(&stream_key("v2", "live", "foo")));
        assert!(!published.answers(&stream_key("v1", "live", "bar")));
        assert!(!published.answers(&stream_key("v1", "other", "foo")));
        assert_eq!(published.stream_count(), 1);
    }

    #[test]
    fn the_default_vhost_matches_any_vhost_of_the_same_app_and_stream() {
        let default_key = stream_key("", "live", "foo");
        assert!(keys(&[(DEFAULT_VHOST, "live", "foo")]).answers(&default_key));
        // A publisher on rtmp://live.example.com/live: the worker's vhost came from the host name,
        // which the LB ignored.
        let host_derived = keys(&[("live.example.com", "live", "foo")]);
        assert!(host_derived.answers(&default_key));
        assert!(host_derived.answers(&stream_key("live.example.com", "live", "foo")));
        assert!(!host_derived.answers(&stream_key("", "live", "bar")));
        assert!(!keys(&[]).answers(&default_key));
    }

    #[test]
    fn a_noted_key_answers_until_the_next_report() {
        let key = stream_key("", "live", "foo");
        let noted = keys(&[]).with_key(&key);
        assert!(noted.answers(&key));
        assert_eq!(noted.stream_count(), 1);
        assert_eq!(noted.with_key(&key).stream_count(), 1);
        assert!(!noted.answers(&stream_key("", "live", "bar")));
    }

    #[test]
    fn the_report_round_trips_as_json() {
        let mut report = PublishedReport {
            streams: vec![StreamName::new(DEFAULT_VHOST, "live", "cam")],
            ..Default::default()
        };
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(
            text,
            r#"{"streams":[{"vhost":"__defaultVhost__","app":"live","stream":"cam"}]}"#
        );
        assert_eq!(
            serde_json::from_str::<PublishedReport>(&text).unwrap(),
            report
        );
        report.digest = Some("sha256:ab".into());
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.ends_with(r#"],"digest":"sha256:ab"}"#), "{text}");
        let keys = PublishedKeys::from_report(&serde_json::from_str(&text).unwrap());
        assert_eq!(keys.digest(), Some("sha256:ab"));
        assert_eq!(keys.with_key("x").digest(), Some("sha256:ab"));
    }
}
