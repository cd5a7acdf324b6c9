//! Server side of an RTMP connection, sans-IO: handshake, chunking, acks, connect/createStream answered
//! here; publish/play surfaced as events for the application to accept or refuse.

use super::amf0::Amf0;
use super::chunk::ChunkError;
use super::handshake::{HandshakeError, ServerHandshake};
use super::link::Link;
use super::message::{
    strip_set_data_frame, Command, MediaKind, Message, MessageError, UserControl,
};
use bytes::Bytes;

/// Window acknowledgement size and peer bandwidth announced to clients (what SRS and nginx use).
pub const WINDOW_ACK_SIZE: u32 = 2_500_000;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("message: {0}")]
    Message(#[from] MessageError),
    #[error("{0}")]
    Protocol(String),
}

/// What the client sent in `connect`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectInfo {
    pub app: String,
    pub tc_url: String,
    pub object: Amf0,
}

/// What happened on the connection, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// `connect` was answered with success.
    Connected(ConnectInfo),
    /// The client wants to publish `name` (may carry `?query`); answer with `accept_publish` or
    /// `reject_publish`.
    Publish { stream_id: u32, name: String },
    /// The client wants to play `name`; answer with `accept_play` or `reject_play`.
    Play { stream_id: u32, name: String },
    /// FCUnpublish, closeStream or deleteStream: the client ends a publish or play.
    CloseStream { stream_id: u32 },
    /// Audio, video or metadata (`@setDataFrame` already stripped).
    Media {
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
}

enum Phase {
    Handshake(ServerHandshake),
    Chunks,
}

/// What the session knows of its peer's role, which decides its budget for unfinished messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// No `publish` or `play` yet.
    Unknown,
    /// Sent `play` first: from now on it only sends small commands.
    Player,
    /// Sent `publish` first: sends media, up to the largest message.
    Publisher,
}

/// How many bytes of unfinished messages the session holds for its peer, by role (see
/// [`ServerSession::set_input_budget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputBudget {
    /// Before `publish`, and for a player: commands and control only.
    pub commands: usize,
    /// Once the peer sent `publish`.
    pub publisher: usize,
}

/// One server-side RTMP connection.
pub struct ServerSession {
    phase: Phase,
    link: Link,
    out_chunk_size: u32,
    connected: bool,
    next_stream_id: u32,
    refusal: Option<String>,
    role: PeerRole,
    budget: Option<InputBudget>,
}

impl ServerSession {
    /// `chunk_size` is what this side sends with after `connect` (128..=65536).
    pub fn new(chunk_size: u32) -> ServerSession {
        ServerSession {
            phase: Phase::Handshake(ServerHandshake::new()),
            link: Link::new(),
            out_chunk_size: chunk_size.clamp(128, 65536),
            connected: false,
            next_stream_id: 1,
            refusal: None,
            role: PeerRole::Unknown,
            budget: None,
        }
    }

    /// Bound the peer's unfinished messages by role: `commands` from now on, `publisher` once the
    /// peer sends `publish` (switched while decoding, so media right behind the command fits). A
    /// peer that played first never gets the publisher's budget. Without a call, the decoder's own
    /// limit applies to everyone.
    pub fn set_input_budget(&mut self, budget: InputBudget) {
        self.budget = Some(budget);
        self.apply_budget();
    }

    fn apply_budget(&mut self) {
        if let Some(budget) = self.budget {
            self.link.set_partial_limit(match self.role {
                PeerRole::Publisher => budget.publisher,
                PeerRole::Unknown | PeerRole::Player => budget.commands,
            });
        }
    }

    /// The peer's role as far as its commands tell.
    pub fn peer_role(&self) -> PeerRole {
        self.role
    }

    /// Memory held for the peer's input: unfinished messages and undecoded bytes.
    pub fn held_bytes(&self) -> usize {
        self.link.held_bytes()
    }

    /// Whether one of the peer's messages is under way.
    pub fn has_partial(&self) -> bool {
        self.link.has_partial()
    }

    /// Grows whenever the peer completes something: its handshake, then every whole message.
    pub fn progress(&self) -> u64 {
        let handshake_done = matches!(self.phase, Phase::Chunks);
        self.link.messages_received() + u64::from(handshake_done)
    }

    /// Answer `connect` with `_error` (`NetConnection.Connect.Rejected`) and end the session with an
    /// error; used when the worker is at its connection limit.
    pub fn refuse_connect(&mut self, description: &str) {
        self.refusal = Some(description.to_string());
    }

