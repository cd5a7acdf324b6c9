//! FLV: the file header and tag writer HTTP-FLV bodies are made of, and a bounds-checked, incremental
//! tag reader (for tests, the load generator and anything that consumes FLV bytes).

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// FLV header (9 bytes) plus PreviousTagSize0.
pub const FILE_HEADER_LEN: usize = 13;
/// Tag header bytes before the payload.
pub const TAG_HEADER_LEN: usize = 11;
/// Largest payload the 24-bit data-size field can describe.
pub const MAX_TAG_PAYLOAD: usize = 0x00ff_ffff;

/// FLV tag types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagKind {
    Audio,
    Video,
    /// AMF0 script data (`onMetaData`).
    Script,
}

impl TagKind {
    pub fn type_id(self) -> u8 {
        match self {
            TagKind::Audio => 8,
            TagKind::Video => 9,
            TagKind::Script => 18,
        }
    }

    pub fn from_type_id(id: u8) -> Option<TagKind> {
        match id {
            8 => Some(TagKind::Audio),
            9 => Some(TagKind::Video),
            18 => Some(TagKind::Script),
            _ => None,
        }
    }
}

/// One FLV tag: its kind, 32-bit millisecond timestamp and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub kind: TagKind,
    pub timestamp: u32,
    pub payload: Bytes,
}

