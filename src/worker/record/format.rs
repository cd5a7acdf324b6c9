//! The three recording containers behind one interface: frames in, file bytes out.

use crate::compile::plan::RecordFormat;
use crate::media::flv::TagKind;
use crate::media::flv_file::FlvFileWriter;
use crate::media::fmp4::{Fmp4Muxer, Fmp4Output};
use crate::media::ts_file::TsFileWriter;
use bytes::Bytes;

/// A fragment per GOP, or per this long when GOPs are longer: what a crash may lose at most.
const MP4_FRAGMENT_MS: u64 = 1_000;

pub enum FileMuxer {
    Mp4(Box<Fmp4Muxer>, Vec<Fmp4Output>),
    Flv(FlvFileWriter),
    Ts(TsFileWriter),
}

impl FileMuxer {
    pub fn new(format: RecordFormat) -> FileMuxer {
        match format {
            RecordFormat::Mp4 => {
                FileMuxer::Mp4(Box::new(Fmp4Muxer::new(MP4_FRAGMENT_MS)), Vec::new())
            }
            RecordFormat::Flv => FileMuxer::Flv(FlvFileWriter::new()),
            RecordFormat::Ts => FileMuxer::Ts(TsFileWriter::new()),
        }
    }

    /// Appends what `frame` adds to the file to `out`.
    pub fn push(&mut self, kind: TagKind, timestamp: u32, payload: &Bytes, out: &mut Vec<u8>) {
        match self {
            FileMuxer::Mp4(muxer, pending) => {
                muxer.push(kind, timestamp, payload, pending);
                drain(pending, out);
            }
            FileMuxer::Flv(writer) => writer.push(kind, timestamp, payload, out),
            FileMuxer::Ts(writer) => writer.push(kind, timestamp, payload, out),
        }
    }

    /// Appends what ends the file to `out` (the last fMP4 fragment).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let FileMuxer::Mp4(muxer, pending) = self {
            muxer.finish(pending);
            drain(pending, out);
        }
    }

    /// The codecs changed in a way this file cannot carry (a new fMP4 init segment is needed).
    pub fn needs_new_file(&self) -> bool {
        matches!(self, FileMuxer::Mp4(muxer, _) if muxer.config_changed())
    }
}

fn drain(pending: &mut Vec<Fmp4Output>, out: &mut Vec<u8>) {
    for output in pending.drain(..) {
        match output {
            Fmp4Output::Init(data) => out.extend_from_slice(&data),
            Fmp4Output::Fragment(fragment) => out.extend_from_slice(&fragment.data),
        }
    }
}
