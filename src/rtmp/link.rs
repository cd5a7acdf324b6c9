//! The chunk-level state one RTMP connection keeps in both directions, sans-IO: the chunk decoder,
//! the writer and its output buffer, and the acknowledgement window. Protocol control (chunk size,
//! abort, acknowledgements, window, peer bandwidth, ping) ends here, the same for server and client
//! sessions; every other message goes back to the session.

use super::chunk::{ChunkDecoder, ChunkError, DEFAULT_CHUNK_SIZE};
use super::handshake::{ClientHandshake, HandshakeError, ServerHandshake, Step};
use super::message::{Message, MessageError, UserControl, Writer};
use bytes::BytesMut;

/// Window acknowledgement size and peer bandwidth announced to the peer (what SRS and nginx use).
pub const WINDOW_ACK_SIZE: u32 = 2_500_000;

/// Why a session (server or client) gave up on its connection.
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

/// Where a connection is: shaking hands (either side's handshake), then exchanging chunks.
pub enum Phase<H> {
    Handshake(H),
    Chunks,
}

/// Either side's handshake, as [`Link::receive`] drives it.
pub trait Handshake {
    fn feed(&mut self, data: &[u8]) -> Result<Step, HandshakeError>;
}

impl Handshake for ServerHandshake {
    fn feed(&mut self, data: &[u8]) -> Result<Step, HandshakeError> {
        ServerHandshake::feed(self, data)
    }
}

impl Handshake for ClientHandshake {
    fn feed(&mut self, data: &[u8]) -> Result<Step, HandshakeError> {
        ClientHandshake::feed(self, data)
    }
}

/// What [`Link::receive`] did with the bytes.
pub enum Received<H> {
    /// All went to the handshake, which is not done: no messages yet.
    Handshaking,
    /// The handshake completed with these bytes (here it is, for what it learned); the rest went to
    /// the decoder.
    Completed(H),
    /// All went to the decoder.
    Chunks,
}

/// One connection's chunk streams: what came in, what goes out, and what is owed to the peer.
pub struct Link {
    decoder: ChunkDecoder,
    /// Builds outgoing messages at this side's chunk size (change it with `set_chunk_size`).
    pub writer: Writer,
    /// Bytes waiting to be sent.
    pub out: BytesMut,
    received: u64,
    last_ack: u64,
    peer_window: u32,
    /// Whole messages received: how an owner tells a peer that says something from one that trickles.
    messages: u64,
}

impl Default for Link {
    fn default() -> Link {
        Link::new()
    }
}

impl Link {
    pub fn new() -> Link {
        Link {
            decoder: ChunkDecoder::new(),
            writer: Writer {
                chunk_size: DEFAULT_CHUNK_SIZE,
            },
            out: BytesMut::new(),
            received: 0,
            last_ack: 0,
            peer_window: 0,
            messages: 0,
        }
    }

    /// Hold at most `limit` bytes of the peer's unfinished messages (see
    /// [`ChunkDecoder::set_partial_limit`]).
    pub fn set_partial_limit(&mut self, limit: usize) {
        self.decoder.set_partial_limit(limit);
    }

    /// Memory held for the peer's input: unfinished messages and undecoded bytes.
    pub fn held_bytes(&self) -> usize {
        self.decoder.held_bytes()
    }

    /// Whether one of the peer's messages is under way.
    pub fn has_partial(&self) -> bool {
        self.decoder.has_partial()
    }

    /// Whole messages received so far, protocol control included.
    pub fn messages_received(&self) -> u64 {
        self.messages
    }

    /// Count bytes read from the peer, handshake included: the peer's window counts every byte.
    pub fn count_received(&mut self, len: usize) {
        self.received += len as u64;
    }

    /// Bytes of the peer's chunk stream, in order.
    pub fn push(&mut self, data: &[u8]) {
        self.decoder.push(data);
    }

