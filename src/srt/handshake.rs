//! SRT handshake control packets (sans-IO): parse and build the caller-listener handshake a relay
//! needs to see and answer — the v4 induction, the v5 induction answer (SRT magic, advertised key
//! length) and the v5 conclusion with its extensions (HSREQ, KMREQ, the SID stream id), rejections,
//! and the in-place cookie rewrite.
//!
//! Layout (libsrt `srtcore/packet.h`, `handshake.h`; all fields big-endian): a 16-byte header (bit 31
//! of word 0 marks control, bits 30..16 the control type, 0 = handshake; word 2 the timestamp,
//! word 3 the destination socket id), then the 48-byte handshake: version, encryption field (16
//! bits) + extension field (16 bits), initial sequence number, MTU, flow window, handshake type,
//! SRT socket id, SYN cookie, peer IP (16 bytes). A v5 conclusion continues with extension blocks:
//! a 16-bit type, a 16-bit length in 4-byte words, then the body.
//!
//! The SID extension carries the stream id as UTF-8 padded with NULs to whole 4-byte words, each
//! word byte-swapped: libsrt copies the string into a `uint32_t` array and sends every word with
//! `htonl`, so on the wire "live" reads "evil" (`fillHsExtConfigString`, `interpretSrtHandshake`).

/// Header bytes before any control packet's body.
pub const HEADER_LEN: usize = 16;
/// The handshake body without extensions.
pub const HANDSHAKE_LEN: usize = 48;
/// Where the SYN cookie sits in a handshake packet (header + 7 words).
const COOKIE_OFFSET: usize = HEADER_LEN + 28;
/// libsrt's limit on a stream id (`CSrtConfig::MAX_SID_LENGTH`).
pub const MAX_STREAM_ID: usize = 512;
/// The value a v5 listener puts in the extension field of its induction answer.
pub const SRT_MAGIC: u16 = 0x4A17;
/// HSv4 callers put the socket type (UDT_DGRAM) in the extension field of their induction.
pub const UDT_DGRAM: u16 = 2;
/// Control type of a handshake, and of a shutdown.
const CONTROL_HANDSHAKE: u16 = 0;
const CONTROL_SHUTDOWN: u16 = 5;

/// Extension block types (`SRT_CMD_*`).
pub mod ext {
    pub const HSREQ: u16 = 1;
    pub const HSRSP: u16 = 2;
    pub const KMREQ: u16 = 3;
    pub const KMRSP: u16 = 4;
    pub const SID: u16 = 5;
}

/// Rejection reasons a relay sends (`SRT_REJX_*`, access_control.h): on the wire the handshake type
/// is 1000 + the reason.
pub mod reject {
    /// The stream id does not parse.
    pub const BAD_REQUEST: u32 = 1400;
    /// No worker can take the stream now.
    pub const UNAVAILABLE: u32 = 1503;
    /// Too many connections being set up.
    pub const OVERLOAD: u32 = 1402;
}

/// What a handshake is in the caller-listener exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    /// The first round: the caller asks for a cookie, the listener answers with one.
    Induction,
    /// The second round: the caller's settings (and stream id), the listener's answer.
    Conclusion,
    /// Rendezvous rounds (a relay refuses them).
    WaveAHand,
    Agreement,
    /// A refusal: the reason (`SRT_REJ_*` below 1000, `SRT_REJX_*` from 1000).
    Rejection(u32),
    Other(u32),
}

impl HandshakeKind {
    fn from_wire(value: u32) -> HandshakeKind {
        match value {
            1 => HandshakeKind::Induction,
            0xFFFF_FFFF => HandshakeKind::Conclusion,
            0 => HandshakeKind::WaveAHand,
            0xFFFF_FFFE => HandshakeKind::Agreement,
            v if (1000..0x8000_0000).contains(&v) => HandshakeKind::Rejection(v - 1000),
            v => HandshakeKind::Other(v),
        }
    }

    fn to_wire(self) -> u32 {
        match self {
            HandshakeKind::Induction => 1,
            HandshakeKind::Conclusion => 0xFFFF_FFFF,
            HandshakeKind::WaveAHand => 0,
            HandshakeKind::Agreement => 0xFFFF_FFFE,
            HandshakeKind::Rejection(reason) => reason.saturating_add(1000),
            HandshakeKind::Other(v) => v,
        }
    }
}

/// One extension block, its body as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub kind: u16,
    pub body: Vec<u8>,
}

