//! RTMP chunk stream codec: reassembles messages from chunks (fmt 0–3, 1–3 byte basic headers, extended
//! timestamps) and splits messages into chunks. Every length is checked before it is trusted, and the
//! decoder reports what it holds ([`ChunkDecoder::held_bytes`]) and refuses to hold more than the
//! budget its owner gives it ([`ChunkDecoder::set_partial_limit`]): what a budget should be is the
//! owner's decision (a worker gives a player less than a publisher).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::HashMap;

/// Chunk size both sides start with.
pub const DEFAULT_CHUNK_SIZE: usize = 128;
/// Largest chunk size accepted from a peer (the spec allows 2^31-1; nobody needs more than this).
pub const MAX_CHUNK_SIZE: usize = 65536;
/// Largest message accepted (a 4K keyframe fits many times over).
pub const MAX_MESSAGE_SIZE: usize = 8 * 1024 * 1024;
/// Most bytes of unfinished messages held per connection, over all chunk streams, unless the owner
/// sets a smaller budget.
pub const MAX_PARTIAL_BYTES: usize = 16 * 1024 * 1024;
/// Most chunk streams one connection may use at once (real clients use fewer than ten).
pub const MAX_CHUNK_STREAMS: usize = 64;

/// Chunk stream ids oryx sends on.
pub const CSID_CONTROL: u32 = 2;
pub const CSID_COMMAND: u32 = 3;
pub const CSID_AUDIO: u32 = 4;
pub const CSID_DATA: u32 = 5;
pub const CSID_VIDEO: u32 = 6;

/// A reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    pub csid: u32,
    /// Absolute timestamp in milliseconds (wraps at 2^32).
    pub timestamp: u32,
    pub type_id: u8,
    pub stream_id: u32,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_SIZE}-byte limit")]
    MessageTooLarge(usize),
    #[error("more than {MAX_CHUNK_STREAMS} chunk streams")]
    TooManyChunkStreams,
    #[error("chunk stream {0} continues a message it never started")]
    NoPreviousHeader(u32),
    #[error("chunk stream {0} starts a new message header in the middle of a message")]
    InterruptedMessage(u32),
    /// Unfinished messages would take more than the budget (the figure in the error).
    #[error("unfinished messages over the {0}-byte budget of this connection")]
    TooMuchPartialData(usize),
    /// A message declared longer than the whole budget for unfinished messages.
    #[error("message of {length} bytes is over the {limit}-byte budget of this connection")]
    MessageOverBudget { length: usize, limit: usize },
    /// Set Chunk Size with a value out of range, as the peer sent it (all 32 bits, so 2^31 shows as
    /// 2147483648, not as the 0 its low 31 bits make).
    #[error("chunk size {0} out of range 1..={MAX_CHUNK_SIZE}")]
    BadChunkSize(u32),
}

#[derive(Debug, Clone, Copy, Default)]
struct Header {
    timestamp: u32,
    /// The timestamp field last read: a delta for fmt 1/2, the absolute time for fmt 0 (what a later
    /// fmt 3 that starts a new message adds, as ffmpeg and SRS do).
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    extended: bool,
}

#[derive(Debug, Default)]
struct ChunkStream {
    header: Option<Header>,
    /// A `Vec` (not `BytesMut`) so its capacity is ours to choose: the budget counts capacity, and
    /// it never grows past the declared length.
    partial: Vec<u8>,
    /// Bytes of the current message still to come; 0 between messages.
    remaining: usize,
}

/// Reassembles messages from the bytes a peer sends.
#[derive(Debug)]
pub struct ChunkDecoder {
    buf: BytesMut,
    chunk_size: usize,
    streams: HashMap<u32, ChunkStream>,
    /// Capacity of every partial message buffer: the memory unfinished messages take.
    partial_bytes: usize,
    partial_limit: usize,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        ChunkDecoder::new()
    }
}

fn be24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

impl ChunkDecoder {
    pub fn new() -> ChunkDecoder {
        ChunkDecoder {
            // Grows on demand: players send little, and thousands of them share a worker.
            buf: BytesMut::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            partial_bytes: 0,
            partial_limit: MAX_PARTIAL_BYTES,
        }
    }

    /// Hold at most `limit` bytes of unfinished messages (capped at [`MAX_PARTIAL_BYTES`]): a
    /// message declared longer, or a chunk that would take more, is an error. Takes effect from the
    /// next chunk; what is already held stays until its message completes.
    pub fn set_partial_limit(&mut self, limit: usize) {
        self.partial_limit = limit.min(MAX_PARTIAL_BYTES);
    }

    pub fn partial_limit(&self) -> usize {
        self.partial_limit
    }

