//! PROXY protocol v2 (LB → worker): the client's address, sent before the first byte of the session.
//!
//! Sans-IO: [`encode`] builds a header, [`decode`] inspects the first received bytes and says whether
//! they are a header (and how long), need more bytes, or are not a PROXY header at all (so a worker can
//! accept connections with and without one).
//!
//! Across pods, where the LB's address is not known in advance, a worker believes a header only
//! when it carries oryx's credential: a custom TLV ([`CREDENTIAL_TLV`], in the range v2 leaves to
//! applications) with a timestamp and an HMAC-SHA256, under a key both ends derive from the
//! control secret, over the header's addresses and that timestamp ([`encode_signed`],
//! [`verify_credential`]). A captured header is good for [`CREDENTIAL_WINDOW_SECS`] only, and
//! changing its client address breaks the MAC.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12-byte v2 signature.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest header accepted (addresses plus TLVs); real LBs send far less.
pub const MAX_HEADER_LEN: usize = 16 + 1024;

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client's address; `None` for a LOCAL command (health checks) or an unspecified family.
    pub source: Option<SocketAddr>,
    pub destination: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// The bytes so far are a prefix of a header: read more.
    NeedMore,
    /// The stream does not start with a PROXY v2 header.
    NotProxy,
    /// A header of `len` bytes; the session starts after it.
    Header { header: ProxyHeader, len: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("PROXY header version {0} is not 2")]
    BadVersion(u8),
    #[error("PROXY command {0} unknown")]
    BadCommand(u8),
    #[error("PROXY header of {0} bytes is too long")]
    TooLong(usize),
    #[error("PROXY address block too short for its family")]
    ShortAddresses,
}

/// Look at the start of a connection.
pub fn decode(buf: &[u8]) -> Result<Decoded, ProxyError> {
    let prefix = buf.len().min(SIGNATURE.len());
    if buf[..prefix] != SIGNATURE[..prefix] {
        return Ok(Decoded::NotProxy);
    }
    if buf.len() < 16 {
        return Ok(Decoded::NeedMore);
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0f;
    if version != 2 {
        return Err(ProxyError::BadVersion(version));
    }
    if command > 1 {
        return Err(ProxyError::BadCommand(command));
    }
    let body_len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let len = 16 + body_len;
    if len > MAX_HEADER_LEN {
        return Err(ProxyError::TooLong(len));
    }
    if buf.len() < len {
        return Ok(Decoded::NeedMore);
    }
    let body = &buf[16..len];
    let empty = ProxyHeader {
        source: None,
        destination: None,
    };
    if command == 0 {
        return Ok(Decoded::Header { header: empty, len });
    }
    let header = match buf[13] >> 4 {
        1 => {
            let b = body.get(..12).ok_or(ProxyError::ShortAddresses)?;
            let src = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            let dst = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            ProxyHeader {
                source: Some(SocketAddr::new(
                    IpAddr::V4(src),
                    u16::from_be_bytes([b[8], b[9]]),
                )),
                destination: Some(SocketAddr::new(
                    IpAddr::V4(dst),
                    u16::from_be_bytes([b[10], b[11]]),
                )),
            }
        }
        2 => {
            let b = body.get(..36).ok_or(ProxyError::ShortAddresses)?;
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src.copy_from_slice(&b[..16]);
            dst.copy_from_slice(&b[16..32]);
            ProxyHeader {
                source: Some(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(src)),
                    u16::from_be_bytes([b[32], b[33]]),
                )),
                destination: Some(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(dst)),
                    u16::from_be_bytes([b[34], b[35]]),
                )),
            }
        }
        // AF_UNSPEC or AF_UNIX: no usable client address.
        _ => empty,
    };
    Ok(Decoded::Header { header, len })
}