    /// The next complete message that is not protocol control; protocol control met on the way is
    /// applied (and a ping answered) here.
    pub fn next_message(&mut self) -> Result<Option<Message>, SessionError> {
        while let Some(raw) = self.decoder.next_message()? {
            self.messages += 1;
            match Message::parse(raw)? {
                Message::SetChunkSize(size) => self.decoder.set_chunk_size(size)?,
                Message::Abort(csid) => self.decoder.abort(csid),
                Message::WindowAckSize(size) => self.peer_window = size,
                Message::UserControl(UserControl::PingRequest(time)) => self
                    .writer
                    .user_control(&mut self.out, &UserControl::PingResponse(time)),
                // We send no more than the peer reads, so its acks and bandwidth limit change nothing.
                Message::Acknowledgement(_) | Message::SetPeerBandwidth { .. } => {}
                message => return Ok(Some(message)),
            }
        }
        Ok(None)
    }

    /// Send an Acknowledgement if a whole peer window arrived since the last one; call after the
    /// messages of a read are handled, so one read yields at most one ack.
    pub fn acknowledge_if_due(&mut self) {
        if self.peer_window > 0 && self.received - self.last_ack >= u64::from(self.peer_window) {
            self.last_ack = self.received;
            // The sequence number is the byte count modulo 2^32: it wraps, as the spec has it.
            self.writer
                .acknowledgement(&mut self.out, self.received as u32);
        }
    }

    /// Take bytes received in `phase`, the first step of both sessions' `feed`: count them (the
    /// peer's window counts the handshake too), give them to the handshake until it is done (queueing
    /// its answer), and from then on to the chunk decoder. The caller then reads
    /// [`Link::next_message`] unless it got [`Received::Handshaking`].
    pub fn receive<H: Handshake>(
        &mut self,
        phase: &mut Phase<H>,
        data: &[u8],
    ) -> Result<Received<H>, SessionError> {
        self.count_received(data.len());
        let mut handshake = match std::mem::replace(phase, Phase::Chunks) {
            Phase::Chunks => {
                self.push(data);
                return Ok(Received::Chunks);
            }
            Phase::Handshake(handshake) => handshake,
        };
        let step = match handshake.feed(data) {
            Ok(step) => step,
            Err(error) => {
                *phase = Phase::Handshake(handshake);
                return Err(error.into());
            }
        };
        self.out.extend_from_slice(&step.send);
        let Some(rest) = step.done else {
            *phase = Phase::Handshake(handshake);
            return Ok(Received::Handshaking);
        };
        self.push(&rest);
        Ok(Received::Completed(handshake))
    }

    /// Announce a new chunk size for what this side sends, then send with it.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.writer.set_chunk_size(&mut self.out, size);
        self.writer.chunk_size = size as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::chunk::write_message;

    #[test]
    fn receive_shakes_hands_then_hands_the_rest_to_the_decoder() {
        let (handshake, c0c1) = ClientHandshake::start(false);
        let (mut client, mut client_phase) = (Link::new(), Phase::Handshake(handshake));
        let (mut server, mut server_phase) =
            (Link::new(), Phase::Handshake(ServerHandshake::new()));
        // C0+C1 a byte at a time: all of it is the handshake's, and nothing is decoded yet.
        for byte in c0c1.iter() {
            let received = server.receive(&mut server_phase, &[*byte]).unwrap();
            assert!(matches!(received, Received::Handshaking));
        }
        let s0s1s2 = std::mem::take(&mut server.out);
        let received = client.receive(&mut client_phase, &s0s1s2).unwrap();
        assert!(matches!(received, Received::Completed(_)));
        assert!(matches!(client_phase, Phase::Chunks));
        // C2 and a message behind it in one read: the message reaches the decoder.
        let mut bytes = std::mem::take(&mut client.out);
        client.writer.data(&mut bytes, 1, 0, b"after C2");
        let received = server.receive(&mut server_phase, &bytes).unwrap();
        assert!(matches!(received, Received::Completed(_)));
        assert!(matches!(
            server.next_message().unwrap(),
            Some(Message::Data(_))
        ));
        let received = server.receive(&mut server_phase, &[]).unwrap();
        assert!(matches!(received, Received::Chunks));
        // Every byte counts towards the peer's window, the handshake's too.
        assert_eq!(server.received, (c0c1.len() + bytes.len()) as u64);
    }

