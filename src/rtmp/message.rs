//! RTMP messages: protocol control, user control, commands and media, parsed from and built into
//! chunk-stream messages.

use super::amf0::{self, Amf0, Amf0Error};
use super::chunk::{self, RawMessage, CSID_COMMAND, CSID_CONTROL};
use bytes::{BufMut, Bytes, BytesMut};

pub const TYPE_SET_CHUNK_SIZE: u8 = 1;
pub const TYPE_ABORT: u8 = 2;
pub const TYPE_ACK: u8 = 3;
pub const TYPE_USER_CONTROL: u8 = 4;
pub const TYPE_WINDOW_ACK_SIZE: u8 = 5;
pub const TYPE_SET_PEER_BANDWIDTH: u8 = 6;
pub const TYPE_AUDIO: u8 = 8;
pub const TYPE_VIDEO: u8 = 9;
pub const TYPE_DATA_AMF3: u8 = 15;
pub const TYPE_COMMAND_AMF3: u8 = 17;
pub const TYPE_DATA_AMF0: u8 = 18;
pub const TYPE_COMMAND_AMF0: u8 = 20;

pub const USER_STREAM_BEGIN: u16 = 0;
pub const USER_STREAM_EOF: u16 = 1;
pub const USER_SET_BUFFER_LENGTH: u16 = 3;
pub const USER_PING_REQUEST: u16 = 6;
pub const USER_PING_RESPONSE: u16 = 7;

/// Which media a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
    /// AMF0 data (metadata).
    Script,
}

impl MediaKind {
    /// The kind of an audio, video or data message by its type id (every data type is `Script`).
    pub fn of_message(type_id: u8) -> MediaKind {
        match type_id {
            TYPE_AUDIO => MediaKind::Audio,
            TYPE_VIDEO => MediaKind::Video,
            _ => MediaKind::Script,
        }
    }

    pub fn type_id(self) -> u8 {
        match self {
            MediaKind::Audio => TYPE_AUDIO,
            MediaKind::Video => TYPE_VIDEO,
            MediaKind::Script => TYPE_DATA_AMF0,
        }
    }

    /// The chunk stream oryx sends this media on.
    pub fn csid(self) -> u32 {
        match self {
            MediaKind::Audio => chunk::CSID_AUDIO,
            MediaKind::Video => chunk::CSID_VIDEO,
            MediaKind::Script => chunk::CSID_DATA,
        }
    }
}

/// A User Control event (message type 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControl {
    StreamBegin(u32),
    StreamEof(u32),
    SetBufferLength { stream_id: u32, millis: u32 },
    PingRequest(u32),
    PingResponse(u32),
    Other(u16),
}

/// An AMF0 command: name, transaction id, command object, further arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub transaction: f64,
    pub object: Amf0,
    pub args: Vec<Amf0>,
}

impl Command {
    /// The first further argument as a string (publish/play stream name, releaseStream name).
    pub fn first_string_arg(&self) -> Option<&str> {
        self.args.first().and_then(Amf0::as_str)
    }
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    SetChunkSize(u32),
    Abort(u32),
    Acknowledgement(u32),
    UserControl(UserControl),
    WindowAckSize(u32),
    SetPeerBandwidth {
        size: u32,
        limit: u8,
    },
    Audio(RawMessage),
    Video(RawMessage),
    /// AMF0 data (`@setDataFrame`, `onMetaData`, `|RtmpSampleAccess`).
    Data(RawMessage),
    Command {
        stream_id: u32,
        command: Command,
    },
    /// Types oryx does not act on (aggregate, shared object); ignored.
    Other(RawMessage),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("control message type {0} is too short")]
    Truncated(u8),
    #[error("command: {0}")]
    Amf(#[from] Amf0Error),
    #[error("command without a name and transaction id")]
    BadCommand,
}

fn be_u32(payload: &[u8], type_id: u8) -> Result<u32, MessageError> {
    payload
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(MessageError::Truncated(type_id))
}

