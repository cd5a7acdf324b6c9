//! Unit tests of the server session: flows with our client, refusals, budgets by role.

use super::*;
use crate::rtmp::chunk::ChunkError;
use crate::rtmp::client::{ClientConfig, ClientEvent, ClientMode, ClientSession};
use bytes::BytesMut;

/// Shuttle bytes between a client and a server session until neither has output.
fn pump(
    client: &mut ClientSession,
    server: &mut ServerSession,
    server_events: &mut Vec<ServerEvent>,
    client_events: &mut Vec<ClientEvent>,
) {
    for _ in 0..50 {
        let to_server = client.take_output();
        if !to_server.is_empty() {
            server_events.extend(server.feed(&to_server).unwrap());
        }
        let to_client = server.take_output();
        if !to_client.is_empty() {
            client_events.extend(client.feed(&to_client).unwrap());
        }
        if to_server.is_empty() && to_client.is_empty() {
            return;
        }
    }
    panic!("sessions never went quiet");
}

fn config(mode: ClientMode) -> ClientConfig {
    ClientConfig::from_url("rtmp://127.0.0.1:1935/live/s?token=1", mode).unwrap()
}

#[test]
fn publish_flow_with_our_client() {
    let mut client = ClientSession::new(config(ClientMode::Publish));
    let mut server = ServerSession::new(4096);
    let (mut se, mut ce) = (Vec::new(), Vec::new());
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert!(client.server_verified(), "complex handshake by default");
    let ServerEvent::Connected(info) = &se[0] else {
        panic!("{se:?}")
    };
    assert_eq!(info.app, "live");
    assert_eq!(info.tc_url, "rtmp://127.0.0.1:1935/live");
    let ServerEvent::Publish { stream_id, name } = se[1].clone() else {
        panic!("{se:?}")
    };
    assert_eq!(name, "s?token=1");
    server.accept_publish(stream_id, &name);
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert!(ce.contains(&ClientEvent::Started), "{ce:?}");
    se.clear();
    client.send_media(MediaKind::Video, 40, &[0x17, 0, 0, 0, 0]);
    client.send_media(MediaKind::Audio, 41, &vec![0xAF; 5000]);
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert_eq!(se.len(), 2);
    assert!(
        matches!(&se[1], ServerEvent::Media { kind: MediaKind::Audio, timestamp: 41, payload } if payload.len() == 5000)
    );
    se.clear();
    client.unpublish();
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert!(
        se.iter()
            .any(|e| *e == ServerEvent::CloseStream { stream_id }),
        "{se:?}"
    );
}

#[test]
fn play_flow_and_refusal() {
    let mut client = ClientSession::new(config(ClientMode::Play));
    let mut server = ServerSession::new(60000);
    let (mut se, mut ce) = (Vec::new(), Vec::new());
    pump(&mut client, &mut server, &mut se, &mut ce);
    let ServerEvent::Play { stream_id, name } = se[1].clone() else {
        panic!("{se:?}")
    };
    server.accept_play(stream_id, &name);
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert!(ce.contains(&ClientEvent::Started));
    server.unpublish_notify(stream_id, &name);
    server.reject_play(stream_id, "NetStream.Play.StreamNotFound", "gone");
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert!(ce.iter().any(|e| matches!(e, ClientEvent::Status { code, .. } if code == "NetStream.Play.UnpublishNotify")));
    assert!(ce
        .iter()
        .any(|e| matches!(e, ClientEvent::Status { level, .. } if level == "error")));
}

#[test]
fn refused_connect_answers_error() {
    let mut client = ClientSession::new(config(ClientMode::Play));
    let mut server = ServerSession::new(4096);
    server.refuse_connect("full");
    let mut events = Vec::new();
    let mut failed = false;
    for _ in 0..10 {
        let out = client.take_output();
        if server.feed(&out).is_err() {
            failed = true;
        }
        events.extend(client.feed(&server.take_output()).unwrap());
    }
    assert!(failed);
    assert!(events
        .iter()
        .any(|e| matches!(e, ClientEvent::CommandError { description } if description == "full")));
}

