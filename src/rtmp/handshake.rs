//! RTMP handshake, sans-IO: C0/C1/C2 ↔ S0/S1/S2, simple and complex (HMAC-SHA256 digest, schema 0/1).
//!
//! Feed received bytes with `feed`; it returns bytes to send and, once done, the bytes that arrived
//! after the handshake (the first chunks), which belong to the chunk decoder.

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Size of C1/S1/C2/S2.
pub const HANDSHAKE_SIZE: usize = 1536;
const RTMP_VERSION: u8 = 3;
const DIGEST_LEN: usize = 32;

const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];
const FP_KEY_TEXT: &[u8; 30] = b"Genuine Adobe Flash Player 001";
const FMS_KEY_TEXT: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";

fn fp_key() -> Vec<u8> {
    [&FP_KEY_TEXT[..], &KEY_TAIL[..]].concat()
}

fn fms_key() -> Vec<u8> {
    [&FMS_KEY_TEXT[..], &KEY_TAIL[..]].concat()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("unsupported RTMP version {0} (expected 3)")]
    BadVersion(u8),
    #[error("handshake already finished")]
    Finished,
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Where the digest sits in a 1536-byte C1/S1 for a schema: 0 = digest block first, 1 = key first.
fn digest_offset(block: &[u8], schema: u8) -> usize {
    let base = if schema == 0 { 8 } else { 772 };
    let sum: usize = block[base..base + 4].iter().map(|b| usize::from(*b)).sum();
    (sum % 728) + base + 4
}

/// HMAC of a C1/S1 with its digest bytes left out.
fn block_digest(block: &[u8], offset: usize, key: &[u8]) -> [u8; 32] {
    hmac_sha256(
        key,
        &[
            &block[..offset],
            &block[offset + DIGEST_LEN..HANDSHAKE_SIZE],
        ],
    )
}

/// Validate a client's C1 digest; returns the digest found (schema 0 tried first, then 1).
fn find_client_digest(c1: &[u8]) -> Option<[u8; 32]> {
    let key = &fp_key()[..30];
    for schema in [0u8, 1] {
        let offset = digest_offset(c1, schema);
        let expected = block_digest(c1, offset, key);
        if c1[offset..offset + DIGEST_LEN] == expected {
            return Some(expected);
        }
    }
    None
}

/// Fill `block` (1536 bytes: time, version, random) and embed a schema-0 digest keyed by `key`.
fn sign_block(block: &mut [u8], key: &[u8]) {
    let offset = digest_offset(block, 0);
    let digest = block_digest(block, offset, key);
    block[offset..offset + DIGEST_LEN].copy_from_slice(&digest);
}

fn random_block(version: [u8; 4]) -> Vec<u8> {
    let mut block = vec![0u8; HANDSHAKE_SIZE];
    rand::thread_rng().fill_bytes(&mut block[8..]);
    block[4..8].copy_from_slice(&version);
    block
}

/// What a handshake step produced.
#[derive(Debug, Default)]
pub struct Step {
    /// Bytes to send to the peer now.
    pub send: Bytes,
    /// Set once the handshake is complete: bytes received past its end (the start of the chunk stream).
    pub done: Option<Bytes>,
}

/// Server side: waits for C0+C1, answers S0+S1+S2, then waits for C2.
#[derive(Debug, Default)]
pub struct ServerHandshake {
    buf: BytesMut,
    answered: bool,
    finished: bool,
    complex: bool,
}

impl ServerHandshake {
    pub fn new() -> ServerHandshake {
        ServerHandshake::default()
    }

