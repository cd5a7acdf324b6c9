//! An FLV file from FLV-style frames: the file header, then each frame as a tag. Sans-IO: bytes out,
//! for recordings written as they go (a file cut anywhere is still read up to its last whole tag).

use super::flv::{self, TagKind};
use bytes::BytesMut;

/// Frames in, FLV bytes out.
#[derive(Debug, Default)]
pub struct FlvFileWriter {
    started: bool,
    dropped: u64,
}

impl FlvFileWriter {
    pub fn new() -> FlvFileWriter {
        FlvFileWriter::default()
    }

    /// Frames too large for a tag (never in practice: RTMP messages are smaller).
    pub fn dropped_frames(&self) -> u64 {
        self.dropped
    }

    /// Appends the file header (first call) and the frame's tag to `out`.
    pub fn push(&mut self, kind: TagKind, timestamp: u32, payload: &[u8], out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(&flv::file_header(true, true));
            self.started = true;
        }
        let mut tag = BytesMut::new();
        match flv::write_tag(&mut tag, kind, timestamp, payload) {
            Ok(()) => out.extend_from_slice(&tag),
            Err(_) => self.dropped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sample_frames::publish;

    #[test]
    fn writes_a_file_the_reader_reads_back() {
        let mut writer = FlvFileWriter::new();
        let mut out = Vec::new();
        let frames = publish(0, 1, 25);
        for (kind, ts, payload) in &frames {
            writer.push(*kind, *ts, payload, &mut out);
        }
        let tags = flv::read_all(&out).unwrap();
        assert_eq!(tags.len(), frames.len());
        assert_eq!(tags[2].payload, frames[2].2);
    }
}