    /// Memory this decoder holds for the peer: unfinished messages (allocated capacity) and input
    /// not decoded yet (at most a chunk and a read).
    pub fn held_bytes(&self) -> usize {
        self.partial_bytes + self.buf.len()
    }

    /// Whether a message is under way: some of a chunk or of a message came, not all.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.streams.values().any(|s| s.remaining > 0)
    }

    /// Apply the peer's Set Chunk Size (affects every chunk after the message that carried it).
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        let size_usize = size as usize;
        if size == 0 || size_usize > MAX_CHUNK_SIZE {
            return Err(ChunkError::BadChunkSize(size));
        }
        self.chunk_size = size_usize;
        Ok(())
    }

    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Abort: drop the partial message of a chunk stream.
    pub fn abort(&mut self, csid: u32) {
        if let Some(stream) = self.streams.get_mut(&csid) {
            self.partial_bytes -= stream.partial.capacity();
            stream.partial = Vec::new();
            stream.remaining = 0;
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet decoded (callers bound their reads by this).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Decode chunks until a message completes (`Some`) or the buffered input runs out (`None`).
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            match self.decode_chunk()? {
                ChunkOutcome::Incomplete => {
                    if self.buf.is_empty() {
                        // Release the read allocation (payloads already taken share it, not us).
                        self.buf = BytesMut::new();
                    }
                    return Ok(None);
                }
                ChunkOutcome::Message(message) => return Ok(Some(message)),
                ChunkOutcome::Partial => continue,
            }
        }
    }

    /// One chunk from the front of the buffer. Long because it is the chunk format read in order
    /// (basic header, message header of type 0-3, extended timestamp, payload into the message it
    /// continues), each step checking bounds against the same cursor; split, the steps would pass
    /// the cursor and the half-read header around.
    fn decode_chunk(&mut self) -> Result<ChunkOutcome, ChunkError> {
        let buf = &self.buf[..];
        let Some(&first) = buf.first() else {
            return Ok(ChunkOutcome::Incomplete);
        };
        let fmt = first >> 6;
        let (csid, mut pos) = match first & 0x3f {
            0 => match buf.get(1) {
                Some(&b) => (64 + u32::from(b), 2),
                None => return Ok(ChunkOutcome::Incomplete),
            },
            1 => match buf.get(1..3) {
                Some(b) => (64 + u32::from(b[0]) + (u32::from(b[1]) << 8), 3),
                None => return Ok(ChunkOutcome::Incomplete),
            },
            id => (u32::from(id), 1),
        };
        if !self.streams.contains_key(&csid) && self.streams.len() >= MAX_CHUNK_STREAMS {
            return Err(ChunkError::TooManyChunkStreams);
        }
        let previous = self.streams.get(&csid);
        let in_message = previous.is_some_and(|s| s.remaining > 0);
        let header_len = [11usize, 7, 3, 0][usize::from(fmt)];
        let Some(fields) = buf.get(pos..pos + header_len) else {
            return Ok(ChunkOutcome::Incomplete);
        };
        pos += header_len;
        let mut header = match (fmt, previous.and_then(|s| s.header)) {
            (0, _) => Header {
                timestamp: 0,
                delta: be24(&fields[0..3]),
                length: be24(&fields[3..6]),
                type_id: fields[6],
                stream_id: u32::from_le_bytes([fields[7], fields[8], fields[9], fields[10]]),
                extended: false,
            },
            (1, Some(prev)) => Header {
                delta: be24(&fields[0..3]),
                length: be24(&fields[3..6]),
                type_id: fields[6],
                ..prev
            },
            (2, Some(prev)) => Header {
                delta: be24(&fields[0..3]),
                ..prev
            },
            (3, Some(prev)) => prev,
            _ => return Err(ChunkError::NoPreviousHeader(csid)),
        };
        if fmt != 3 && in_message {
            return Err(ChunkError::InterruptedMessage(csid));
        }
        if fmt != 3 {
            header.extended = header.delta == 0xFF_FFFF;
        }
        if header.extended {
            let Some(ext) = buf.get(pos..pos + 4) else {
                return Ok(ChunkOutcome::Incomplete);
            };
            let ext = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            if fmt == 3 && in_message {
                // Continuations repeat the extended timestamp per the errata; some old encoders don't.
                if ext == header.delta {
                    pos += 4;
                }
            } else {
                pos += 4;
                if fmt != 3 {
                    header.delta = ext;
                }
            }
        }
        let length = header.length as usize;
        if length > MAX_MESSAGE_SIZE {
            return Err(ChunkError::MessageTooLarge(length));
        }
        if !in_message && length > self.partial_limit {
            // Refused at its header: no chunk of it is buffered.
            return Err(ChunkError::MessageOverBudget {
                length,
                limit: self.partial_limit,
            });
        }
        let remaining = if in_message {
            previous.map_or(0, |s| s.remaining)
        } else {
            length
        };
        let take = remaining.min(self.chunk_size);
        if buf.len() < pos + take {
            return Ok(ChunkOutcome::Incomplete);
        }
        // The chunk is complete: commit.
        if !in_message {
            header.timestamp = if fmt == 0 {
                header.delta
            } else {
                header.timestamp.wrapping_add(header.delta)
            };
        }
        self.buf.advance(pos);
        let data = self.buf.split_to(take);
        let stream = self.streams.entry(csid).or_default();
        stream.header = Some(header);
        if !in_message {
            stream.remaining = length;
            if take == length {
                // Single-chunk message: no copy.
                stream.remaining = 0;
                return Ok(ChunkOutcome::Message(RawMessage {
                    csid,
                    timestamp: header.timestamp,
                    type_id: header.type_id,
                    stream_id: header.stream_id,
                    payload: data.freeze(),
                }));
            }
            stream.partial = Vec::new();
        }
        let needed = stream.partial.len() + take;
        let capacity = stream.partial.capacity();
        if needed > capacity {
            // Grow as chunks arrive rather than trusting the declared length up front: doubling,
            // never past the declared length (so the last step fits exactly), and only within budget.
            let others = self.partial_bytes - capacity;
            let mut grown = (capacity * 2).max(needed).max(4096).min(length);
            if others + grown > self.partial_limit {
                grown = needed;
            }
            if others + grown > self.partial_limit {
                return Err(ChunkError::TooMuchPartialData(self.partial_limit));
            }
            stream.partial.reserve_exact(grown - stream.partial.len());
            self.partial_bytes = self.partial_bytes - capacity + stream.partial.capacity();
        }
        stream.partial.extend_from_slice(&data);
        stream.remaining -= take;
        if stream.remaining > 0 {
            return Ok(ChunkOutcome::Partial);
        }
        self.partial_bytes -= stream.partial.capacity();
        let payload = Bytes::from(std::mem::take(&mut stream.partial));
        Ok(ChunkOutcome::Message(RawMessage {
            csid,
            timestamp: header.timestamp,
            type_id: header.type_id,
            stream_id: header.stream_id,
            payload,
        }))
    }
}

