//! Which session a datagram on the worker's one UDP port belongs to: a STUN binding request by
//! the local ufrag in its USERNAME, anything else (DTLS, SRTP, SRTCP) by the peer address ICE
//! learned from that session's requests. Bounded: at most as many entries as sessions, and every
//! address of a session goes when the session does.

use super::stun;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The routing table: ufrag → session, peer address → session.
#[derive(Debug, Default)]
pub struct Demux {
    by_ufrag: HashMap<String, u64>,
    by_addr: HashMap<SocketAddr, u64>,
}

/// Most peer addresses one session may claim (a browser's candidates: a few per interface).
const MAX_ADDRS_PER_SESSION: usize = 16;

impl Demux {
    pub fn add_session(&mut self, id: u64, ufrag: &str) {
        self.by_ufrag.insert(ufrag.to_string(), id);
    }

    pub fn remove_session(&mut self, id: u64) {
        self.by_ufrag.retain(|_, s| *s != id);
        self.by_addr.retain(|_, s| *s != id);
    }

    /// The session of `datagram` from `from`; a STUN request naming a known ufrag also ties
    /// `from` to that session (a peer moves to a new address with a new binding request).
    pub fn route(&mut self, datagram: &[u8], from: SocketAddr) -> Option<u64> {
        if stun::is_stun(datagram) {
            if let Some(id) = stun::local_ufrag(datagram).and_then(|u| self.by_ufrag.get(u)) {
                let id = *id;
                if !self.by_addr.contains_key(&from)
                    && self.by_addr.values().filter(|s| **s == id).count() >= MAX_ADDRS_PER_SESSION
                {
                    return Some(id);
                }
                self.by_addr.insert(from, id);
                return Some(id);
            }
        }
        self.by_addr.get(&from).copied()
    }

    pub fn sessions(&self) -> usize {
        self.by_ufrag.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_ufrag_then_by_address() {
        let mut demux = Demux::default();
        demux.add_session(1, "aaaa");
        demux.add_session(2, "bbbb");
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        // DTLS before any STUN from that address: nobody's.
        assert_eq!(demux.route(&[0x16; 30], peer), None);
        assert_eq!(demux.route(&stun::binding_request("bbbb:x"), peer), Some(2));
        assert_eq!(demux.route(&[0x16; 30], peer), Some(2));
        assert_eq!(demux.route(&stun::binding_request("zzzz:x"), other), None);
        assert_eq!(demux.route(&[0x80; 30], other), None);
        demux.remove_session(2);
        assert_eq!(demux.route(&[0x16; 30], peer), None);
        assert_eq!(demux.sessions(), 1);
    }
}