const BUDGET: InputBudget = InputBudget {
    commands: 8192,
    publisher: 1 << 20,
};

#[test]
fn a_publisher_gets_its_budget_from_the_publish_command_on() {
    let mut client = ClientSession::new(config(ClientMode::Publish));
    let mut server = ServerSession::new(4096);
    server.set_input_budget(BUDGET);
    let (mut se, mut ce) = (Vec::new(), Vec::new());
    let before = server.progress();
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert!(
        server.progress() > before + 3,
        "handshake and commands count"
    );
    assert_eq!(server.peer_role(), PeerRole::Publisher);
    se.clear();
    // Far over the commands budget, within the publisher's; sent before publish is answered,
    // as a pipelining client would.
    client.send_media(MediaKind::Video, 40, &vec![0x17; 200_000]);
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert!(
        matches!(&se[..], [ServerEvent::Media { payload, .. }] if payload.len() == 200_000),
        "{se:?}"
    );
    assert_eq!(server.held_bytes(), 0);
    assert!(!server.has_partial());
}

#[test]
fn a_player_keeps_the_commands_budget_even_if_it_publishes_later() {
    let mut client = ClientSession::new(config(ClientMode::Play));
    let mut server = ServerSession::new(4096);
    server.set_input_budget(BUDGET);
    let (mut se, mut ce) = (Vec::new(), Vec::new());
    pump(&mut client, &mut server, &mut se, &mut ce);
    assert_eq!(server.peer_role(), PeerRole::Player);
    let mut publish = BytesMut::new();
    crate::rtmp::message::Writer { chunk_size: 4096 }.command(
        &mut publish,
        1,
        &[
            Amf0::str("publish"),
            Amf0::Number(5.0),
            Amf0::Null,
            Amf0::str("s"),
        ],
    );
    server.feed(&publish).unwrap();
    assert_eq!(server.peer_role(), PeerRole::Player);
    client.send_media(MediaKind::Video, 40, &vec![0x17; 20_000]);
    let err = server.feed(&client.take_output()).unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Chunk(ChunkError::MessageOverBudget {
                length: 20_000,
                limit: 8192
            })
        ),
        "{err}"
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut server = ServerSession::new(4096);
    assert!(server.feed(b"GET / HTTP/1.1\r\n\r\n").is_err());
}

/// The server's bytes after a client's `connect`, and what it made of the client.
fn connect_answer(fourcc_list: Option<Vec<String>>) -> (Vec<u8>, ConnectInfo) {
    let mut config = config(ClientMode::Play);
    config.fourcc_list = fourcc_list;
    let mut client = ClientSession::new(config);
    let mut server = ServerSession::new(4096);
    let mut answer = Vec::new();
    let mut info = None;
    for _ in 0..10 {
        for event in server.feed(&client.take_output()).unwrap() {
            if let ServerEvent::Connected(connected) = event {
                info = Some(connected);
            }
        }
        let out = server.take_output();
        answer.extend_from_slice(&out);
        client.feed(&out).unwrap();
    }
    (answer, info.expect("connected"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn connect_answer_states_enhanced_rtmp_only_to_clients_that_announced_it() {
    let (legacy, info) = connect_answer(None);
    assert!(!info.enhanced.announced);
    assert!(!contains(&legacy, b"fourCcList") && !contains(&legacy, b"capsEx"));
    let (enhanced, info) = connect_answer(Some(vec!["hvc1".into(), "Opus".into()]));
    assert!(info.enhanced.announced);
    assert!(info.enhanced.accepts("hvc1") && !info.enhanced.accepts("av01"));
    for needle in [
        &b"fourCcList"[..],
        b"videoFourCcInfoMap",
        b"audioFourCcInfoMap",
        b"capsEx",
        b"av01",
    ] {
        assert!(
            contains(&enhanced, needle),
            "{}",
            String::from_utf8_lossy(needle)
        );
    }
}