/// The 9-byte FLV header followed by the zero PreviousTagSize0.
pub fn file_header(has_audio: bool, has_video: bool) -> [u8; FILE_HEADER_LEN] {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// The 11-byte tag header for a payload of `payload_len` bytes (callers check the length first).
pub fn tag_header(kind: TagKind, timestamp: u32, payload_len: usize) -> [u8; TAG_HEADER_LEN] {
    let len = (payload_len.min(MAX_TAG_PAYLOAD) as u32).to_be_bytes();
    let ts = timestamp.to_be_bytes();
    [
        kind.type_id(),
        len[1],
        len[2],
        len[3],
        ts[1],
        ts[2],
        ts[3],
        ts[0], // timestamp extension: the high byte
        0,
        0,
        0,
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlvError {
    #[error("not an FLV stream (bad signature)")]
    BadSignature,
    #[error("FLV version {0} is not 1")]
    BadVersion(u8),
    #[error("FLV header length {0} is invalid")]
    BadHeaderLength(u32),
    #[error("FLV tag payload of {0} bytes exceeds the 24-bit limit")]
    TagTooLarge(usize),
    #[error("FLV tag type {0} is unknown")]
    UnknownTagType(u8),
    #[error("FLV PreviousTagSize {found} does not match the tag size {expected}")]
    BadPreviousTagSize { expected: u32, found: u32 },
    #[error("FLV stream ended inside a tag")]
    Truncated,
}

/// Appends one complete tag (header, payload, PreviousTagSize) to `out`.
pub fn write_tag(
    out: &mut BytesMut,
    kind: TagKind,
    timestamp: u32,
    payload: &[u8],
) -> Result<(), FlvError> {
    if payload.len() > MAX_TAG_PAYLOAD {
        return Err(FlvError::TagTooLarge(payload.len()));
    }
    out.reserve(TAG_HEADER_LEN + payload.len() + 4);
    out.extend_from_slice(&tag_header(kind, timestamp, payload.len()));
    out.extend_from_slice(payload);
    out.extend_from_slice(&((TAG_HEADER_LEN + payload.len()) as u32).to_be_bytes());
    Ok(())
}

/// Incremental FLV reader: push bytes as they arrive, pull whole tags.
///
/// Memory is bounded by one tag (at most 16 MiB + 15 bytes) plus whatever a single `push` adds.
/// Tags of unknown types are skipped, as players do.
#[derive(Default)]
pub struct FlvReader {
    buffer: BytesMut,
    header_done: bool,
    /// Whether each tag's PreviousTagSize must equal its size (some muxers write zeros).
    strict_previous_size: bool,
}

impl FlvReader {
    pub fn new() -> FlvReader {
        FlvReader::default()
    }

    /// A reader that rejects a PreviousTagSize that does not match the tag before it.
    pub fn strict() -> FlvReader {
        FlvReader {
            strict_previous_size: true,
            ..FlvReader::default()
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// Bytes received but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete tag, `Ok(None)` when more bytes are needed.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        if !self.header_done {
            if !self.read_header()? {
                return Ok(None);
            }
            self.header_done = true;
        }
        loop {
            if self.buffer.len() < TAG_HEADER_LEN {
                return Ok(None);
            }
            let head = &self.buffer[..TAG_HEADER_LEN];
            let type_id = head[0] & 0x1f; // the top bits are reserved / the encryption filter flag
            let size =
                usize::from(head[1]) << 16 | usize::from(head[2]) << 8 | usize::from(head[3]);
            let timestamp = u32::from_be_bytes([head[7], head[4], head[5], head[6]]);
            let total = TAG_HEADER_LEN + size + 4;
            if self.buffer.len() < total {
                self.buffer.reserve(total - self.buffer.len());
                return Ok(None);
            }
            let mut tag = self.buffer.split_to(total);
            tag.advance(TAG_HEADER_LEN);
            let previous =
                u32::from_be_bytes([tag[size], tag[size + 1], tag[size + 2], tag[size + 3]]);
            let expected = (TAG_HEADER_LEN + size) as u32;
            if self.strict_previous_size && previous != expected {
                return Err(FlvError::BadPreviousTagSize {
                    expected,
                    found: previous,
                });
            }
            tag.truncate(size);
            if let Some(kind) = TagKind::from_type_id(type_id) {
                return Ok(Some(FlvTag {
                    kind,
                    timestamp,
                    payload: tag.freeze(),
                }));
            }
        }
    }

    /// Call when the input has ended: an error if a partial tag is left.
    pub fn finish(&self) -> Result<(), FlvError> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            Err(FlvError::Truncated)
        }
    }

    fn read_header(&mut self) -> Result<bool, FlvError> {
        let have = self.buffer.len();
        let signature_len = have.min(3);
        if self.buffer[..signature_len] != b"FLV"[..signature_len] {
            return Err(FlvError::BadSignature);
        }
        if have < 9 {
            return Ok(false);
        }
        if self.buffer[3] != 1 {
            return Err(FlvError::BadVersion(self.buffer[3]));
        }
        let header_len = u32::from_be_bytes([
            self.buffer[5],
            self.buffer[6],
            self.buffer[7],
            self.buffer[8],
        ]);
        // Real files use 9; anything larger than a few bytes of extension is garbage.
        if !(9..=64).contains(&header_len) {
            return Err(FlvError::BadHeaderLength(header_len));
        }
        let skip = header_len as usize + 4;
        if have < skip {
            return Ok(false);
        }
        self.buffer.advance(skip);
        Ok(true)
    }
}

/// Reads every tag of a complete FLV file.
pub fn read_all(data: &[u8]) -> Result<Vec<FlvTag>, FlvError> {
    let mut reader = FlvReader::new();
    reader.push(data);
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag()? {
        tags.push(tag);
    }
    reader.finish()?;
    Ok(tags)
}

/// True for an AVC video payload that is a keyframe (frame type 1).
pub fn is_video_keyframe(payload: &[u8]) -> bool {
    payload.first().is_some_and(|byte| byte >> 4 == 1)
}

/// True for an AVC (codec 7) sequence header (AVCPacketType 0).
pub fn is_avc_sequence_header(payload: &[u8]) -> bool {
    payload.len() >= 2 && payload[0] & 0x0f == 7 && payload[1] == 0
}

/// True for an AAC (sound format 10) sequence header (AACPacketType 0).
pub fn is_aac_sequence_header(payload: &[u8]) -> bool {
    payload.len() >= 2 && payload[0] >> 4 == 10 && payload[1] == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_file() -> Vec<u8> {
        let mut out = BytesMut::new();
        out.extend_from_slice(&file_header(true, true));
        write_tag(&mut out, TagKind::Script, 0, b"\x02\x00\x0aonMetaData").unwrap();
        write_tag(&mut out, TagKind::Video, 40, &[0x17, 0, 0, 0, 0, 1, 2]).unwrap();
        write_tag(&mut out, TagKind::Audio, 0x0123_4567, &[0xaf, 1, 9]).unwrap();
        out.to_vec()
    }

    #[test]
    fn writes_and_reads_back_tags() {
        let tags = read_all(&sample_file()).unwrap();
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[1].kind, TagKind::Video);
        assert_eq!(tags[1].timestamp, 40);
        assert!(is_video_keyframe(&tags[1].payload));
        assert!(is_avc_sequence_header(&tags[1].payload));
        // The high timestamp byte travels in the extension field.
        assert_eq!(tags[2].timestamp, 0x0123_4567);
        assert_eq!(tags[2].payload.as_ref(), &[0xaf, 1, 9]);
    }

    #[test]
    fn header_layout_matches_spec() {
        assert_eq!(
            file_header(true, false),
            [b'F', b'L', b'V', 1, 4, 0, 0, 0, 9, 0, 0, 0, 0]
        );
        let mut out = BytesMut::new();
        write_tag(&mut out, TagKind::Audio, 0x0102_0304, &[0xaa; 5]).unwrap();
        assert_eq!(&out[..11], &[8, 0, 0, 5, 2, 3, 4, 1, 0, 0, 0]);
        assert_eq!(&out[16..], &[0, 0, 0, 16]);
    }

    #[test]
    fn reads_byte_by_byte() {
        let file = sample_file();
        let mut reader = FlvReader::strict();
        let mut tags = Vec::new();
        for byte in &file {
            reader.push(std::slice::from_ref(byte));
            while let Some(tag) = reader.next_tag().unwrap() {
                tags.push(tag);
            }
        }
        assert_eq!(tags, read_all(&file).unwrap());
        reader.finish().unwrap();
    }

    #[test]
    fn reports_truncation_and_garbage() {
        let file = sample_file();
        assert_eq!(read_all(&file[..file.len() - 1]), Err(FlvError::Truncated));
        assert_eq!(read_all(b"FLX"), Err(FlvError::BadSignature));
        let mut bad_version = file.clone();
        bad_version[3] = 2;
        assert_eq!(read_all(&bad_version), Err(FlvError::BadVersion(2)));
        let mut bad_header = file.clone();
        bad_header[8] = 200;
        assert_eq!(read_all(&bad_header), Err(FlvError::BadHeaderLength(200)));
        let mut bad_previous = file;
        let last = bad_previous.len() - 1;
        bad_previous[last] ^= 1;
        let mut reader = FlvReader::strict();
        reader.push(&bad_previous);
        let mut result = Ok(None);
        for _ in 0..4 {
            result = reader.next_tag();
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(FlvError::BadPreviousTagSize { .. })));
    }

    #[test]
    fn skips_unknown_tag_types() {
        let mut out = BytesMut::new();
        out.extend_from_slice(&file_header(true, false));
        out.extend_from_slice(&[7, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xee, 0, 0, 0, 12]);
        write_tag(&mut out, TagKind::Audio, 1, &[0xaf, 1]).unwrap();
        let tags = read_all(&out).unwrap();
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].kind, TagKind::Audio);
    }

    #[test]
    fn refuses_oversized_payload() {
        let big = vec![0u8; MAX_TAG_PAYLOAD + 1];
        assert_eq!(
            write_tag(&mut BytesMut::new(), TagKind::Video, 0, &big),
            Err(FlvError::TagTooLarge(MAX_TAG_PAYLOAD + 1))
        );
    }
}
