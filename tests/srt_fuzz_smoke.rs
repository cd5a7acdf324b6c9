//! The SRT fuzz target's entry point (`oryx::srt::fuzzing::handshake`) on seeded random and
//! mutated inputs: handshakes as FFmpeg's libsrt sends them and stream ids in both conventions.

mod common;

use common::fuzz::Rng;
use oryx::srt::fuzzing;
use oryx::srt::handshake::{self, Extension, Handshake, HandshakeKind};

fn seeds() -> Vec<Vec<u8>> {
    let induction = Handshake {
        timestamp: 1,
        dest_socket: 0,
        version: 4,
        encryption: 0,
        extension: handshake::UDT_DGRAM,
        isn: 7,
        mtu: 1500,
        flow_window: 8192,
        kind: HandshakeKind::Induction,
        socket_id: 0x1234,
        cookie: 0,
        peer_ip: [1; 16],
        extensions: Vec::new(),
    };
    let conclusion = Handshake {
        version: 5,
        kind: HandshakeKind::Conclusion,
        cookie: 99,
        extensions: vec![
            Extension {
                kind: handshake::ext::HSREQ,
                body: vec![0, 1, 5, 1, 0, 0, 0, 0xbf, 0, 0x78, 0, 0],
            },
            handshake::sid_extension("#!::r=live/cam?token=1,m=publish,h=v").unwrap(),
            Extension {
                kind: handshake::ext::KMREQ,
                body: vec![0x12; 48],
            },
        ],
        ..induction.clone()
    };
    vec![
        induction.encode(),
        conclusion.encode(),
        b"publish:live/cam:user:pass?x=1".to_vec(),
        b"#!::r=a/b/c,m=request,u=bob".to_vec(),
    ]
}

#[test]
fn srt_fuzz_entry_point_survives_random_and_mutated_input() {
    let mut rng = Rng(0x0005_EED0_F5A7);
    let seeds = seeds();
    for round in 0..20_000 {
        let input = if round % 4 == 0 {
            let len = rng.below(600);
            rng.bytes(len)
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            rng.mutate(seed)
        };
        fuzzing::handshake(&input);
    }
}
