//! Unit tests of the chunk codec: round trips, header formats, bad input, budgets.

use super::*;

fn decode_all(decoder: &mut ChunkDecoder) -> Vec<RawMessage> {
    let mut messages = Vec::new();
    while let Some(m) = decoder.next_message().unwrap() {
        messages.push(m);
    }
    messages
}

#[test]
fn roundtrips_large_messages_across_chunk_sizes_and_csids() {
    for (chunk_size, csid) in [(128, 3), (4096, 63), (60000, 64), (128, 319), (128, 320)] {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut out = BytesMut::new();
        write_message(&mut out, chunk_size, csid, 1234, 9, 1, &payload);
        write_message(&mut out, chunk_size, csid, 0x0100_0000, 8, 1, b"abc");
        let mut decoder = ChunkDecoder::new();
        decoder.set_chunk_size(chunk_size as u32).unwrap();
        // Feed in odd pieces to exercise partial chunks.
        let mut messages = Vec::new();
        for piece in out.chunks(7) {
            decoder.push(piece);
            messages.extend(decode_all(&mut decoder));
        }
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].payload, payload);
        assert_eq!(messages[0].timestamp, 1234);
        assert_eq!(messages[0].csid, csid);
        assert_eq!(messages[1].timestamp, 0x0100_0000);
        assert_eq!(&messages[1].payload[..], b"abc");
    }
}

#[test]
fn extended_timestamp_repeated_on_continuations() {
    let payload = vec![7u8; 300];
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 6, 0x0200_0000, 9, 1, &payload);
    let mut decoder = ChunkDecoder::new();
    decoder.push(&out);
    let m = decoder.next_message().unwrap().unwrap();
    assert_eq!(m.payload.len(), 300);
    assert_eq!(m.timestamp, 0x0200_0000);
    assert!(decoder.next_message().unwrap().is_none());
}

#[test]
fn fmt1_2_3_headers_apply_deltas() {
    let mut out = BytesMut::new();
    put_message_header(&mut out, 4, 100, 2, 8, 1);
    out.put_slice(b"aa");
    // fmt 1: delta 20, length 3, type 8.
    put_basic_header(&mut out, 1, 4);
    out.put_uint(20, 3);
    out.put_uint(3, 3);
    out.put_u8(8);
    out.put_slice(b"bbb");
    // fmt 2: delta 30.
    put_basic_header(&mut out, 2, 4);
    out.put_uint(30, 3);
    out.put_slice(b"ccc");
    // fmt 3 new message: same delta again.
    put_basic_header(&mut out, 3, 4);
    out.put_slice(b"ddd");
    let mut decoder = ChunkDecoder::new();
    decoder.push(&out);
    let ts: Vec<u32> = decode_all(&mut decoder)
        .iter()
        .map(|m| m.timestamp)
        .collect();
    assert_eq!(ts, vec![100, 120, 150, 180]);
}

#[test]
fn abort_discards_partial_message() {
    let mut out = BytesMut::new();
    put_message_header(&mut out, 4, 0, 200, 8, 1);
    out.put_slice(&[1u8; 128]);
    let mut decoder = ChunkDecoder::new();
    decoder.push(&out);
    assert!(decoder.next_message().unwrap().is_none());
    decoder.abort(4);
    let mut out = BytesMut::new();
    put_message_header(&mut out, 4, 5, 1, 8, 1);
    out.put_u8(9);
    decoder.push(&out);
    assert_eq!(&decoder.next_message().unwrap().unwrap().payload[..], &[9]);
}

#[test]
fn rejects_bad_input() {
    let mut decoder = ChunkDecoder::new();
    decoder.push(&[0xC4]);
    assert_eq!(decoder.next_message(), Err(ChunkError::NoPreviousHeader(4)));
    let mut decoder = ChunkDecoder::new();
    let mut out = BytesMut::new();
    put_message_header(&mut out, 4, 0, 0xFF_FFFF, 9, 1);
    decoder.push(&out);
    assert!(matches!(
        decoder.next_message(),
        Err(ChunkError::MessageTooLarge(_))
    ));
    assert!(decoder.set_chunk_size(0).is_err());
    assert!(decoder.set_chunk_size(1 << 20).is_err());
    let mut decoder = ChunkDecoder::new();
    let mut out = BytesMut::new();
    for csid in 2..200 {
        put_message_header(&mut out, csid, 0, 1, 8, 1);
        out.put_u8(0);
    }
    decoder.push(&out);
    let mut result = Ok(None);
    for _ in 0..200 {
        result = decoder.next_message();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ChunkError::TooManyChunkStreams));
}

#[test]
fn a_message_longer_than_the_budget_is_refused_at_its_header() {
    let mut decoder = ChunkDecoder::new();
    decoder.set_partial_limit(1000);
    let mut out = BytesMut::new();
    put_message_header(&mut out, 3, 0, 8 * 1024 * 1024 - 1, 20, 0);
    decoder.push(&out);
    assert_eq!(
        decoder.next_message(),
        Err(ChunkError::MessageOverBudget {
            length: 8 * 1024 * 1024 - 1,
            limit: 1000
        })
    );
}

#[test]
fn unfinished_messages_stay_within_the_budget_and_are_counted() {
    let mut decoder = ChunkDecoder::new();
    decoder.set_partial_limit(1500);
    let mut out = BytesMut::new();
    // Two 800-byte messages, each sent up to its last chunk: the second does not fit.
    for csid in [4, 5] {
        put_message_header(&mut out, csid, 0, 800, 8, 1);
        out.put_slice(&[0u8; 128]);
        for _ in 0..5 {
            put_basic_header(&mut out, 3, csid);
            out.put_slice(&[0u8; 128]);
        }
    }
    decoder.push(&out);
    assert_eq!(
        decoder.next_message(),
        Err(ChunkError::TooMuchPartialData(1500))
    );
    assert!(decoder.held_bytes() <= 1500 + out.len());

    // Within budget: what is held never passes the declared length, and is released.
    let mut decoder = ChunkDecoder::new();
    decoder.set_partial_limit(20_000);
    let mut out = BytesMut::new();
    write_message(&mut out, 128, 6, 0, 9, 1, &[7u8; 10_000]);
    let (head, tail) = out.split_at(out.len() - 50);
    decoder.push(head);
    assert_eq!(decoder.next_message(), Ok(None));
    assert!(decoder.has_partial());
    assert!(
        decoder.held_bytes() <= 10_000 + 200,
        "{}",
        decoder.held_bytes()
    );
    decoder.push(tail);
    assert_eq!(
        decoder.next_message().unwrap().unwrap().payload.len(),
        10_000
    );
    assert!(!decoder.has_partial());
    assert_eq!(decoder.held_bytes(), 0);
}

#[test]
fn chunk_size_2_pow_31_is_reported_as_sent() {
    let mut decoder = ChunkDecoder::new();
    let err = decoder.set_chunk_size(1 << 31).unwrap_err();
    assert_eq!(err, ChunkError::BadChunkSize(1 << 31));
    assert!(err.to_string().contains("2147483648"), "{err}");
}

#[test]
fn chunked_body_matches_write_message() {
    let payload = vec![3u8; 1000];
    let mut whole = BytesMut::new();
    write_message(&mut whole, 256, 6, 40, 9, 1, &payload);
    let mut split = BytesMut::new();
    put_message_header(&mut split, 6, 40, payload.len(), 9, 1);
    split.extend_from_slice(&chunked_body(256, 6, None, &payload));
    assert_eq!(whole, split);
}
