//! RTMP handshake, sans-IO: C0/C1/C2 ↔ S0/S1/S2, simple and complex (HMAC-SHA256 digest, schema 0/1).
//!
//! In the complex handshake C1 and S1 carry a digest keyed by part of the Flash Player / Flash Media
//! Server key, and C2/S2 end with a signature over the peer's digest. The client checks S2 (a server
//! that signs S1 must have seen our C1); the server signs S2 but accepts any C2, as Flash servers do.
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
/// How much of the Flash Player key signs C1 (the whole key signs C2).
const FP_C1_KEY_LEN: usize = FP_KEY_TEXT.len();
/// How much of the Flash Media Server key signs S1 (the whole key signs S2).
const FMS_S1_KEY_LEN: usize = FMS_KEY_TEXT.len();
/// C2/S2 carry their signature in the last 32 bytes; the rest is random.
const RESPONSE_BODY_LEN: usize = HANDSHAKE_SIZE - DIGEST_LEN;

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
    #[error(
        "the server signed S1 but its S2 is not signed with our C1's digest \
         (complex handshake failed: not a genuine RTMP server, or the bytes were altered)"
    )]
    BadServerSignature,
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

/// The digest `key` signed a C1/S1 with, if any: schema 0 is tried first, then 1 (peers use either).
fn find_digest(block: &[u8], key: &[u8]) -> Option<[u8; 32]> {
    [0u8, 1].into_iter().find_map(|schema| {
        let offset = digest_offset(block, schema);
        let expected = block_digest(block, offset, key);
        (block[offset..offset + DIGEST_LEN] == expected).then_some(expected)
    })
}

