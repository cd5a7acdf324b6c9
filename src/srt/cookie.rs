//! Stateless SYN cookies for SRT inductions: a relay answers every caller's induction without
//! keeping anything, and recognises the caller's conclusion by recomputing the cookie from its
//! address and the time, so a flood of inductions from many addresses costs no memory.
//!
//! A cookie is the first 32 bits of HMAC-SHA256(secret, address, port, minute). Like libsrt's
//! `bake`, the current and the previous minute are accepted, so a handshake that straddles a
//! minute boundary still succeeds.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::SocketAddr;

/// How long a cookie period lasts, in seconds.
const PERIOD_SECS: u64 = 60;

/// The per-process secret cookies are made with.
#[derive(Clone)]
pub struct CookieJar {
    secret: [u8; 32],
}

impl CookieJar {
    pub fn new(secret: [u8; 32]) -> CookieJar {
        CookieJar { secret }
    }

    /// A jar with a random secret.
    pub fn random() -> CookieJar {
        CookieJar::new(rand::random())
    }

    /// The cookie for `peer` at `now_secs` (seconds since any fixed epoch). Never 0: libsrt
    /// treats a zero cookie as none.
    pub fn cookie(&self, peer: SocketAddr, now_secs: u64) -> u32 {
        self.bake(peer, now_secs / PERIOD_SECS)
    }

    /// Whether `cookie` is `peer`'s for this period or the previous one.
    pub fn check(&self, peer: SocketAddr, cookie: u32, now_secs: u64) -> bool {
        let period = now_secs / PERIOD_SECS;
        cookie == self.bake(peer, period)
            || period
                .checked_sub(1)
                .is_some_and(|earlier| cookie == self.bake(peer, earlier))
    }

    fn bake(&self, peer: SocketAddr, period: u64) -> u32 {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        match peer.ip() {
            std::net::IpAddr::V4(ip) => mac.update(&ip.octets()),
            std::net::IpAddr::V6(ip) => mac.update(&ip.octets()),
        }
        mac.update(&peer.port().to_be_bytes());
        mac.update(&period.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_holds_for_its_minute_and_the_next_for_its_peer_only() {
        let jar = CookieJar::new([7; 32]);
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let cookie = jar.cookie(peer, 1_000_020);
        assert!(jar.check(peer, cookie, 1_000_020));
        assert!(jar.check(peer, cookie, 1_000_020 + PERIOD_SECS));
        assert!(!jar.check(peer, cookie, 1_000_020 + 2 * PERIOD_SECS));
        assert!(!jar.check("10.0.0.1:5001".parse().unwrap(), cookie, 1_000_020));
        assert!(!jar.check("10.0.0.2:5000".parse().unwrap(), cookie, 1_000_020));
        let other = CookieJar::new([8; 32]);
        assert!(!other.check(peer, cookie, 1_000_020));
        assert_ne!(cookie, 0);
    }
}
