//! Handshake tests on packets captured from Debian's FFmpeg 5.1 (libsrt 1.5) as a caller on
//! loopback: its v4 induction and its v5 conclusions, without and with a passphrase.

use super::*;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// `ffmpeg … 'srt://127.0.0.1:P?streamid=#!::r=live/cam,m=publish'`: the induction.
const INDUCTION: &str = "8000000000000000000000e40000000000000004000000023f46e866000005dc000020000000000126c3a6a4000000000100007f000000000000000000000000";
/// Its conclusion after an answer with cookie 0x12345678.
const CONCLUSION: &str = "80000000000000000000025e0000000000000005000000053f46e866000005dc00002000ffffffff26c3a6a4123456780100007f0000000000000000000000000001000300010501000000bf00780000000500063a3a2123696c3d72632f65766d2c6d616275703d6873696c";
/// `streamid=publish:live/cam2&passphrase=…&pbkeylen=32`: HSREQ, SID and KMREQ.
const CONCLUSION_KM: &str = "800000000000000000000e9a000000000000000500040007243d6add000005dc00002000ffffffff0f0c8ffd123456780100007f0000000000000000000000000001000300010501000000bf00780000000500056c6275703a6873696576696c6d61632f0000003200030012122029010000000002000200000004084e883460cc8c82d78e7e7864aebf24c77acc535be76bc1bf3ffc82e5cb517de23020869ecc3d41df10fa820849a3e6c29e457642df172c16";

#[test]
fn reads_ffmpegs_induction() {
    let packet = hex(INDUCTION);
    assert!(is_handshake(&packet));
    assert_eq!(kind_of(&packet), Some(HandshakeKind::Induction));
    let hs = Handshake::parse(&packet).unwrap();
    assert_eq!(hs.version, 4);
    assert_eq!(hs.extension, UDT_DGRAM);
    assert_eq!(hs.kind, HandshakeKind::Induction);
    assert_eq!(hs.dest_socket, 0);
    assert_eq!(hs.socket_id, 0x26c3a6a4);
    assert_eq!(hs.cookie, 0);
    assert_eq!(hs.mtu, 1500);
    assert!(hs.extensions.is_empty());
    assert_eq!(hs.encode(), packet, "re-encodes byte for byte");
}

#[test]
fn reads_the_stream_id_of_ffmpegs_conclusion() {
    let packet = hex(CONCLUSION);
    let hs = Handshake::parse(&packet).unwrap();
    assert_eq!(hs.kind, HandshakeKind::Conclusion);
    assert_eq!(hs.version, 5);
    assert_eq!(hs.cookie, 0x12345678);
    assert_eq!(hs.socket_id, 0x26c3a6a4);
    // HSREQ | CONFIG: no KMREQ without a passphrase.
    assert_eq!(hs.extension, 0x5);
    let kinds: Vec<u16> = hs.extensions.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ext::HSREQ, ext::SID]);
    assert_eq!(hs.stream_id().unwrap().unwrap(), "#!::r=live/cam,m=publish");
    assert_eq!(hs.encode(), packet);
}

#[test]
fn reads_a_conclusion_with_a_key_request() {
    let packet = hex(CONCLUSION_KM);
    let hs = Handshake::parse(&packet).unwrap();
    assert_eq!(hs.encryption, 4, "pbkeylen 32 is advertised as 4");
    let kinds: Vec<u16> = hs.extensions.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ext::HSREQ, ext::SID, ext::KMREQ]);
    assert_eq!(hs.stream_id().unwrap().unwrap(), "publish:live/cam2");
    assert_eq!(hs.encode(), packet);
}

#[test]
fn the_sid_extension_swaps_each_word() {
    let ext = sid_extension("live/cam").unwrap();
    assert_eq!(ext.body, b"evilmac/");
    let ext = sid_extension("abcde").unwrap();
    assert_eq!(ext.body, b"dcba\0\0\0e");
    assert_eq!(decode_stream_id(&ext.body).unwrap(), "abcde");
    assert!(sid_extension(&"x".repeat(MAX_STREAM_ID + 1)).is_err());
    assert_eq!(
        decode_stream_id(&[0xff, 0xfe, 0xfd, 0xfc]),
        Err(HandshakeError::StreamIdNotUtf8)
    );
}