impl Message {
    pub fn parse(raw: RawMessage) -> Result<Message, MessageError> {
        let p = &raw.payload[..];
        Ok(match raw.type_id {
            // All 32 bits: the spec's zero top bit is checked where the size is applied, so a bad
            // value is refused as the peer sent it.
            TYPE_SET_CHUNK_SIZE => Message::SetChunkSize(be_u32(p, raw.type_id)?),
            TYPE_ABORT => Message::Abort(be_u32(p, raw.type_id)?),
            TYPE_ACK => Message::Acknowledgement(be_u32(p, raw.type_id)?),
            TYPE_WINDOW_ACK_SIZE => Message::WindowAckSize(be_u32(p, raw.type_id)?),
            TYPE_SET_PEER_BANDWIDTH => Message::SetPeerBandwidth {
                size: be_u32(p, raw.type_id)?,
                limit: p.get(4).copied().unwrap_or(2),
            },
            TYPE_USER_CONTROL => {
                let event = p
                    .get(..2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
                    .ok_or(MessageError::Truncated(raw.type_id))?;
                let arg = || be_u32(&p[2..], raw.type_id);
                Message::UserControl(match event {
                    USER_STREAM_BEGIN => UserControl::StreamBegin(arg()?),
                    USER_STREAM_EOF => UserControl::StreamEof(arg()?),
                    USER_SET_BUFFER_LENGTH => UserControl::SetBufferLength {
                        stream_id: arg()?,
                        millis: be_u32(p.get(6..).unwrap_or(&[]), raw.type_id)?,
                    },
                    USER_PING_REQUEST => UserControl::PingRequest(arg()?),
                    USER_PING_RESPONSE => UserControl::PingResponse(arg()?),
                    other => UserControl::Other(other),
                })
            }
            TYPE_AUDIO => Message::Audio(raw),
            TYPE_VIDEO => Message::Video(raw),
            TYPE_DATA_AMF0 => Message::Data(raw),
            TYPE_DATA_AMF3 => {
                // AMF3 data messages start with a format byte, then (in practice) AMF0 values.
                let mut raw = raw;
                raw.payload = raw.payload.slice(raw.payload.len().min(1)..);
                raw.type_id = TYPE_DATA_AMF0;
                Message::Data(raw)
            }
            TYPE_COMMAND_AMF0 | TYPE_COMMAND_AMF3 => {
                let body = if raw.type_id == TYPE_COMMAND_AMF3 {
                    p.get(1..).unwrap_or(&[])
                } else {
                    p
                };
                Message::Command {
                    stream_id: raw.stream_id,
                    command: parse_command(body)?,
                }
            }
            _ => Message::Other(raw),
        })
    }
}

/// Parse an AMF0 command body.
pub fn parse_command(body: &[u8]) -> Result<Command, MessageError> {
    let mut values = amf0::decode_all(body)?.into_iter();
    let name = match values.next() {
        Some(Amf0::String(name)) => name,
        _ => return Err(MessageError::BadCommand),
    };
    let transaction = values.next().and_then(|v| v.as_number()).unwrap_or(0.0);
    let object = values.next().unwrap_or(Amf0::Null);
    Ok(Command {
        name,
        transaction,
        object,
        args: values.collect(),
    })
}

/// Builds outgoing messages as chunk bytes at the sender's chunk size.
#[derive(Debug, Clone, Copy)]
pub struct Writer {
    pub chunk_size: usize,
}

impl Writer {
    fn control(&self, out: &mut BytesMut, type_id: u8, payload: &[u8]) {
        chunk::write_message(out, self.chunk_size, CSID_CONTROL, 0, type_id, 0, payload);
    }

    /// Set Chunk Size; the caller switches its own chunk size after this message.
    pub fn set_chunk_size(&self, out: &mut BytesMut, size: u32) {
        self.control(out, TYPE_SET_CHUNK_SIZE, &size.to_be_bytes());
    }

    pub fn acknowledgement(&self, out: &mut BytesMut, sequence: u32) {
        self.control(out, TYPE_ACK, &sequence.to_be_bytes());
    }

    pub fn window_ack_size(&self, out: &mut BytesMut, size: u32) {
        self.control(out, TYPE_WINDOW_ACK_SIZE, &size.to_be_bytes());
    }

    pub fn set_peer_bandwidth(&self, out: &mut BytesMut, size: u32, limit: u8) {
        let mut p = [0u8; 5];
        p[..4].copy_from_slice(&size.to_be_bytes());
        p[4] = limit;
        self.control(out, TYPE_SET_PEER_BANDWIDTH, &p);
    }

    pub fn user_control(&self, out: &mut BytesMut, event: &UserControl) {
        let mut p = BytesMut::with_capacity(10);
        match event {
            UserControl::StreamBegin(id) => {
                p.put_u16(USER_STREAM_BEGIN);
                p.put_u32(*id);
            }
            UserControl::StreamEof(id) => {
                p.put_u16(USER_STREAM_EOF);
                p.put_u32(*id);
            }
            UserControl::SetBufferLength { stream_id, millis } => {
                p.put_u16(USER_SET_BUFFER_LENGTH);
                p.put_u32(*stream_id);
                p.put_u32(*millis);
            }
            UserControl::PingRequest(t) => {
                p.put_u16(USER_PING_REQUEST);
                p.put_u32(*t);
            }
            UserControl::PingResponse(t) => {
                p.put_u16(USER_PING_RESPONSE);
                p.put_u32(*t);
            }
            UserControl::Other(code) => p.put_u16(*code),
        }
        self.control(out, TYPE_USER_CONTROL, &p);
    }

    /// An AMF0 command on the command chunk stream.
    pub fn command(&self, out: &mut BytesMut, stream_id: u32, values: &[Amf0]) {
        let body = amf0::encode_all(values);
        chunk::write_message(
            out,
            self.chunk_size,
            CSID_COMMAND,
            0,
            TYPE_COMMAND_AMF0,
            stream_id,
            &body,
        );
    }