    /// The chunk size this side writes with now.
    pub fn out_chunk_size(&self) -> usize {
        self.link.writer.chunk_size
    }

    /// Bytes waiting to be sent.
    pub fn take_output(&mut self) -> Bytes {
        // Take the whole buffer (not `split`), so an idle connection keeps no allocation alive.
        std::mem::take(&mut self.link.out).freeze()
    }

    pub fn has_output(&self) -> bool {
        !self.link.out.is_empty()
    }

    /// Feed received bytes; returns the events they produced.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<ServerEvent>, SessionError> {
        let mut events = Vec::new();
        self.link.count_received(data.len());
        match &mut self.phase {
            Phase::Handshake(handshake) => {
                let step = handshake.feed(data)?;
                self.link.out.extend_from_slice(&step.send);
                let Some(rest) = step.done else {
                    return Ok(events);
                };
                self.phase = Phase::Chunks;
                self.link.push(&rest);
            }
            Phase::Chunks => self.link.push(data),
        }
        while let Some(message) = self.link.next_message()? {
            self.handle(message, &mut events)?;
        }
        self.link.acknowledge_if_due();
        Ok(events)
    }

    fn handle(
        &mut self,
        message: Message,
        events: &mut Vec<ServerEvent>,
    ) -> Result<(), SessionError> {
        match message {
            Message::Audio(raw) | Message::Video(raw) | Message::Data(raw) => {
                let kind = MediaKind::of_message(raw.type_id);
                let payload = if kind == MediaKind::Script {
                    strip_set_data_frame(&raw.payload)
                } else {
                    raw.payload
                };
                events.push(ServerEvent::Media {
                    kind,
                    timestamp: raw.timestamp,
                    payload,
                });
            }
            Message::Command { stream_id, command } => {
                self.command(stream_id, command, events)?;
            }
            // Protocol control was handled by the link; other user control events and unknown
            // types need nothing from a live server.
            _ => {}
        }
        Ok(())
    }

    fn command(
        &mut self,
        stream_id: u32,
        command: Command,
        events: &mut Vec<ServerEvent>,
    ) -> Result<(), SessionError> {
        let tid = command.transaction;
        match command.name.as_str() {
            "connect" => {
                if self.connected {
                    return Err(SessionError::Protocol("connect sent twice".into()));
                }
                if let Some(description) = self.refusal.clone() {
                    self.link.writer.command(
                        &mut self.link.out,
                        0,
                        &[
                            Amf0::str("_error"),
                            Amf0::Number(tid),
                            Amf0::Null,
                            Amf0::Object(vec![
                                ("level".into(), Amf0::str("error")),
                                ("code".into(), Amf0::str("NetConnection.Connect.Rejected")),
                                ("description".into(), Amf0::str(&description)),
                            ]),
                        ],
                    );
                    return Err(SessionError::Protocol(description));
                }
                let field = |key: &str| {
                    command
                        .object
                        .get(key)
                        .and_then(Amf0::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let info = ConnectInfo {
                    app: field("app"),
                    tc_url: field("tcUrl"),
                    object: command.object.clone(),
                };
                self.connected = true;
                self.answer_connect(tid);
                events.push(ServerEvent::Connected(info));
            }
            "createStream" => {
                self.require_connected()?;
                if self.next_stream_id > 16 {
                    return Err(SessionError::Protocol("too many streams".into()));
                }
                let id = self.next_stream_id;
                self.next_stream_id += 1;
                self.link.writer.command(
                    &mut self.link.out,
                    0,
                    &[
                        Amf0::str("_result"),
                        Amf0::Number(tid),
                        Amf0::Null,
                        Amf0::Number(f64::from(id)),
                    ],
                );
            }
            "releaseStream" | "FCPublish" | "getStreamLength" if tid > 0.0 => {
                self.link.writer.command(
                    &mut self.link.out,
                    0,
                    &[
                        Amf0::str("_result"),
                        Amf0::Number(tid),
                        Amf0::Null,
                        Amf0::Undefined,
                    ],
                );
            }
            "publish" | "play" => {
                self.require_connected()?;
                let name = command.first_string_arg().unwrap_or("").to_string();
                let stream_id = if stream_id == 0 { 1 } else { stream_id };
                if self.role == PeerRole::Unknown {
                    self.role = if command.name == "publish" {
                        PeerRole::Publisher
                    } else {
                        PeerRole::Player
                    };
                    self.apply_budget();
                }
                events.push(if command.name == "publish" {
                    ServerEvent::Publish { stream_id, name }
                } else {
                    ServerEvent::Play { stream_id, name }
                });
            }
            "FCUnpublish" | "closeStream" | "deleteStream" => {
                let id = match command.name.as_str() {
                    "deleteStream" => command
                        .args
                        .first()
                        .and_then(Amf0::as_number)
                        .map_or(stream_id, |n| n as u32),
                    _ => stream_id,
                };
                events.push(ServerEvent::CloseStream {
                    stream_id: if id == 0 { 1 } else { id },
                });
            }
            // _checkbw, pause, receiveAudio…: nothing to do for a live server.
            _ => {}
        }
        Ok(())
    }

    fn require_connected(&self) -> Result<(), SessionError> {
        if self.connected {
            Ok(())
        } else {
            Err(SessionError::Protocol("command before connect".into()))
        }
    }

    fn answer_connect(&mut self, tid: f64) {
        let link = &mut self.link;
        link.writer.window_ack_size(&mut link.out, WINDOW_ACK_SIZE);
        link.writer
            .set_peer_bandwidth(&mut link.out, WINDOW_ACK_SIZE, 2);
        link.set_chunk_size(self.out_chunk_size);
        link.writer.command(
            &mut link.out,
            0,
            &[
                Amf0::str("_result"),
                Amf0::Number(tid),
                Amf0::Object(vec![
                    ("fmsVer".into(), Amf0::str("FMS/3,5,3,888")),
                    ("capabilities".into(), Amf0::Number(127.0)),
                    ("mode".into(), Amf0::Number(1.0)),
                ]),
                Amf0::Object(vec![
                    ("level".into(), Amf0::str("status")),
                    ("code".into(), Amf0::str("NetConnection.Connect.Success")),
                    ("description".into(), Amf0::str("Connection succeeded")),
                    ("objectEncoding".into(), Amf0::Number(0.0)),
                ]),
            ],
        );
    }

    pub fn accept_publish(&mut self, stream_id: u32, name: &str) {
        self.link
            .writer
            .user_control(&mut self.link.out, &UserControl::StreamBegin(stream_id));
        self.link.writer.on_status(
            &mut self.link.out,
            stream_id,
            "status",
            "NetStream.Publish.Start",
            &format!("Started publishing stream {name}."),
        );
    }

    /// Refuse a publish (e.g. `NetStream.Publish.BadName`); the caller closes after flushing.
    pub fn reject_publish(&mut self, stream_id: u32, code: &str, description: &str) {
        self.link
            .writer
            .on_status(&mut self.link.out, stream_id, "error", code, description);
    }

    pub fn accept_play(&mut self, stream_id: u32, name: &str) {
        let (writer, out) = (&self.link.writer, &mut self.link.out);
        writer.user_control(out, &UserControl::StreamBegin(stream_id));
        writer.on_status(
            out,
            stream_id,
            "status",
            "NetStream.Play.Reset",
            &format!("Playing and resetting {name}."),
        );
        writer.on_status(
            out,
            stream_id,
            "status",
            "NetStream.Play.Start",
            &format!("Started playing {name}."),
        );
        let access = super::amf0::encode_all(&[
            Amf0::str("|RtmpSampleAccess"),
            Amf0::Boolean(true),
            Amf0::Boolean(true),
        ]);
        writer.data(out, stream_id, 0, &access);
    }

    pub fn reject_play(&mut self, stream_id: u32, code: &str, description: &str) {
        self.link
            .writer
            .on_status(&mut self.link.out, stream_id, "error", code, description);
    }

    /// Tell a player the publisher left (`NetStream.Play.UnpublishNotify`); it keeps waiting.
    pub fn unpublish_notify(&mut self, stream_id: u32, name: &str) {
        self.link.writer.on_status(
            &mut self.link.out,
            stream_id,
            "status",
            "NetStream.Play.UnpublishNotify",
            &format!("{name} is now unpublished."),
        );
    }

    /// Tell a player a publisher (re)started (`NetStream.Play.PublishNotify`).
    pub fn publish_notify(&mut self, stream_id: u32, name: &str) {
        self.link.writer.on_status(
            &mut self.link.out,
            stream_id,
            "status",
            "NetStream.Play.PublishNotify",
            &format!("{name} is now published."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(events.iter().any(
            |e| matches!(e, ClientEvent::CommandError { description } if description == "full")
        ));
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
}