#[test]
fn answers_an_induction_like_libsrts_listener() {
    let request = Handshake::parse(&hex(INDUCTION)).unwrap();
    let answer = request.induction_answer(0xabcdef01, 16, 7);
    let bytes = answer.encode();
    let back = Handshake::parse(&bytes).unwrap();
    assert_eq!(back.version, 5);
    assert_eq!(back.extension, SRT_MAGIC);
    assert_eq!(back.encryption, 2);
    assert_eq!(back.dest_socket, request.socket_id);
    assert_eq!(back.socket_id, request.socket_id);
    assert_eq!(back.cookie, 0xabcdef01);
    assert_eq!(back.kind, HandshakeKind::Induction);
}

#[test]
fn builds_the_induction_a_conclusion_implies_and_a_rejection() {
    let conclusion = Handshake::parse(&hex(CONCLUSION)).unwrap();
    let induction = conclusion.induction_for(0);
    let original = Handshake::parse(&hex(INDUCTION)).unwrap();
    assert_eq!(
        Handshake {
            timestamp: original.timestamp,
            ..induction
        },
        original
    );
    let refusal = Handshake::parse(&conclusion.rejection(reject::BAD_REQUEST, 0).encode()).unwrap();
    assert_eq!(refusal.kind, HandshakeKind::Rejection(reject::BAD_REQUEST));
    assert_eq!(refusal.dest_socket, conclusion.socket_id);
    assert!(refusal.extensions.is_empty());
}

#[test]
fn rewrites_the_cookie_in_place() {
    let mut packet = hex(CONCLUSION_KM);
    assert!(set_cookie(&mut packet, 0x01020304));
    let hs = Handshake::parse(&packet).unwrap();
    assert_eq!(hs.cookie, 0x01020304);
    assert_eq!(hs.stream_id().unwrap().unwrap(), "publish:live/cam2");
    let mut data = vec![0u8; 100];
    assert!(!set_cookie(&mut data, 1), "a data packet is left alone");
}

#[test]
fn refuses_what_is_not_a_handshake() {
    assert_eq!(Handshake::parse(&[]), Err(HandshakeError::NotControl));
    assert_eq!(
        Handshake::parse(&[0u8; 64]),
        Err(HandshakeError::NotControl)
    );
    let mut keepalive = [0u8; 16];
    keepalive[0] = 0x80;
    keepalive[1] = 1;
    assert_eq!(
        Handshake::parse(&keepalive),
        Err(HandshakeError::NotHandshake(1))
    );
    assert!(is_shutdown(&[
        0x80, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    ]));
    let short = &hex(INDUCTION)[..40];
    assert_eq!(Handshake::parse(short), Err(HandshakeError::Short(40)));
    // An extension that claims more words than follow.
    let mut packet = hex(CONCLUSION);
    let at = packet.len() - 28;
    packet[at + 2] = 0xff;
    let bad = Handshake::parse(&packet[..packet.len()]);
    assert!(bad.is_err() || bad.unwrap().extensions.len() < 2);
    let mut cut = hex(CONCLUSION);
    cut.truncate(cut.len() - 2);
    assert_eq!(Handshake::parse(&cut), Err(HandshakeError::BadExtension));
}

#[test]
fn survives_every_truncation_and_a_byte_flip() {
    for source in [INDUCTION, CONCLUSION, CONCLUSION_KM] {
        let packet = hex(source);
        for len in 0..=packet.len() {
            let _ = Handshake::parse(&packet[..len]);
        }
        for at in 0..packet.len() {
            let mut flipped = packet.clone();
            flipped[at] ^= 0xff;
            if let Ok(hs) = Handshake::parse(&flipped) {
                let _ = hs.stream_id();
                let _ = hs.encode();
            }
        }
    }
}
