//! Client side of an RTMP connection, sans-IO: handshake, connect, createStream, then play or publish.
//! Used by the load generator, the RTMP load balancer and the worker's forwards.

use super::amf0::Amf0;
use super::chunk;
use super::enhanced::EnhancedCaps;
use super::handshake::ClientHandshake;
use super::link::{Link, Phase, Received, SessionError, WINDOW_ACK_SIZE};
use super::message::{Command, MediaKind, Message, UserControl};
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    Play,
    Publish,
}

/// Where to connect and what to do there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `rtmp://host:port/app` (with `?vhost=` if any).
    pub tc_url: String,
    pub app: String,
    /// Stream name, with its query string.
    pub stream: String,
    pub mode: ClientMode,
    /// Chunk size this side sends with.
    pub chunk_size: u32,
    /// host:port to connect to.
    pub address: String,
    /// E-RTMP `fourCcList` to announce in `connect` (none: a legacy client).
    pub fourcc_list: Option<Vec<String>>,
}

impl ClientConfig {
    /// Split `rtmp://host[:port]/app[/more]/stream[?query]`: the last path segment is the stream.
    pub fn from_url(url: &str, mode: ClientMode) -> Result<ClientConfig, String> {
        let rest = url
            .strip_prefix("rtmp://")
            .ok_or_else(|| format!("{url}: not an rtmp:// URL"))?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("{url}: no app/stream path"))?;
        // The stream name is the last segment; its query stays with it.
        let (path_part, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let (app, stream) = path_part
            .rsplit_once('/')
            .ok_or_else(|| format!("{url}: needs rtmp://HOST/APP/STREAM"))?;
        if app.is_empty() || stream.is_empty() || host.is_empty() {
            return Err(format!("{url}: needs rtmp://HOST/APP/STREAM"));
        }
        let stream = match query {
            Some(q) => format!("{stream}?{q}"),
            None => stream.to_string(),
        };
        let address = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:1935")
        };
        Ok(ClientConfig {
            tc_url: format!("rtmp://{host}/{app}"),
            app: app.to_string(),
            stream,
            mode,
            chunk_size: 4096,
            address,
            fourcc_list: None,
        })
    }
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The handshake finished and `connect` succeeded.
    Connected,
    /// `NetStream.Play.Start` or `NetStream.Publish.Start`.
    Started,
    /// Any onStatus (including errors: `level == "error"`).
    Status {
        level: String,
        code: String,
        description: String,
    },
    /// A `_error` answer to one of our commands.
    CommandError { description: String },
    Media {
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
}

const TID_CONNECT: f64 = 1.0;
const TID_CREATE_STREAM: f64 = 4.0;

/// One client-side RTMP connection.
pub struct ClientSession {
    config: ClientConfig,
    phase: Phase<ClientHandshake>,
    link: Link,
    stream_id: u32,
    server_verified: bool,
    /// Which of our commands were answered: a server behind oryx's rtmp-lb answers `connect` and
    /// `createStream` a second time (the LB answered them first), and only the first answer counts.
    connect_answered: bool,
    create_answered: bool,
    /// What the server's `connect` answer announced of E-RTMP (nothing from a legacy server).
    server_caps: EnhancedCaps,
}