    #[test]
    fn a_refused_handshake_is_an_error_and_stays_a_handshake() {
        let mut link = Link::new();
        let mut phase = Phase::Handshake(ServerHandshake::new());
        let error = link.receive(&mut phase, &[9; 1537]).err();
        assert!(matches!(
            error,
            Some(SessionError::Handshake(HandshakeError::BadVersion(9)))
        ));
        assert!(matches!(phase, Phase::Handshake(_)));
    }

    /// Every message in `bytes`, decoded by a fresh link (as the peer would).
    fn messages(bytes: &[u8]) -> Vec<Message> {
        let mut peer = Link::new();
        peer.push(bytes);
        let mut messages = Vec::new();
        while let Some(raw) = peer.decoder.next_message().unwrap() {
            messages.push(Message::parse(raw).unwrap());
        }
        messages
    }

    #[test]
    fn control_is_consumed_and_the_rest_handed_back() {
        let mut sender = Link::new();
        sender.set_chunk_size(4096);
        sender.writer.window_ack_size(&mut sender.out, 10);
        sender
            .writer
            .user_control(&mut sender.out, &UserControl::PingRequest(7));
        sender
            .writer
            .user_control(&mut sender.out, &UserControl::StreamBegin(1));
        // Bigger than the default chunk size: it only decodes if Set Chunk Size was applied.
        sender.writer.data(&mut sender.out, 1, 0, &[0x02; 3000]);

        let mut link = Link::new();
        link.push(&sender.out);
        let first = link.next_message().unwrap();
        assert_eq!(
            first,
            Some(Message::UserControl(UserControl::StreamBegin(1)))
        );
        let Some(Message::Data(raw)) = link.next_message().unwrap() else {
            panic!("the data message comes back")
        };
        assert_eq!(raw.payload.len(), 3000);
        assert_eq!(link.next_message().unwrap(), None);
        assert_eq!(link.peer_window, 10);
        // The ping was answered.
        assert_eq!(
            messages(&link.out),
            vec![Message::UserControl(UserControl::PingResponse(7))]
        );
    }

    #[test]
    fn chunk_size_2_pow_31_is_refused_with_its_value() {
        let mut sender = Link::new();
        sender.writer.set_chunk_size(&mut sender.out, 1 << 31);
        let mut link = Link::new();
        link.push(&sender.out);
        let err = link.next_message().unwrap_err();
        assert_eq!(
            err.to_string(),
            "chunk stream: chunk size 2147483648 out of range 1..=65536"
        );
    }

    #[test]
    fn an_ack_goes_out_once_per_peer_window() {
        let mut link = Link::new();
        let mut window = BytesMut::new();
        link.writer.window_ack_size(&mut window, 100);
        link.count_received(window.len());
        link.push(&window);
        assert_eq!(link.next_message().unwrap(), None);
        link.acknowledge_if_due();
        assert!(link.out.is_empty(), "window not reached yet");

        let mut audio = BytesMut::new();
        write_message(&mut audio, DEFAULT_CHUNK_SIZE, 4, 0, 8, 1, &[0xAF; 100]);
        link.count_received(audio.len());
        link.push(&audio);
        assert!(matches!(
            link.next_message().unwrap(),
            Some(Message::Audio(_))
        ));
        link.acknowledge_if_due();
        let total = (window.len() + audio.len()) as u32;
        assert_eq!(messages(&link.out), vec![Message::Acknowledgement(total)]);

        link.out.clear();
        link.acknowledge_if_due();
        assert!(link.out.is_empty(), "one ack per window");
    }
}
