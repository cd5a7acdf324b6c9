//! Fuzz entry points shared by the cargo-fuzz targets in `fuzz/` and the bounded random-input tests
//! that run with `cargo test` (for machines without a nightly toolchain). Each must never panic.

use super::amf0;
use super::chunk::ChunkDecoder;
use super::client::{ClientConfig, ClientMode, ClientSession};
use super::handshake::{ClientHandshake, ServerHandshake};
use super::message::Message;
use super::server::ServerSession;

pub fn handshake(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut server = ServerHandshake::new();
    let _ = server
        .feed(&data[..split])
        .and_then(|_| server.feed(&data[split..]));
    let (mut client, _) = ClientHandshake::start(data.len().is_multiple_of(2));
    let _ = client.feed(data);
    // A complex client fed a real server's answer with `data` written over part of it, so inputs
    // reach S1's digest search, S2's signature check and the fallback to echoing S1.
    let (mut client, c0c1) = ClientHandshake::start(true);
    let Ok(step) = ServerHandshake::new().feed(&c0c1) else {
        return;
    };
    let mut answer = step.send.to_vec();
    let start = split.min(answer.len());
    let end = (start + data.len()).min(answer.len());
    answer[start..end].copy_from_slice(&data[..end - start]);
    let _ = client.feed(&answer);
}

pub fn chunk_decoder(data: &[u8]) {
    let mut decoder = ChunkDecoder::new();
    // Half the inputs run under a small budget, as a worker's player does.
    if data.first().is_some_and(|b| b & 1 == 1) {
        decoder.set_partial_limit(4096);
    }
    for piece in data.chunks(97) {
        decoder.push(piece);
        loop {
            match decoder.next_message() {
                Ok(Some(raw)) => {
                    if let Ok(Message::SetChunkSize(size)) = Message::parse(raw) {
                        let _ = decoder.set_chunk_size(size);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

pub fn amf0(data: &[u8]) {
    if let Ok(values) = amf0::decode_all(data) {
        // What decodes must re-encode and decode to the same values (NaN aside).
        let again = amf0::encode_all(&values);
        let _ = amf0::decode_all(&again);
    }
}

pub fn proxy_protocol(data: &[u8]) {
    if let Ok(crate::proxy_protocol::Decoded::Header { len, .. }) =
        crate::proxy_protocol::decode(data)
    {
        assert!(len <= data.len());
        let _ = crate::proxy_protocol::verify_credential(&data[..len], b"fuzz key", 1_800_000_000);
    }
}

/// A server session fed a valid client handshake and connect, then `data`.
pub fn server_session(data: &[u8]) {
    let config =
        ClientConfig::from_url("rtmp://127.0.0.1/live/s", ClientMode::Publish).expect("static url");
    let mut client = ClientSession::new(config);
    let mut server = ServerSession::new(4096);
    // The worker's budgets, small enough that inputs reach them.
    server.set_input_budget(super::server::InputBudget {
        commands: 4096,
        publisher: 64 * 1024,
    });
    let c0c1 = client.take_output();
    let Ok(_) = server.feed(&c0c1) else { return };
    let s = server.take_output();
    let _ = client.feed(&s);
    let c2_and_connect = client.take_output();
    let _ = server.feed(&c2_and_connect);
    for piece in data.chunks(211) {
        if server.feed(piece).is_err() {
            return;
        }
        let _ = server.take_output();
    }
}