    /// An AMF0 data message (`onMetaData`, `|RtmpSampleAccess`).
    pub fn data(&self, out: &mut BytesMut, stream_id: u32, timestamp: u32, payload: &[u8]) {
        chunk::write_message(
            out,
            self.chunk_size,
            chunk::CSID_DATA,
            timestamp,
            TYPE_DATA_AMF0,
            stream_id,
            payload,
        );
    }

    /// `onStatus(level, code, description)` on a message stream.
    pub fn on_status(
        &self,
        out: &mut BytesMut,
        stream_id: u32,
        level: &str,
        code: &str,
        description: &str,
    ) {
        self.command(
            out,
            stream_id,
            &[
                Amf0::str("onStatus"),
                Amf0::Number(0.0),
                Amf0::Null,
                Amf0::Object(vec![
                    ("level".into(), Amf0::str(level)),
                    ("code".into(), Amf0::str(code)),
                    ("description".into(), Amf0::str(description)),
                    ("details".into(), Amf0::str(description)),
                    ("clientid".into(), Amf0::str("oryx")),
                ]),
            ],
        );
    }
}

/// `@setDataFrame("onMetaData", …)` → `onMetaData …`: what players must receive (FLV tags too).
pub fn strip_set_data_frame(payload: &Bytes) -> Bytes {
    match amf0::decode_one(payload) {
        Ok((Amf0::String(name), used)) if name == "@setDataFrame" => payload.slice(used..),
        _ => payload.clone(),
    }
}

/// The name of the first AMF0 value of a data message (`onMetaData`, `onTextData`…).
pub fn data_name(payload: &[u8]) -> Option<String> {
    match amf0::decode_one(payload) {
        Ok((Amf0::String(name), _)) => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::chunk::ChunkDecoder;

    fn roundtrip(build: impl Fn(&Writer, &mut BytesMut)) -> Message {
        let writer = Writer { chunk_size: 128 };
        let mut out = BytesMut::new();
        build(&writer, &mut out);
        let mut decoder = ChunkDecoder::new();
        decoder.push(&out);
        Message::parse(decoder.next_message().unwrap().unwrap()).unwrap()
    }

    #[test]
    fn control_messages_roundtrip() {
        assert_eq!(
            roundtrip(|w, o| w.set_chunk_size(o, 60000)),
            Message::SetChunkSize(60000)
        );
        assert_eq!(
            roundtrip(|w, o| w.acknowledgement(o, 77)),
            Message::Acknowledgement(77)
        );
        assert_eq!(
            roundtrip(|w, o| w.window_ack_size(o, 2_500_000)),
            Message::WindowAckSize(2_500_000)
        );
        assert_eq!(
            roundtrip(|w, o| w.set_peer_bandwidth(o, 2_500_000, 2)),
            Message::SetPeerBandwidth {
                size: 2_500_000,
                limit: 2
            }
        );
        for event in [
            UserControl::StreamBegin(1),
            UserControl::StreamEof(1),
            UserControl::SetBufferLength {
                stream_id: 1,
                millis: 3000,
            },
            UserControl::PingRequest(5),
            UserControl::PingResponse(5),
        ] {
            assert_eq!(
                roundtrip(|w, o| w.user_control(o, &event)),
                Message::UserControl(event.clone())
            );
        }
    }

    #[test]
    fn commands_roundtrip() {
        let message = roundtrip(|w, o| {
            w.command(
                o,
                1,
                &[
                    Amf0::str("publish"),
                    Amf0::Number(5.0),
                    Amf0::Null,
                    Amf0::str("s?token=1"),
                    Amf0::str("live"),
                ],
            )
        });
        let Message::Command { stream_id, command } = message else {
            panic!("not a command: {message:?}");
        };
        assert_eq!(stream_id, 1);
        assert_eq!(command.name, "publish");
        assert_eq!(command.transaction, 5.0);
        assert_eq!(command.first_string_arg(), Some("s?token=1"));
    }

    #[test]
    fn set_data_frame_is_stripped() {
        let body = amf0::encode_all(&[
            Amf0::str("@setDataFrame"),
            Amf0::str("onMetaData"),
            Amf0::EcmaArray(vec![]),
        ])
        .freeze();
        let stripped = strip_set_data_frame(&body);
        assert_eq!(data_name(&stripped).as_deref(), Some("onMetaData"));
    }

    #[test]
    fn short_control_messages_are_errors() {
        let raw = RawMessage {
            csid: 2,
            timestamp: 0,
            type_id: TYPE_SET_CHUNK_SIZE,
            stream_id: 0,
            payload: Bytes::from_static(&[0, 1]),
        };
        assert!(Message::parse(raw).is_err());
        assert!(parse_command(&[0x05]).is_err());
    }
}
