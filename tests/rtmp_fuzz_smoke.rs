//! The fuzz targets' entry points on bounded random and mutated inputs, so `cargo test` exercises them
//! without a nightly toolchain or cargo-fuzz. Deterministic (seeded), a few seconds in debug builds.

mod common;

use common::fuzz::Rng;
use oryx::rtmp::amf0::{self, Amf0};
use oryx::rtmp::chunk::write_message;
use oryx::rtmp::fuzzing;
use oryx::rtmp::message::Writer;

fn seeds() -> Vec<Vec<u8>> {
    let command = amf0::encode_all(&[
        Amf0::str("connect"),
        Amf0::Number(1.0),
        Amf0::Object(vec![
            ("app".into(), Amf0::str("live")),
            (
                "list".into(),
                Amf0::StrictArray(vec![Amf0::Null, Amf0::Boolean(true)]),
            ),
            (
                "meta".into(),
                Amf0::EcmaArray(vec![("d".into(), Amf0::Date { millis: 1.0, tz: 0 })]),
            ),
        ]),
        Amf0::Undefined,
    ]);
    let mut chunks = bytes::BytesMut::new();
    let writer = Writer { chunk_size: 128 };
    writer.set_chunk_size(&mut chunks, 4096);
    write_message(&mut chunks, 4096, 3, 0, 20, 0, &command);
    write_message(&mut chunks, 4096, 6, 0x0100_0000, 9, 1, &[0x17; 9000]);
    let proxy =
        oryx::proxy_protocol::encode("1.2.3.4:5".parse().unwrap(), "[::1]:1935".parse().unwrap());
    vec![command.to_vec(), chunks.to_vec(), proxy]
}

#[test]
fn fuzz_entry_points_survive_random_and_mutated_input() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let seeds = seeds();
    for round in 0..3000 {
        let input = if round % 3 == 0 {
            let len = rng.below(4096);
            rng.bytes(len)
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            rng.mutate(seed)
        };
        fuzzing::amf0(&input);
        fuzzing::chunk_decoder(&input);
        fuzzing::proxy_protocol(&input);
        fuzzing::server_session(&input);
        if round % 10 == 0 {
            fuzzing::handshake(&input);
        }
    }
}