/// A PROXY v2 header for a TCP connection from `source` to `destination`. Mixed families are sent
/// as IPv6 (IPv4-mapped).
pub fn encode(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 36);
    out.extend_from_slice(&SIGNATURE);
    out.push(0x21);
    match (source, destination) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            out.push(0x11);
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        _ => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(ip) => ip.to_ipv6_mapped(),
                IpAddr::V6(ip) => ip,
            };
            out.push(0x21);
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(source).octets());
            out.extend_from_slice(&v6(destination).octets());
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
    }
    out
}

/// TLV type of oryx's credential (v2 reserves 0xE0–0xEF for applications).
pub const CREDENTIAL_TLV: u8 = 0xE0;
/// How far a credential's timestamp may be from the receiver's clock, either way (clocks of pods
/// on different nodes differ a little; a replay is refused after this).
pub const CREDENTIAL_WINDOW_SECS: u64 = 30;
/// Domain separation: the control secret signs nothing else with this label.
const CREDENTIAL_LABEL: &[u8] = b"oryx proxy v2 credential v1";
/// Timestamp (8 bytes, seconds since the epoch) then the MAC (32 bytes).
const CREDENTIAL_LEN: usize = 8 + 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the PROXY header carries no credential")]
    Missing,
    #[error("the PROXY header's TLVs are malformed")]
    Malformed,
    #[error("the PROXY credential is {0} s away from this clock (replayed or a skewed clock)")]
    Stale(u64),
    #[error("the PROXY credential does not match (another secret, or a changed address)")]
    BadMac,
    #[error("the PROXY credential was already used (a captured header replayed)")]
    Replayed,
}

/// The length of the address block that family byte `family` announces.
fn address_len(family: u8) -> usize {
    match family >> 4 {
        1 => 12,
        2 => 36,
        3 => 216,
        _ => 0,
    }
}

fn credential_mac(
    key: &[u8],
    family: u8,
    addresses: &[u8],
    stamp: &[u8; 8],
) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .expect("HMAC takes keys of any length");
    mac.update(CREDENTIAL_LABEL);
    mac.update(&[family]);
    mac.update(addresses);
    mac.update(stamp);
    mac
}

/// [`encode`] plus the credential TLV: signed under `key` at `now_secs` (seconds since the epoch).
pub fn encode_signed(
    source: SocketAddr,
    destination: SocketAddr,
    key: &[u8],
    now_secs: u64,
) -> Vec<u8> {
    use hmac::Mac;
    let mut out = encode(source, destination);
    let family = out[13];
    let stamp = now_secs.to_be_bytes();
    let tag = credential_mac(key, family, &out[16..], &stamp)
        .finalize()
        .into_bytes();
    out.push(CREDENTIAL_TLV);
    out.extend_from_slice(&(CREDENTIAL_LEN as u16).to_be_bytes());
    out.extend_from_slice(&stamp);
    out.extend_from_slice(&tag);
    let body_len = (out.len() - 16) as u16;
    out[14..16].copy_from_slice(&body_len.to_be_bytes());
    out
}

/// Check the credential of `header`, a whole header as [`decode`] measured it (`&buf[..len]`),
/// against `key` at `now_secs`.
pub fn verify_credential(header: &[u8], key: &[u8], now_secs: u64) -> Result<(), CredentialError> {
    check_credential(header, key, now_secs).map(|_| ())
}

/// A worker's memory of the credentials it took, so that a header captured on the way (a
/// mirrored port, a shared network) is refused when sent again within its window: a credential is
/// good once. Bounded: at most `capacity` entries (16 bytes of MAC and a stamp each); an entry
/// leaves once its stamp is out of the window (then [`verify_credential`] refuses it anyway), or,
/// when the set is full, oldest first. Only headers whose MAC verified enter, so a flood from
/// someone without the key never fills it; a full set means `capacity` genuine LB connections
/// within [`CREDENTIAL_WINDOW_SECS`] (65 536: ~1 000 new clients a second per worker).
#[derive(Debug)]
pub struct ReplayGuard {
    seen: std::collections::HashSet<[u8; 16]>,
    order: std::collections::VecDeque<(u64, [u8; 16])>,
    capacity: usize,
}