enum ChunkOutcome {
    Incomplete,
    Partial,
    Message(RawMessage),
}

/// Write a chunk basic header.
pub fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    if (2..64).contains(&csid) {
        out.put_u8(fmt | csid as u8);
    } else if (64..320).contains(&csid) {
        out.put_u8(fmt);
        out.put_u8((csid - 64) as u8);
    } else {
        let id = csid.saturating_sub(64).min(65535);
        out.put_u8(fmt | 1);
        out.put_u16_le(id as u16);
    }
}

/// Write a fmt-0 chunk header (basic header, 11-byte message header, extended timestamp if needed).
pub fn put_message_header(
    out: &mut BytesMut,
    csid: u32,
    timestamp: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
) {
    put_basic_header(out, 0, csid);
    let field = timestamp.min(0xFF_FFFF);
    out.put_uint(u64::from(field), 3);
    out.put_uint(length as u64, 3);
    out.put_u8(type_id);
    out.put_u32_le(stream_id);
    if timestamp >= 0xFF_FFFF {
        out.put_u32(timestamp);
    }
}

/// The part of a chunked message after its first header: the payload with a fmt-3 header between
/// chunks. It depends only on `csid`, the chunk size and (for extended timestamps) the timestamp, so
/// one copy can be shared by every player that uses the same chunk size.
pub fn chunked_body(
    chunk_size: usize,
    csid: u32,
    extended_timestamp: Option<u32>,
    payload: &[u8],
) -> Bytes {
    let chunk_size = chunk_size.max(1);
    if payload.len() <= chunk_size {
        return Bytes::copy_from_slice(payload);
    }
    let pieces = payload.len().div_ceil(chunk_size);
    let mut out = BytesMut::with_capacity(payload.len() + pieces * 8);
    for (i, piece) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            put_basic_header(&mut out, 3, csid);
            if let Some(ts) = extended_timestamp {
                out.put_u32(ts);
            }
        }
        out.put_slice(piece);
    }
    out.freeze()
}

/// Append a whole message as chunks (fmt 0 then fmt 3 continuations).
pub fn write_message(
    out: &mut BytesMut,
    chunk_size: usize,
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
) {
    put_message_header(out, csid, timestamp, payload.len(), type_id, stream_id);
    let extended = (timestamp >= 0xFF_FFFF).then_some(timestamp);
    let chunk_size = chunk_size.max(1);
    for (i, piece) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            put_basic_header(out, 3, csid);
            if let Some(ts) = extended {
                out.put_u32(ts);
            }
        }
        out.put_slice(piece);
    }
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
