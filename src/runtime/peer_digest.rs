//! Which plan each peer runs, as an LB sees it: every host compiles the topology itself, so two hosts
//! given different files (or one not yet reloaded) would silently mix plans. A worker reports its
//! digest with its published streams (`net::published`); a peer whose digest differs from ours is
//! reported — a `warn` once per peer per change, the gauge `oryx_peer_digest_mismatch{peer}` 1/0,
//! `digest_mismatch` in `GET /api/v1/backends` — and still routed to: a report, not a refusal.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// Our digest and the last one each peer reported.
#[derive(Debug, Default)]
pub struct PeerDigests {
    own: RwLock<String>,
    /// Peer label (`worker/edge-0`) → the digest it last reported and whether that was reported
    /// as a mismatch (so a change is logged once).
    seen: Mutex<HashMap<String, (String, bool)>>,
}

impl PeerDigests {
    /// The plan this process runs now (at start, and after a reload pushes a new one).
    pub fn set_own(&self, digest: &str) {
        *self.own.write().unwrap_or_else(|e| e.into_inner()) = digest.to_string();
        // Re-judge every peer against the new digest.
        let seen: Vec<(String, String)> = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(peer, (digest, _))| (peer.clone(), digest.clone()))
            .collect();
        for (peer, digest) in seen {
            self.observe(&peer, &digest);
        }
    }

    pub fn own(&self) -> String {
        self.own.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The digest `peer` last reported.
    pub fn last(&self, peer: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(peer).map(|(digest, _)| digest.clone())
    }

    /// Whether `peer` last reported a plan other than ours.
    pub fn mismatch(&self, peer: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(peer).is_some_and(|(_, mismatch)| *mismatch)
    }

    /// `peer` reported `digest`: record it, set its gauge, and log when its agreement changed.
    pub fn observe(&self, peer: &str, digest: &str) {
        let own = self.own();
        let mismatch = !own.is_empty() && own != digest;
        let previous = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer.to_string(), (digest.to_string(), mismatch));
        metrics::gauge!("oryx_peer_digest_mismatch", "peer" => peer.to_string()).set(if mismatch {
            1.0
        } else {
            0.0
        });
        let changed = previous.as_ref().map(|(d, m)| (d.as_str(), *m)) != Some((digest, mismatch));
        if !changed {
            return;
        }
        if mismatch {
            tracing::warn!(%peer, peer_digest = %digest, own_digest = %own,
                "peer runs another plan: every host must run `oryx up` with the same topology");
        } else if previous.is_some_and(|(_, was)| was) {
            tracing::info!(%peer, digest = %digest, "peer runs our plan again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_with_another_digest_is_a_mismatch_until_it_agrees() {
        let digests = PeerDigests::default();
        digests.set_own("sha256:a");
        digests.observe("worker/w", "sha256:a");
        assert!(!digests.mismatch("worker/w"));
        digests.observe("worker/w", "sha256:b");
        assert!(digests.mismatch("worker/w"));
        assert_eq!(digests.last("worker/w").as_deref(), Some("sha256:b"));
        // Our reload to the peer's plan ends the mismatch without a new report.
        digests.set_own("sha256:b");
        assert!(!digests.mismatch("worker/w"));
        assert!(!digests.mismatch("worker/never-seen"));
    }
}
