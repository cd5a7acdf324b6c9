//! Entry points for the SRT fuzz targets (`fuzz/fuzz_targets/srt_*.rs`), also driven by
//! `tests/srt_fuzz_smoke.rs` on stable. Each must never panic, whatever the bytes.

use super::handshake::{self, Handshake};

/// A datagram as the srt-lb reads it: the cheap checks, the full parse, its stream id and both
/// conventions, the answers built from it, and the cookie rewrite.
pub fn handshake(data: &[u8]) {
    let _ = handshake::kind_of(data);
    let _ = handshake::is_shutdown(data);
    let mut copy = data.to_vec();
    let _ = handshake::set_cookie(&mut copy, 0x1234_5678);
    if let Ok(hs) = Handshake::parse(data) {
        if let Some(Ok(id)) = hs.stream_id() {
            let _ = super::stream_id::parse(&id);
        }
        let again = Handshake::parse(&hs.encode()).expect("an encoded handshake parses");
        assert_eq!(again.kind, hs.kind);
        let _ = hs.induction_answer(1, 16, 0).encode();
        let _ = hs.induction_for(0).encode();
        let _ = hs.rejection(handshake::reject::BAD_REQUEST, 0).encode();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = super::stream_id::parse(text);
    }
}
