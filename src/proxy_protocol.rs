//! PROXY protocol v2 (LB → worker): the client's address, sent before the first byte of the session.
//!
//! Sans-IO: [`encode`] builds a header, [`decode`] inspects the first received bytes and says whether
//! they are a header (and how long), need more bytes, or are not a PROXY header at all (so a worker can
//! accept connections with and without one).

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

#[cfg(test)]
mod tests {
    use super::*;

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