/// A handshake control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub timestamp: u32,
    /// The header's destination socket id (0 until the caller knows the listener's).
    pub dest_socket: u32,
    pub version: u32,
    /// Advertised key length (2, 3, 4 for AES-128/192/256) in an induction answer.
    pub encryption: u16,
    /// v4 induction: the socket type; v5 induction answer: [`SRT_MAGIC`]; v5 conclusion: flags.
    pub extension: u16,
    pub isn: u32,
    pub mtu: u32,
    pub flow_window: u32,
    pub kind: HandshakeKind,
    /// The sender's socket id.
    pub socket_id: u32,
    pub cookie: u32,
    pub peer_ip: [u8; 16],
    pub extensions: Vec<Extension>,
}

/// Why bytes are not a handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("not an SRT control packet")]
    NotControl,
    #[error("SRT control packet of type {0}, not a handshake")]
    NotHandshake(u16),
    #[error("handshake of {0} bytes, shorter than 64")]
    Short(usize),
    #[error("handshake extension runs past the packet")]
    BadExtension,
    #[error("stream id longer than {MAX_STREAM_ID} bytes")]
    StreamIdTooLong,
    #[error("stream id is not UTF-8")]
    StreamIdNotUtf8,
}

fn word(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Whether a datagram is an SRT control packet (else a data packet, or nothing).
pub fn is_control(packet: &[u8]) -> bool {
    packet.first().is_some_and(|b| b & 0x80 != 0)
}

/// The control type of a control packet.
pub fn control_type(packet: &[u8]) -> Option<u16> {
    (packet.len() >= HEADER_LEN && is_control(packet))
        .then(|| u16::from_be_bytes([packet[0] & 0x7F, packet[1]]))
}

/// Whether a datagram is a handshake (of any kind).
pub fn is_handshake(packet: &[u8]) -> bool {
    control_type(packet) == Some(CONTROL_HANDSHAKE)
}

/// Whether a datagram is a shutdown: the peer closes the connection.
pub fn is_shutdown(packet: &[u8]) -> bool {
    control_type(packet) == Some(CONTROL_SHUTDOWN)
}

/// The handshake kind of a datagram, without parsing the rest.
pub fn kind_of(packet: &[u8]) -> Option<HandshakeKind> {
    (is_handshake(packet) && packet.len() >= HEADER_LEN + HANDSHAKE_LEN)
        .then(|| HandshakeKind::from_wire(word(packet, HEADER_LEN + 20)))
}

/// Replace the SYN cookie of a handshake datagram in place; false when it is not one.
pub fn set_cookie(packet: &mut [u8], cookie: u32) -> bool {
    if !is_handshake(packet) || packet.len() < HEADER_LEN + HANDSHAKE_LEN {
        return false;
    }
    packet[COOKIE_OFFSET..COOKIE_OFFSET + 4].copy_from_slice(&cookie.to_be_bytes());
    true
}

impl Handshake {
    /// Read a handshake datagram. Extensions are read only where libsrt writes them (version 5 and
    /// more bytes after the 48); anything after a malformed block is an error, never a panic.
    pub fn parse(packet: &[u8]) -> Result<Handshake, HandshakeError> {
        if packet.len() < HEADER_LEN || !is_control(packet) {
            return Err(HandshakeError::NotControl);
        }
        let control = u16::from_be_bytes([packet[0] & 0x7F, packet[1]]);
        if control != CONTROL_HANDSHAKE {
            return Err(HandshakeError::NotHandshake(control));
        }
        if packet.len() < HEADER_LEN + HANDSHAKE_LEN {
            return Err(HandshakeError::Short(packet.len()));
        }
        let body = &packet[HEADER_LEN..];
        let version = word(body, 0);
        let mut peer_ip = [0u8; 16];
        peer_ip.copy_from_slice(&body[32..48]);
        let mut extensions = Vec::new();
        if version >= 5 {
            let mut rest = &body[HANDSHAKE_LEN..];
            while rest.len() >= 4 {
                let kind = u16::from_be_bytes([rest[0], rest[1]]);
                let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])) * 4;
                let block = rest.get(4..4 + len).ok_or(HandshakeError::BadExtension)?;
                extensions.push(Extension {
                    kind,
                    body: block.to_vec(),
                });
                rest = &rest[4 + len..];
            }
        }
        Ok(Handshake {
            timestamp: word(packet, 8),
            dest_socket: word(packet, 12),
            version,
            encryption: u16::from_be_bytes([body[4], body[5]]),
            extension: u16::from_be_bytes([body[6], body[7]]),
            isn: word(body, 8),
            mtu: word(body, 12),
            flow_window: word(body, 16),
            kind: HandshakeKind::from_wire(word(body, 20)),
            socket_id: word(body, 24),
            cookie: word(body, 28),
            peer_ip,
            extensions,
        })
    }

    /// The datagram for this handshake.
    pub fn encode(&self) -> Vec<u8> {
        let ext_len: usize = self.extensions.iter().map(|e| 4 + e.body.len()).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + HANDSHAKE_LEN + ext_len);
        out.extend_from_slice(&0x8000_0000u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.dest_socket.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.encryption.to_be_bytes());
        out.extend_from_slice(&self.extension.to_be_bytes());
        for value in [
            self.isn,
            self.mtu,
            self.flow_window,
            self.kind.to_wire(),
            self.socket_id,
            self.cookie,
        ] {
            out.extend_from_slice(&value.to_be_bytes());
        }
        out.extend_from_slice(&self.peer_ip);
        for ext in &self.extensions {
            // Bodies are whole words by construction ([`sid_extension`]) or as parsed; a longer
            // one than the 16-bit length can say is cut rather than mis-framed.
            let words = (ext.body.len() / 4).min(usize::from(u16::MAX));
            out.extend_from_slice(&ext.kind.to_be_bytes());
            out.extend_from_slice(&(words as u16).to_be_bytes());
            out.extend_from_slice(&ext.body[..words * 4]);
        }
        out
    }

    /// The stream id of a conclusion: `None` without a SID extension.
    pub fn stream_id(&self) -> Option<Result<String, HandshakeError>> {
        self.extensions
            .iter()
            .find(|e| e.kind == ext::SID)
            .map(|e| decode_stream_id(&e.body))
    }

    /// The listener's answer to this induction (what libsrt's `processConnectRequest` sends): the
    /// request echoed to the caller's socket, as version 5 with the SRT magic, `pbkeylen` (0, 16,
    /// 24, 32 bytes) advertised, and `cookie`.
    pub fn induction_answer(&self, cookie: u32, pbkeylen: u8, timestamp: u32) -> Handshake {
        Handshake {
            timestamp,
            dest_socket: self.socket_id,
            version: 5,
            encryption: u16::from(pbkeylen / 8),
            extension: SRT_MAGIC,
            cookie,
            extensions: Vec::new(),
            ..self.clone()
        }
    }

    /// The v4 induction a caller with this conclusion's settings sends first (how a relay asks a
    /// listener for its own cookie on the caller's behalf).
    pub fn induction_for(&self, timestamp: u32) -> Handshake {
        Handshake {
            timestamp,
            dest_socket: 0,
            version: 4,
            encryption: 0,
            extension: UDT_DGRAM,
            kind: HandshakeKind::Induction,
            cookie: 0,
            extensions: Vec::new(),
            ..self.clone()
        }
    }

    /// The listener's refusal of this conclusion with `reason` (`SRT_REJX_*` or `SRT_REJ_*`).
    pub fn rejection(&self, reason: u32, timestamp: u32) -> Handshake {
        Handshake {
            timestamp,
            dest_socket: self.socket_id,
            kind: HandshakeKind::Rejection(reason),
            extensions: Vec::new(),
            ..self.clone()
        }
    }
}

/// A stream id from a SID extension body: words un-swapped, trailing NULs dropped.
pub fn decode_stream_id(body: &[u8]) -> Result<String, HandshakeError> {
    if body.len() > MAX_STREAM_ID {
        return Err(HandshakeError::StreamIdTooLong);
    }
    let mut bytes: Vec<u8> = body
        .chunks(4)
        .flat_map(|chunk| chunk.iter().rev().copied())
        .collect();
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    String::from_utf8(bytes).map_err(|_| HandshakeError::StreamIdNotUtf8)
}

/// The SID extension carrying `stream_id` (at most [`MAX_STREAM_ID`] bytes).
pub fn sid_extension(stream_id: &str) -> Result<Extension, HandshakeError> {
    let bytes = stream_id.as_bytes();
    if bytes.len() > MAX_STREAM_ID {
        return Err(HandshakeError::StreamIdTooLong);
    }
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len().div_ceil(4) * 4, 0);
    let body = padded
        .chunks(4)
        .flat_map(|chunk| chunk.iter().rev().copied())
        .collect();
    Ok(Extension {
        kind: ext::SID,
        body,
    })
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