/// Entries a worker's [`ReplayGuard`] keeps (about 3 MB at most).
pub const REPLAY_CAPACITY: usize = 65_536;

impl Default for ReplayGuard {
    fn default() -> Self {
        ReplayGuard::with_capacity(REPLAY_CAPACITY)
    }
}

impl ReplayGuard {
    pub fn with_capacity(capacity: usize) -> ReplayGuard {
        ReplayGuard {
            seen: Default::default(),
            order: Default::default(),
            capacity: capacity.max(1),
        }
    }

    /// How many credentials it remembers now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// [`verify_credential`], then refuse a credential already taken.
    pub fn verify(&mut self, header: &[u8], key: &[u8], now: u64) -> Result<(), CredentialError> {
        let (stamp, mac) = check_credential(header, key, now)?;
        while let Some(&(at, old)) = self.order.front() {
            let stale = now.saturating_sub(at) > CREDENTIAL_WINDOW_SECS;
            if !stale && self.order.len() < self.capacity {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&old);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&mac[..16]);
        if !self.seen.insert(id) {
            return Err(CredentialError::Replayed);
        }
        self.order.push_back((stamp, id));
        Ok(())
    }
}

/// The credential's stamp and MAC when it verifies.
fn check_credential(
    header: &[u8],
    key: &[u8],
    now_secs: u64,
) -> Result<(u64, [u8; 32]), CredentialError> {
    use hmac::Mac;
    if header.len() < 16 {
        return Err(CredentialError::Malformed);
    }
    let family = header[13];
    let body = &header[16..];
    let addresses = body
        .get(..address_len(family))
        .ok_or(CredentialError::Malformed)?;
    let mut tlvs = &body[addresses.len()..];
    let value = loop {
        let [kind, hi, lo, rest @ ..] = tlvs else {
            if tlvs.is_empty() {
                return Err(CredentialError::Missing);
            }
            return Err(CredentialError::Malformed);
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let value = rest.get(..len).ok_or(CredentialError::Malformed)?;
        if *kind == CREDENTIAL_TLV {
            break value;
        }
        tlvs = &rest[len..];
    };
    if value.len() != CREDENTIAL_LEN {
        return Err(CredentialError::Malformed);
    }
    let mut stamp = [0u8; 8];
    stamp.copy_from_slice(&value[..8]);
    let skew = now_secs.abs_diff(u64::from_be_bytes(stamp));
    if skew > CREDENTIAL_WINDOW_SECS {
        return Err(CredentialError::Stale(skew));
    }
    credential_mac(key, family, addresses, &stamp)
        .verify_slice(&value[8..])
        .map_err(|_| CredentialError::BadMac)?;
    let mut mac = [0u8; 32];
    mac.copy_from_slice(&value[8..]);
    Ok((u64::from_be_bytes(stamp), mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a control secret";
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_signed_header_decodes_as_before_and_verifies_within_its_window_only() {
        let (s, d): (SocketAddr, SocketAddr) = (
            "203.0.113.7:50000".parse().unwrap(),
            "10.0.0.2:19350".parse().unwrap(),
        );
        let signed = encode_signed(s, d, KEY, NOW);
        match decode(&signed).unwrap() {
            Decoded::Header { header, len } => {
                assert_eq!(len, signed.len());
                assert_eq!((header.source, header.destination), (Some(s), Some(d)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(verify_credential(&signed, KEY, NOW), Ok(()));
        assert_eq!(
            verify_credential(&signed, KEY, NOW + CREDENTIAL_WINDOW_SECS),
            Ok(())
        );
        assert_eq!(
            verify_credential(&signed, KEY, NOW + 3600),
            Err(CredentialError::Stale(3600))
        );
        assert_eq!(
            verify_credential(&signed, b"another secret", NOW),
            Err(CredentialError::BadMac)
        );
        // A header without the TLV, or with the client address changed, is refused.
        assert_eq!(
            verify_credential(&encode(s, d), KEY, NOW),
            Err(CredentialError::Missing)
        );
        let mut forged = signed.clone();
        forged[16] ^= 1;
        assert_eq!(
            verify_credential(&forged, KEY, NOW),
            Err(CredentialError::BadMac)
        );
        // v6 too, and other TLVs before ours are skipped.
        let v6 = encode_signed("[2001:db8::1]:443".parse().unwrap(), d, KEY, NOW);
        assert_eq!(verify_credential(&v6, KEY, NOW), Ok(()));
        let mut with_noop = encode(s, d);
        with_noop.extend_from_slice(&[0x04, 0, 2, 0, 0]);
        let tail = &signed[16 + 12..];
        with_noop.extend_from_slice(tail);
        let body_len = (with_noop.len() - 16) as u16;
        with_noop[14..16].copy_from_slice(&body_len.to_be_bytes());
        assert_eq!(verify_credential(&with_noop, KEY, NOW), Ok(()));
    }

    #[test]
    fn a_credential_is_good_once() {
        let (s, d): (SocketAddr, SocketAddr) = (
            "203.0.113.7:50000".parse().unwrap(),
            "10.0.0.2:19350".parse().unwrap(),
        );
        let mut guard = ReplayGuard::default();
        let signed = encode_signed(s, d, KEY, NOW);
        assert_eq!(guard.verify(&signed, KEY, NOW), Ok(()));
        assert_eq!(
            guard.verify(&signed, KEY, NOW + 5),
            Err(CredentialError::Replayed)
        );
        // Another client (or the same one a second later) is another credential.
        let other = encode_signed("203.0.113.7:50001".parse().unwrap(), d, KEY, NOW);
        assert_eq!(guard.verify(&other, KEY, NOW), Ok(()));
        assert_eq!(
            guard.verify(&encode_signed(s, d, KEY, NOW + 1), KEY, NOW + 1),
            Ok(())
        );
        // Refusals for other reasons are unchanged, and never enter the set.
        assert_eq!(
            guard.verify(&signed, b"another secret", NOW),
            Err(CredentialError::BadMac)
        );
        assert_eq!(
            guard.verify(&signed, KEY, NOW + 3600),
            Err(CredentialError::Stale(3600))
        );
        assert_eq!(guard.len(), 3);
        // Past the window the entry goes: the header is stale by then anyway.
        let later = NOW + CREDENTIAL_WINDOW_SECS + 2;
        assert_eq!(
            guard.verify(&encode_signed(s, d, KEY, later), KEY, later),
            Ok(())
        );
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn the_replay_set_stays_bounded_under_a_flood() {
        let d: SocketAddr = "10.0.0.2:19350".parse().unwrap();
        let mut guard = ReplayGuard::with_capacity(1000);
        let header = |i: u32| {
            let s = SocketAddr::from((std::net::Ipv4Addr::from(0xcb00_7100 + i), 40000));
            encode_signed(s, d, KEY, NOW)
        };
        for i in 0..10_000 {
            assert_eq!(guard.verify(&header(i), KEY, NOW), Ok(()));
            assert!(guard.len() <= 1000);
            // Forged ones (no key) are refused before they could take room.
            let forged = encode_signed("198.51.100.1:1".parse().unwrap(), d, b"guess", NOW);
            assert_eq!(
                guard.verify(&forged, KEY, NOW),
                Err(CredentialError::BadMac)
            );
        }
        assert_eq!((guard.len(), guard.seen.len()), (1000, 1000));
        // The most recent ones are still refused when replayed.
        assert_eq!(
            guard.verify(&header(9_999), KEY, NOW),
            Err(CredentialError::Replayed)
        );
    }

    #[test]
    fn the_credential_is_the_documented_hmac() {
        // python3: hmac.new(b"fuzz key", b"oryx proxy v2 credential v1" + b"\x11" + addresses
        // + stamp, hashlib.sha256) (fuzz/seeds.py writes the same header).
        let signed = encode_signed(
            "203.0.113.7:51000".parse().unwrap(),
            "127.0.0.1:1935".parse().unwrap(),
            b"fuzz key",
            1_800_000_000,
        );
        assert_eq!(
            hex::encode(signed),
            "0d0a0d0a000d0a515549540a21110037cb0071077f000001c738078fe00028000000006b49d200e45453\
             33a6193dfa119930ba2373b54670e1ef08271b688f2f3642990b782976"
        );
    }

    #[test]
    fn random_and_mutated_headers_never_panic_and_never_verify_when_changed() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(18);
        let signed = encode_signed(
            "198.51.100.1:1234".parse().unwrap(),
            "10.0.0.2:19350".parse().unwrap(),
            KEY,
            NOW,
        );
        for round in 0..20_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                let len = rng.gen_range(0..120);
                let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                if rng.gen_bool(0.5) {
                    // Mostly a signature, so the parser gets past the first check.
                    let n = bytes.len().min(12);
                    bytes[..n].copy_from_slice(&SIGNATURE[..n]);
                }
                bytes
            } else {
                let mut bytes = signed.clone();
                let at = rng.gen_range(0..bytes.len());
                bytes[at] ^= rng.gen_range(1..=255u8);
                bytes.truncate(rng.gen_range(at..=bytes.len()).max(1));
                bytes
            };
            let _ = verify_credential(&bytes, KEY, NOW);
            if let Ok(Decoded::Header { len, .. }) = decode(&bytes) {
                assert!(len <= bytes.len());
                let verified = verify_credential(&bytes[..len], KEY, NOW).is_ok();
                // Only a change outside the signed bytes (signature, version, length) can pass.
                if verified {
                    assert_eq!(bytes[13..], signed[13..len.min(signed.len())].to_vec()[..]);
                }
            }
        }
    }

    #[test]
    fn roundtrips_v4_and_v6() {
        for (s, d) in [
            ("1.2.3.4:5000", "127.0.0.1:19350"),
            ("[2001:db8::1]:443", "[::1]:1935"),
        ] {
            let (s, d): (SocketAddr, SocketAddr) = (s.parse().unwrap(), d.parse().unwrap());
            let mut bytes = encode(s, d);
            let header_len = bytes.len();
            bytes.extend_from_slice(&[3, 0, 0]);
            for cut in 0..header_len {
                assert_eq!(decode(&bytes[..cut]).unwrap(), Decoded::NeedMore, "{cut}");
            }
            match decode(&bytes).unwrap() {
                Decoded::Header { header, len } => {
                    assert_eq!(len, header_len);
                    assert_eq!(header.source, Some(s));
                    assert_eq!(header.destination, Some(d));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rtmp_bytes_are_not_a_header_and_bad_headers_are_errors() {
        assert_eq!(decode(&[3, 0, 0, 0]).unwrap(), Decoded::NotProxy);
        assert_eq!(decode(b"\r\n\r\nX").unwrap(), Decoded::NotProxy);
        let mut bad = SIGNATURE.to_vec();
        bad.extend_from_slice(&[0x11, 0x11, 0, 0]);
        assert_eq!(decode(&bad), Err(ProxyError::BadVersion(1)));
        let mut short = SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(decode(&short), Err(ProxyError::ShortAddresses));
        let mut long = SIGNATURE.to_vec();
        long.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(decode(&long), Err(ProxyError::TooLong(_))));
        let mut local = SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert!(matches!(
            decode(&local).unwrap(),
            Decoded::Header {
                header: ProxyHeader { source: None, .. },
                len: 16
            }
        ));
    }
}