    /// True when the client's C1 carried a valid digest (Flash-style complex handshake).
    pub fn is_complex(&self) -> bool {
        self.complex
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<Step, HandshakeError> {
        if self.finished {
            return Err(HandshakeError::Finished);
        }
        // Never buffer more than one handshake's worth plus what is fed now.
        self.buf.extend_from_slice(data);
        let mut step = Step::default();
        if !self.answered {
            if self.buf.is_empty() {
                return Ok(step);
            }
            if self.buf[0] != RTMP_VERSION {
                return Err(HandshakeError::BadVersion(self.buf[0]));
            }
            if self.buf.len() < 1 + HANDSHAKE_SIZE {
                return Ok(step);
            }
            let c0c1 = self.buf.split_to(1 + HANDSHAKE_SIZE);
            let c1 = &c0c1[1..];
            let mut out = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
            out.put_u8(RTMP_VERSION);
            match find_client_digest(c1) {
                Some(client_digest) => {
                    self.complex = true;
                    let mut s1 = random_block([0x04, 0x05, 0x00, 0x01]);
                    sign_block(&mut s1, &fms_key()[..36]);
                    let mut s2 = random_block([0; 4]);
                    let key = hmac_sha256(&fms_key(), &[&client_digest]);
                    let split = HANDSHAKE_SIZE - DIGEST_LEN;
                    let digest = hmac_sha256(&key, &[&s2[..split]]);
                    s2[split..].copy_from_slice(&digest);
                    out.put_slice(&s1);
                    out.put_slice(&s2);
                }
                None => {
                    out.put_slice(&random_block([0; 4]));
                    out.put_slice(c1);
                }
            }
            self.answered = true;
            step.send = out.freeze();
        }
        if self.buf.len() >= HANDSHAKE_SIZE {
            // C2 is not checked: real clients (and nginx/SRS) accept a loose echo.
            let _c2 = self.buf.split_to(HANDSHAKE_SIZE);
            self.finished = true;
            step.done = Some(std::mem::take(&mut self.buf).freeze());
        }
        Ok(step)
    }
}

/// Client side: `start` gives C0+C1; feed S0+S1+S2 to get C2 and the end of the handshake.
#[derive(Debug)]
pub struct ClientHandshake {
    buf: BytesMut,
    finished: bool,
}

impl ClientHandshake {
    /// Returns the handshake and C0+C1. `complex` embeds a Flash Player digest in C1 (some servers want it).
    pub fn start(complex: bool) -> (ClientHandshake, Bytes) {
        let mut c1 = if complex {
            random_block([0x80, 0x00, 0x07, 0x02])
        } else {
            random_block([0; 4])
        };
        if complex {
            sign_block(&mut c1, &fp_key()[..30]);
        }
        let mut out = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        out.put_slice(&c1);
        (
            ClientHandshake {
                buf: BytesMut::new(),
                finished: false,
            },
            out.freeze(),
        )
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<Step, HandshakeError> {
        if self.finished {
            return Err(HandshakeError::Finished);
        }
        self.buf.extend_from_slice(data);
        let mut step = Step::default();
        if let Some(&version) = self.buf.first() {
            if version != RTMP_VERSION {
                return Err(HandshakeError::BadVersion(version));
            }
        }
        if self.buf.len() < 1 + 2 * HANDSHAKE_SIZE {
            return Ok(step);
        }
        let s0s1s2 = self.buf.split_to(1 + 2 * HANDSHAKE_SIZE);
        // C2 echoes S1.
        step.send = Bytes::copy_from_slice(&s0s1s2[1..1 + HANDSHAKE_SIZE]);
        self.finished = true;
        step.done = Some(std::mem::take(&mut self.buf).freeze());
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(complex: bool) -> (ServerHandshake, Bytes) {
        let (mut client, c0c1) = ClientHandshake::start(complex);
        let mut server = ServerHandshake::new();
        // Byte-at-a-time on the server to exercise buffering.
        let mut s = BytesMut::new();
        for b in c0c1.iter() {
            let step = server.feed(&[*b]).unwrap();
            s.extend_from_slice(&step.send);
            assert!(step.done.is_none());
        }
        assert_eq!(s.len(), 1 + 2 * HANDSHAKE_SIZE);
        let step = client.feed(&s).unwrap();
        assert!(step.done.is_some());
        let mut c2 = BytesMut::from(&step.send[..]);
        c2.extend_from_slice(b"chunks");
        let done = server.feed(&c2).unwrap().done.unwrap();
        (server, done)
    }

    #[test]
    fn simple_handshake_completes_and_keeps_trailing_bytes() {
        let (server, rest) = run(false);
        assert!(!server.is_complex());
        assert_eq!(&rest[..], b"chunks");
    }

    #[test]
    fn complex_handshake_is_detected_and_s1_is_signed_with_fms_key() {
        let (server, _) = run(true);
        assert!(server.is_complex());
        let (_, c0c1) = ClientHandshake::start(true);
        let mut server = ServerHandshake::new();
        let out = server.feed(&c0c1).unwrap().send;
        let s1 = &out[1..1 + HANDSHAKE_SIZE];
        let offset = digest_offset(s1, 0);
        assert_eq!(
            &s1[offset..offset + 32],
            &block_digest(s1, offset, &fms_key()[..36])
        );
    }

    #[test]
    fn schema_one_digest_is_accepted() {
        let mut c1 = random_block([0x80, 0, 7, 2]);
        let offset = digest_offset(&c1, 1);
        let digest = block_digest(&c1, offset, &fp_key()[..30]);
        c1[offset..offset + 32].copy_from_slice(&digest);
        assert!(find_client_digest(&c1).is_some());
    }

    #[test]
    fn bad_version_is_an_error() {
        let mut server = ServerHandshake::new();
        assert_eq!(
            server.feed(b"GET / HTTP/1.1").unwrap_err(),
            HandshakeError::BadVersion(b'G')
        );
    }
}
