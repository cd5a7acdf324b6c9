//! Server side of an RTMP connection, sans-IO: handshake, chunking, acks, connect/createStream answered
//! here; publish/play surfaced as events for the application to accept or refuse.

use super::amf0::Amf0;
use super::enhanced::EnhancedCaps;
use super::handshake::ServerHandshake;
use super::link::{Link, Phase, Received};
use super::link::{SessionError, WINDOW_ACK_SIZE};
use super::message::{strip_set_data_frame, Command, MediaKind, Message, UserControl};
use bytes::Bytes;

/// What the client sent in `connect`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectInfo {
    pub app: String,
    pub tc_url: String,
    pub object: Amf0,
    /// What the client announced of E-RTMP (codecs it plays, extended capabilities).
    pub enhanced: EnhancedCaps,
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
    phase: Phase<ServerHandshake>,
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
        if let Received::Handshaking = self.link.receive(&mut self.phase, data)? {
            return Ok(events);
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

    /// One arm per command a client sends (`connect`, `createStream`, `publish`, `play`, …): long,
    /// but a dispatch table whose arms share the session's state and its answers.
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
                    enhanced: EnhancedCaps::from_connect(&command.object),
                    object: command.object.clone(),
                };
                self.connected = true;
                self.answer_connect(tid, info.enhanced.announced);
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

    /// `enhanced`: the client announced E-RTMP, so the answer says what this server forwards (a
    /// legacy client gets the legacy answer, byte for byte).
    fn answer_connect(&mut self, tid: f64, enhanced: bool) {
        let mut properties = vec![
            ("fmsVer".into(), Amf0::str("FMS/3,5,3,888")),
            ("capabilities".into(), Amf0::Number(127.0)),
            ("mode".into(), Amf0::Number(1.0)),
        ];
        if enhanced {
            properties.extend(EnhancedCaps::server_properties());
        }
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
                Amf0::Object(properties),
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
#[path = "server_tests.rs"]
mod tests;