/// Embed a digest keyed by `key` in `block` (1536 bytes: time, version, random) at the place
/// `schema` puts it; returns the digest.
fn sign_block(block: &mut [u8], key: &[u8], schema: u8) -> [u8; 32] {
    let offset = digest_offset(block, schema);
    let digest = block_digest(block, offset, key);
    block[offset..offset + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// The signature ending a complex C2/S2: it proves the sender holds `full_key` and saw the peer's
/// C1/S1 digest.
fn response_signature(full_key: &[u8], peer_digest: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let key = hmac_sha256(full_key, &[peer_digest]);
    hmac_sha256(&key, &[body])
}

/// A complex C2/S2: random bytes signed for the peer's digest.
fn signed_response(full_key: &[u8], peer_digest: &[u8; 32]) -> Vec<u8> {
    let mut block = vec![0u8; HANDSHAKE_SIZE];
    rand::thread_rng().fill_bytes(&mut block[..RESPONSE_BODY_LEN]);
    let signature = response_signature(full_key, peer_digest, &block[..RESPONSE_BODY_LEN]);
    block[RESPONSE_BODY_LEN..].copy_from_slice(&signature);
    block
}

/// Whether a C2/S2 ends with the signature for `peer_digest`.
fn response_is_signed(block: &[u8], full_key: &[u8], peer_digest: &[u8; 32]) -> bool {
    let (body, signature) = block.split_at(RESPONSE_BODY_LEN);
    signature == response_signature(full_key, peer_digest, body)
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
            match find_digest(c1, &fp_key()[..FP_C1_KEY_LEN]) {
                Some(client_digest) => {
                    self.complex = true;
                    let mut s1 = random_block([0x04, 0x05, 0x00, 0x01]);
                    sign_block(&mut s1, &fms_key()[..FMS_S1_KEY_LEN], 0);
                    out.put_slice(&s1);
                    out.put_slice(&signed_response(&fms_key(), &client_digest));
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
            // C2 is not checked: real clients (and nginx/SRS) send loose echoes even after a
            // complex C1, and refusing them would gain nothing.
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
    /// The digest our C1 carries (complex handshake only).
    c1_digest: Option<[u8; 32]>,
    server_verified: bool,
}

impl ClientHandshake {
    /// Returns the handshake and C0+C1. `complex` signs C1 with the Flash Player key, as Flash
    /// clients do; a server that answers in kind must then prove it saw that digest (checked in
    /// `feed`), and one that does not gets the simple handshake.
    pub fn start(complex: bool) -> (ClientHandshake, Bytes) {
        let (c1, c1_digest) = if complex {
            let mut c1 = random_block([0x80, 0x00, 0x07, 0x02]);
            let digest = sign_block(&mut c1, &fp_key()[..FP_C1_KEY_LEN], 0);
            (c1, Some(digest))
        } else {
            (random_block([0; 4]), None)
        };
        let mut out = BytesMut::with_capacity(1 + HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        out.put_slice(&c1);
        (
            ClientHandshake {
                buf: BytesMut::new(),
                finished: false,
                c1_digest,
                server_verified: false,
            },
            out.freeze(),
        )
    }

    /// True once a complex handshake finished and the server's S2 carried the signature for our C1.
    pub fn server_verified(&self) -> bool {
        self.server_verified
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
        // One answer only, whether it is C2 or an error.
        self.finished = true;
        let (s1, s2) = s0s1s2[1..].split_at(HANDSHAKE_SIZE);
        let server_digest = self.c1_digest.and_then(|c1_digest| {
            Some((c1_digest, find_digest(s1, &fms_key()[..FMS_S1_KEY_LEN])?))
        });
        step.send = match server_digest {
            Some((c1_digest, s1_digest)) => {
                if !response_is_signed(s2, &fms_key(), &c1_digest) {
                    return Err(HandshakeError::BadServerSignature);
                }
                self.server_verified = true;
                Bytes::from(signed_response(&fp_key(), &s1_digest))
            }
            // A simple-handshake server (or a simple C1): C2 echoes S1.
            None => Bytes::copy_from_slice(s1),
        };
        step.done = Some(std::mem::take(&mut self.buf).freeze());
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client and our server through the whole handshake; the server is fed byte by byte to
    /// exercise its buffering. Returns both sides, the server's S0+S1+S2 and the client's C2.
    struct Run {
        client: ClientHandshake,
        server: ServerHandshake,
        s0s1s2: Bytes,
        c2: Bytes,
        rest: Bytes,
    }

    fn run(complex: bool) -> Run {
        let (mut client, c0c1) = ClientHandshake::start(complex);
        let mut server = ServerHandshake::new();
        let mut s = BytesMut::new();
        for b in c0c1.iter() {
            let step = server.feed(&[*b]).unwrap();
            s.extend_from_slice(&step.send);
            assert!(step.done.is_none());
        }
        assert_eq!(s.len(), 1 + 2 * HANDSHAKE_SIZE);
        let step = client.feed(&s).unwrap();
        assert_eq!(step.done.as_deref(), Some(&b""[..]));
        let c2 = step.send;
        assert_eq!(c2.len(), HANDSHAKE_SIZE);
        let mut c2_and_chunks = BytesMut::from(&c2[..]);
        c2_and_chunks.extend_from_slice(b"chunks");
        let rest = server.feed(&c2_and_chunks).unwrap().done.unwrap();
        Run {
            client,
            server,
            s0s1s2: s.freeze(),
            c2,
            rest,
        }
    }

    fn s1_of(s0s1s2: &[u8]) -> &[u8] {
        &s0s1s2[1..1 + HANDSHAKE_SIZE]
    }

    /// S0+S1+S2 the way a complex server answers `c0c1`, with S1's digest placed by `schema`.
    fn complex_answer(c0c1: &[u8], schema: u8) -> (BytesMut, [u8; 32]) {
        let c1_digest = find_digest(&c0c1[1..], &fp_key()[..FP_C1_KEY_LEN]).unwrap();
        let mut s1 = random_block([0x0D, 0x0E, 0x0A, 0x0D]);
        let s1_digest = sign_block(&mut s1, &fms_key()[..FMS_S1_KEY_LEN], schema);
        let mut out = BytesMut::from(&[RTMP_VERSION][..]);
        out.extend_from_slice(&s1);
        out.extend_from_slice(&signed_response(&fms_key(), &c1_digest));
        (out, s1_digest)
    }

    #[test]
    fn simple_handshake_completes_and_keeps_trailing_bytes() {
        let run = run(false);
        assert!(!run.server.is_complex());
        assert!(!run.client.server_verified());
        assert_eq!(&run.c2[..], s1_of(&run.s0s1s2));
        assert_eq!(&run.rest[..], b"chunks");
    }

    #[test]
    fn complex_client_and_our_server_verify_each_other() {
        let run = run(true);
        assert!(run.server.is_complex());
        assert!(run.client.server_verified());
        assert_eq!(&run.rest[..], b"chunks");
        // S1 is signed with the server key...
        let s1 = s1_of(&run.s0s1s2);
        let offset = digest_offset(s1, 0);
        assert_eq!(
            &s1[offset..offset + DIGEST_LEN],
            &block_digest(s1, offset, &fms_key()[..FMS_S1_KEY_LEN])
        );
        // ...and C2 is no echo: it is signed for S1's digest.
        assert_ne!(&run.c2[..], s1);
    }

    #[test]
    fn complex_clients_c2_verifies_against_the_servers_s1_digest() {
        let run = run(true);
        let s1_digest = find_digest(s1_of(&run.s0s1s2), &fms_key()[..FMS_S1_KEY_LEN])
            .expect("the server signs S1");
        let (body, signature) = run.c2.split_at(RESPONSE_BODY_LEN);
        let key = hmac_sha256(&fp_key(), &[&s1_digest]);
        assert_eq!(signature, hmac_sha256(&key, &[body]));
    }

    #[test]
    fn a_tampered_s2_is_rejected() {
        let (mut client, c0c1) = ClientHandshake::start(true);
        let (mut answer, _) = complex_answer(&c0c1, 0);
        answer[1 + HANDSHAKE_SIZE + 100] ^= 0x01;
        assert_eq!(
            client.feed(&answer).unwrap_err(),
            HandshakeError::BadServerSignature
        );
        assert!(!client.server_verified());
        assert_eq!(client.feed(b"more").unwrap_err(), HandshakeError::Finished);
    }

    #[test]
    fn a_simple_servers_answer_falls_back_to_echoing_s1() {
        let (mut client, c0c1) = ClientHandshake::start(true);
        let s1 = random_block([0; 4]);
        let mut answer = BytesMut::from(&[RTMP_VERSION][..]);
        answer.extend_from_slice(&s1);
        answer.extend_from_slice(&c0c1[1..]);
        let step = client.feed(&answer).unwrap();
        assert_eq!(&step.send[..], &s1[..]);
        assert!(step.done.is_some());
        assert!(!client.server_verified());
    }

    #[test]
    fn a_simple_client_echoes_s1_even_when_the_server_signs_it() {
        // nginx-rtmp signs S1 whatever C1 was, and answers an unsigned C1 with S2 = C1.
        let (mut client, c0c1) = ClientHandshake::start(false);
        let mut s1 = random_block([0x0D, 0x0E, 0x0A, 0x0D]);
        sign_block(&mut s1, &fms_key()[..FMS_S1_KEY_LEN], 0);
        let mut answer = BytesMut::from(&[RTMP_VERSION][..]);
        answer.extend_from_slice(&s1);
        answer.extend_from_slice(&c0c1[1..]);
        let step = client.feed(&answer).unwrap();
        assert_eq!(&step.send[..], &s1[..]);
        assert!(!client.server_verified());
    }

    #[test]
    fn a_schema_one_s1_digest_is_found_and_answered() {
        let (mut client, c0c1) = ClientHandshake::start(true);
        let (answer, s1_digest) = complex_answer(&c0c1, 1);
        let s1 = s1_of(&answer);
        assert_ne!(digest_offset(s1, 0), digest_offset(s1, 1));
        assert_eq!(
            find_digest(s1, &fms_key()[..FMS_S1_KEY_LEN]),
            Some(s1_digest)
        );
        let c2 = client.feed(&answer).unwrap().send;
        assert!(client.server_verified());
        assert!(response_is_signed(&c2, &fp_key(), &s1_digest));
    }

    #[test]
    fn schema_one_c1_digest_is_accepted_by_the_server() {
        let mut c1 = random_block([0x80, 0, 7, 2]);
        let digest = sign_block(&mut c1, &fp_key()[..FP_C1_KEY_LEN], 1);
        assert_eq!(find_digest(&c1, &fp_key()[..FP_C1_KEY_LEN]), Some(digest));
        let mut server = ServerHandshake::new();
        let out = server
            .feed(&[&[RTMP_VERSION][..], &c1[..]].concat())
            .unwrap()
            .send;
        assert!(server.is_complex());
        assert!(response_is_signed(
            &out[1 + HANDSHAKE_SIZE..],
            &fms_key(),
            &digest
        ));
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