impl ClientSession {
    /// A session whose first output is C0+C1. The handshake is the complex one, as Flash clients
    /// send it: servers that want it (FMS-style) get it, and the others answer the simple one.
    pub fn new(config: ClientConfig) -> ClientSession {
        let (handshake, c0c1) = ClientHandshake::start(true);
        let mut link = Link::new();
        // Room for C2 and the commands that follow it, so they reuse this allocation.
        link.out.reserve(4096);
        link.out.extend_from_slice(&c0c1);
        ClientSession {
            config,
            phase: Phase::Handshake(handshake),
            link,
            stream_id: 0,
            server_verified: false,
            connect_answered: false,
            create_answered: false,
            server_caps: EnhancedCaps::default(),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The E-RTMP codecs the server's `connect` answer listed (its `fourCcList` and info maps):
    /// an oryx or other E-RTMP server says what it takes; a legacy one (nginx-rtmp) says nothing.
    pub fn server_caps(&self) -> &EnhancedCaps {
        &self.server_caps
    }

    /// The message stream id the server gave us (0 before createStream's answer).
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// True once the server answered the complex handshake with a valid signature (false for a
    /// simple-handshake server).
    pub fn server_verified(&self) -> bool {
        self.server_verified
    }

    pub fn take_output(&mut self) -> Bytes {
        self.link.out.split().freeze()
    }

    /// Feed received bytes; returns what they produced.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<ClientEvent>, SessionError> {
        let mut events = Vec::new();
        match self.link.receive(&mut self.phase, data)? {
            Received::Handshaking => return Ok(events),
            // The handshake's tail went to the decoder, which answers nothing by itself: `connect`
            // still goes out right behind C2.
            Received::Completed(handshake) => {
                self.server_verified = handshake.server_verified();
                self.send_connect();
            }
            Received::Chunks => {}
        }
        while let Some(message) = self.link.next_message()? {
            match message {
                Message::Audio(raw) | Message::Video(raw) | Message::Data(raw) => {
                    let kind = MediaKind::of_message(raw.type_id);
                    events.push(ClientEvent::Media {
                        kind,
                        timestamp: raw.timestamp,
                        payload: raw.payload,
                    });
                }
                Message::Command { command, .. } => self.command(command, &mut events),
                // Protocol control was handled by the link; stream begin/EOF and the like need
                // no answer.
                _ => {}
            }
        }
        self.link.acknowledge_if_due();
        Ok(events)
    }

    fn send_connect(&mut self) {
        self.link
            .set_chunk_size(self.config.chunk_size.clamp(128, 65536));
        let mut object = vec![
            ("app".into(), Amf0::str(&self.config.app)),
            ("type".into(), Amf0::str("nonprivate")),
            ("flashVer".into(), Amf0::str("FMLE/3.0 (compatible; oryx)")),
            ("tcUrl".into(), Amf0::str(&self.config.tc_url)),
        ];
        if self.config.mode == ClientMode::Play {
            object.push(("fpad".into(), Amf0::Boolean(false)));
            object.push(("capabilities".into(), Amf0::Number(15.0)));
            object.push(("audioCodecs".into(), Amf0::Number(4071.0)));
            object.push(("videoCodecs".into(), Amf0::Number(252.0)));
            object.push(("videoFunction".into(), Amf0::Number(1.0)));
        }
        if let Some(list) = &self.config.fourcc_list {
            let list = list.iter().map(|f| Amf0::str(f)).collect();
            object.push(("fourCcList".into(), Amf0::StrictArray(list)));
        }
        self.link.writer.command(
            &mut self.link.out,
            0,
            &[
                Amf0::str("connect"),
                Amf0::Number(TID_CONNECT),
                Amf0::Object(object),
            ],
        );
    }

    /// One arm per answer a server sends (`_result` of connect and createStream, `onStatus`, …):
    /// long, but a dispatch table whose arms share the session's state.
    fn command(&mut self, command: Command, events: &mut Vec<ClientEvent>) {
        match command.name.as_str() {
            "_result" if command.transaction == TID_CONNECT && !self.connect_answered => {
                self.connect_answered = true;
                self.server_caps = EnhancedCaps::from_connect(&command.object);
                events.push(ClientEvent::Connected);
                self.link
                    .writer
                    .window_ack_size(&mut self.link.out, WINDOW_ACK_SIZE);
                let name = Amf0::str(&self.config.stream);
                if self.config.mode == ClientMode::Publish {
                    for (cmd, tid) in [("releaseStream", 2.0), ("FCPublish", 3.0)] {
                        self.link.writer.command(
                            &mut self.link.out,
                            0,
                            &[Amf0::str(cmd), Amf0::Number(tid), Amf0::Null, name.clone()],
                        );
                    }
                }
                self.link.writer.command(
                    &mut self.link.out,
                    0,
                    &[
                        Amf0::str("createStream"),
                        Amf0::Number(TID_CREATE_STREAM),
                        Amf0::Null,
                    ],
                );
            }
            "_result" if command.transaction == TID_CREATE_STREAM && !self.create_answered => {
                self.create_answered = true;
                self.stream_id = command
                    .args
                    .first()
                    .and_then(Amf0::as_number)
                    .unwrap_or(1.0) as u32;
                let name = Amf0::str(&self.config.stream);
                let values = match self.config.mode {
                    ClientMode::Publish => vec![
                        Amf0::str("publish"),
                        Amf0::Number(5.0),
                        Amf0::Null,
                        name,
                        Amf0::str("live"),
                    ],
                    ClientMode::Play => vec![
                        Amf0::str("play"),
                        Amf0::Number(5.0),
                        Amf0::Null,
                        name,
                        Amf0::Number(-2000.0),
                    ],
                };
                self.link
                    .writer
                    .command(&mut self.link.out, self.stream_id, &values);
                if self.config.mode == ClientMode::Play {
                    self.link.writer.user_control(
                        &mut self.link.out,
                        &UserControl::SetBufferLength {
                            stream_id: self.stream_id,
                            millis: 1000,
                        },
                    );
                }
            }
            "_error" => {
                let description = command
                    .args
                    .first()
                    .and_then(|a| a.get("description"))
                    .and_then(Amf0::as_str)
                    .unwrap_or("")
                    .to_string();
                events.push(ClientEvent::CommandError { description });
            }
            "onStatus" => {
                let info = command.args.first().unwrap_or(&command.object);
                let field = |k: &str| info.get(k).and_then(Amf0::as_str).unwrap_or("").to_string();
                let code = field("code");
                if code == "NetStream.Play.Start" || code == "NetStream.Publish.Start" {
                    events.push(ClientEvent::Started);
                }
                events.push(ClientEvent::Status {
                    level: field("level"),
                    code,
                    description: field("description"),
                });
            }
            _ => {}
        }
    }

    /// End a publish as FFmpeg does: `FCUnpublish` and `deleteStream` (the server then ends the
    /// stream for its players at once instead of waiting to notice the closed socket).
    pub fn unpublish(&mut self) {
        let name = Amf0::str(&self.config.stream);
        self.link.writer.command(
            &mut self.link.out,
            0,
            &[
                Amf0::str("FCUnpublish"),
                Amf0::Number(6.0),
                Amf0::Null,
                name,
            ],
        );
        self.link.writer.command(
            &mut self.link.out,
            0,
            &[
                Amf0::str("deleteStream"),
                Amf0::Number(7.0),
                Amf0::Null,
                Amf0::Number(f64::from(self.stream_id)),
            ],
        );
    }

    /// Send one media message on our stream (publish mode).
    pub fn send_media(&mut self, kind: MediaKind, timestamp: u32, payload: &[u8]) {
        chunk::write_message(
            &mut self.link.out,
            self.link.writer.chunk_size,
            kind.csid(),
            timestamp,
            kind.type_id(),
            self.stream_id,
            payload,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let c = ClientConfig::from_url("rtmp://h:19350/live/s?k=v", ClientMode::Play).unwrap();
        assert_eq!(c.address, "h:19350");
        assert_eq!(c.app, "live");
        assert_eq!(c.stream, "s?k=v");
        assert_eq!(c.tc_url, "rtmp://h:19350/live");
        let c = ClientConfig::from_url("rtmp://h/a/b/s", ClientMode::Play).unwrap();
        assert_eq!((c.app.as_str(), c.address.as_str()), ("a/b", "h:1935"));
        assert!(ClientConfig::from_url("http://h/a/s", ClientMode::Play).is_err());
        assert!(ClientConfig::from_url("rtmp://h/s", ClientMode::Play).is_err());
    }

    /// Behind oryx's rtmp-lb the worker answers `connect` and `createStream` again: a second
    /// answer must not send a second `createStream` or `publish` (the worker would refuse it as
    /// already publishing).
    #[test]
    fn ignores_repeated_answers() {
        let config = ClientConfig::from_url("rtmp://h/live/s", ClientMode::Publish).unwrap();
        let mut session = ClientSession::new(config);
        session.take_output();
        let answer = |transaction: f64| Command {
            name: "_result".into(),
            transaction,
            object: Amf0::Null,
            args: vec![Amf0::Number(1.0)],
        };
        let mut events = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..2 {
            session.command(answer(TID_CONNECT), &mut events);
            sent.push(session.take_output().len());
            session.command(answer(TID_CREATE_STREAM), &mut events);
            sent.push(session.take_output().len());
        }
        assert_eq!(events, [ClientEvent::Connected]);
        assert!(sent[0] > 0 && sent[1] > 0, "{sent:?}");
        assert_eq!(&sent[2..], [0, 0]);
    }

    /// An E-RTMP server's `connect` answer says what it takes; a legacy one's (nginx-rtmp: no
    /// list) says nothing, and only the first answer counts.
    #[test]
    fn keeps_what_the_servers_connect_answer_listed() {
        let config = ClientConfig::from_url("rtmp://h/live/s", ClientMode::Publish).unwrap();
        let mut session = ClientSession::new(config);
        assert!(!session.server_caps().listed);
        let answer = |object: Amf0| Command {
            name: "_result".into(),
            transaction: TID_CONNECT,
            object,
            args: vec![Amf0::Null],
        };
        let mut events = Vec::new();
        let listed = Amf0::Object(super::super::enhanced::EnhancedCaps::server_properties());
        session.command(answer(listed), &mut events);
        assert!(session.server_caps().listed && session.server_caps().accepts("Opus"));
        let legacy = Amf0::Object(vec![("fmsVer".into(), Amf0::str("FMS/3,0,1,123"))]);
        session.command(answer(legacy.clone()), &mut events);
        assert!(
            session.server_caps().accepts("Opus"),
            "a repeated answer is ignored"
        );
        let mut fresh = ClientSession::new(session.config().clone());
        fresh.command(answer(legacy), &mut events);
        assert!(!fresh.server_caps().listed);
    }
}
