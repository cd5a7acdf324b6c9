//! STUN (RFC 8489) read just far enough to route a datagram: whether it is STUN at all and the
//! local ICE ufrag its USERNAME names (`LOCAL:REMOTE` in a binding request sent to us, RFC 8445
//! §7.2.2). Integrity and everything else are checked by the session's ICE agent.

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const HEADER_LEN: usize = 20;
const ATTR_USERNAME: u16 = 0x0006;
/// RFC 8489 §14.3: USERNAME is at most 513 bytes.
const MAX_USERNAME: usize = 513;

/// Whether `datagram` looks like a STUN message (RFC 7983: first byte 0–3, the magic cookie, a
/// length that fits).
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN
        && datagram[0] < 4
        && datagram[4..8] == MAGIC_COOKIE
        && usize::from(u16::from_be_bytes([datagram[2], datagram[3]])) + HEADER_LEN
            <= datagram.len()
}

/// The USERNAME attribute of a STUN message, if it has a well-formed one.
pub fn username(datagram: &[u8]) -> Option<&str> {
    if !is_stun(datagram) {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let mut attrs = &datagram[HEADER_LEN..HEADER_LEN + length];
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let len = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + len)?;
        if kind == ATTR_USERNAME {
            if len > MAX_USERNAME {
                return None;
            }
            return std::str::from_utf8(value).ok();
        }
        // Attributes are padded to 4 bytes.
        let padded = 4 + len.div_ceil(4) * 4;
        attrs = attrs.get(padded..).unwrap_or(&[]);
    }
    None
}

/// The local ufrag a binding request names: USERNAME's part before the colon.
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    let (local, _) = username(datagram)?.split_once(':')?;
    (!local.is_empty()).then_some(local)
}

/// A binding request with `username` (for tests and the fuzz corpus; no integrity attribute).
pub fn binding_request(username: &str) -> Vec<u8> {
    let value = username.as_bytes();
    let padded = value.len().div_ceil(4) * 4;
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + padded);
    out.extend_from_slice(&[0x00, 0x01]);
    out.extend_from_slice(&((4 + padded) as u16).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE);
    out.extend_from_slice(&[7; 12]);
    out.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(HEADER_LEN + 4 + padded, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_local_ufrag_of_a_binding_request() {
        let request = binding_request("abcd:efgh");
        assert!(is_stun(&request));
        assert_eq!(username(&request), Some("abcd:efgh"));
        assert_eq!(local_ufrag(&request), Some("abcd"));
        // Padding: a 5-byte username is followed by 3 zero bytes.
        assert_eq!(local_ufrag(&binding_request("a:xyz")), Some("a"));
    }

    #[test]
    fn refuses_what_is_not_stun() {
        assert!(!is_stun(b""));
        assert!(!is_stun(&[0x16; 40])); // DTLS
        assert!(!is_stun(&[0x80; 40])); // RTP
        let mut truncated = binding_request("abcd:efgh");
        truncated.truncate(24);
        assert!(!is_stun(&truncated));
        assert_eq!(username(&truncated), None);
        // An attribute that claims more than is there.
        let mut overrun = binding_request("abcd:efgh");
        overrun[22] = 0x40;
        assert_eq!(username(&overrun), None);
        assert_eq!(local_ufrag(&binding_request("nocolon")), None);
        assert_eq!(local_ufrag(&binding_request(":x")), None);
    }
}
