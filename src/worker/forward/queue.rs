//! A forward's queue between the publisher and its push task, bounded by bytes: the publisher never
//! waits on it, and a target that cannot keep up loses whole GOPs (skipped ahead to the next keyframe),
//! never the decoder's headers. Sans-IO: the caller locks it and wakes the task.

use crate::worker::hub::{Frame, FrameKind, FramePlace};
use std::collections::VecDeque;

/// The newest metadata and sequence headers: what a (re)connected target needs before any frame.
#[derive(Debug, Default, Clone)]
struct Headers {
    metadata: Option<Frame>,
    video: Option<Frame>,
    audio: Option<Frame>,
}

/// Frames waiting for one forward's connection.
#[derive(Debug)]
pub struct Queue {
    /// Each with its seq in the stream's ring (what the shared Opus→AAC transcoder is keyed by).
    frames: VecDeque<(Frame, u64)>,
    /// The stream's id in the hub, from the frames' places.
    stream: Option<u64>,
    /// Payload bytes in `frames`.
    bytes: usize,
    limit: usize,
    headers: Headers,
    /// A connection takes frames; while there is none only the headers are kept.
    open: bool,
    /// Dropping media until the next keyframe (after a (re)connect or an overflow).
    need_keyframe: bool,
    /// The current wait for a keyframe began with an overflow, so its drops count as skipped.
    overflowed: bool,
    skipped: u64,
    last_timestamp: u32,
    /// The publisher left: what is queued is the last of it.
    ended: bool,
}

impl Queue {
    /// A queue holding at most about `limit` bytes of frames (one frame more at worst).
    pub fn new(limit: usize) -> Queue {
        Queue {
            frames: VecDeque::new(),
            stream: None,
            bytes: 0,
            limit: limit.max(64 * 1024),
            headers: Headers::default(),
            open: false,
            need_keyframe: true,
            overflowed: false,
            skipped: 0,
            last_timestamp: 0,
            ended: false,
        }
    }

    /// Frames dropped because the target fell behind (since this publish began).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// A frame without a place (tests).
    #[cfg(test)]
    pub fn push(&mut self, frame: &Frame) -> bool {
        self.push_at(frame, FramePlace { stream: 0, seq: 0 })
    }

    /// The stream's id in the hub, once a frame came.
    pub fn stream(&self) -> Option<u64> {
        self.stream
    }

    /// The publisher's next frame; true when the task has something new to send.
    pub fn push_at(&mut self, frame: &Frame, place: FramePlace) -> bool {
        if self.ended {
            return false;
        }
        self.stream = Some(place.stream);
        self.last_timestamp = frame.timestamp;
        let header = self.remember(frame);
        if !self.open {
            return false;
        }
        if !header {
            if self.bytes + frame.payload.len() > self.limit {
                self.overflow();
            }
            if self.need_keyframe {
                if !self.starts_gop(frame) {
                    if self.overflowed {
                        self.skipped += 1;
                    }
                    return false;
                }
                self.need_keyframe = false;
                self.overflowed = false;
            }
        }
        self.bytes += frame.payload.len();
        self.frames.push_back((frame.clone(), place.seq));
        true
    }

    /// Keep the newest metadata or sequence header; true when `frame` is one (it always passes).
    fn remember(&mut self, frame: &Frame) -> bool {
        let slot = if frame.is_metadata() {
            &mut self.headers.metadata
        } else if !frame.is_sequence_header() {
            return false;
        } else if frame.kind == FrameKind::Video {
            &mut self.headers.video
        } else {
            &mut self.headers.audio
        };
        *slot = Some(frame.clone());
        true
    }

    /// A frame a decoder can start from: a keyframe, or any audio of a stream without video.
    fn starts_gop(&self, frame: &Frame) -> bool {
        frame.is_keyframe() || (frame.kind == FrameKind::Audio && self.headers.video.is_none())
    }

    /// The target fell a queue behind: drop the queued media (headers stay, in order) and wait for
    /// the next keyframe.
    fn overflow(&mut self) {
        let before = self.frames.len();
        self.frames
            .retain(|(f, _)| f.is_metadata() || f.is_sequence_header());
        self.skipped += (before - self.frames.len()) as u64;
        self.bytes = self.frames.iter().map(|(f, _)| f.payload.len()).sum();
        self.need_keyframe = true;
        self.overflowed = true;
    }

    /// A connection is ready to publish: the headers it must send first (metadata, video and audio
    /// sequence headers, each at the newest timestamp); media follows from the next keyframe.
    pub fn open(&mut self) -> Vec<Frame> {
        self.frames.clear();
        self.bytes = 0;
        self.open = true;
        self.need_keyframe = true;
        self.overflowed = false;
        let h = &self.headers;
        [&h.metadata, &h.video, &h.audio]
            .into_iter()
            .flatten()
            .map(|f| Frame {
                timestamp: if f.kind == FrameKind::Script {
                    0
                } else {
                    self.last_timestamp
                },
                ..f.clone()
            })
            .collect()
    }

    /// The connection is gone: queue nothing until the next [`Queue::open`].
    pub fn close(&mut self) {
        self.open = false;
        self.frames.clear();
        self.bytes = 0;
    }

    /// The publisher left.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Everything queued, oldest first, with each frame's seq.
    pub fn take(&mut self) -> VecDeque<(Frame, u64)> {
        self.bytes = 0;
        std::mem::take(&mut self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(kind: FrameKind, timestamp: u32, payload: &'static [u8]) -> Frame {
        Frame {
            kind,
            timestamp,
            payload: Bytes::from_static(payload),
        }
    }
    fn key(ts: u32) -> Frame {
        frame(FrameKind::Video, ts, &[0x17, 1, 0, 0, 0, 9, 9, 9])
    }
    fn inter(ts: u32) -> Frame {
        frame(FrameKind::Video, ts, &[0x27, 1, 0, 0, 0, 9, 9, 9])
    }
    fn avc_header() -> Frame {
        frame(FrameKind::Video, 0, &[0x17, 0, 0, 0, 0, 1])
    }
    fn aac_header() -> Frame {
        frame(FrameKind::Audio, 0, &[0xaf, 0, 0x12, 0x10])
    }
    fn metadata() -> Frame {
        // AMF0 string "onMetaData", then an empty ECMA array.
        let mut p = vec![2, 0, 10];
        p.extend_from_slice(b"onMetaData");
        p.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 9]);
        Frame {
            kind: FrameKind::Script,
            timestamp: 0,
            payload: Bytes::from(p),
        }
    }

    #[test]
    fn a_connection_gets_the_headers_first_then_media_from_a_keyframe() {
        let mut q = Queue::new(1 << 20);
        for f in [metadata(), avc_header(), aac_header(), key(0), inter(40)] {
            assert!(!q.push(&f), "nothing is queued before a connection");
        }
        let headers = q.open();
        let kinds: Vec<_> = headers.iter().map(|f| (f.kind, f.timestamp)).collect();
        assert_eq!(
            kinds,
            [
                (FrameKind::Script, 0),
                (FrameKind::Video, 40),
                (FrameKind::Audio, 40)
            ]
        );
        assert!(!q.push(&inter(80)), "waits for a keyframe");
        assert!(q.push(&key(120)));
        assert!(q.push(&inter(160)));
        let got: Vec<u32> = q.take().iter().map(|(f, _)| f.timestamp).collect();
        assert_eq!(got, [120, 160]);
        assert_eq!(q.skipped(), 0, "a reconnect's wait is not a skip");

        q.close();
        assert!(!q.push(&key(200)));
        assert!(q.take().is_empty());
    }

    #[test]
    fn an_overflow_skips_to_the_next_keyframe_and_keeps_headers() {
        let mut q = Queue::new(0); // raised to the 64 KiB floor
        q.push(&avc_header());
        q.open();
        assert!(q.push(&key(0)));
        let big = Frame {
            payload: Bytes::from(vec![0x27; 40_000]),
            ..inter(40)
        };
        assert!(q.push(&big));
        assert!(q.push(&avc_header()), "headers always pass");
        // The third frame does not fit: the queued media goes, and so does this inter frame.
        assert!(!q.push(&Frame {
            timestamp: 80,
            ..big.clone()
        }));
        assert_eq!(q.skipped(), 3);
        assert!(!q.push(&inter(120)));
        assert_eq!(q.skipped(), 4);
        assert!(q.push(&key(160)));
        let got: Vec<_> = q
            .take()
            .iter()
            .map(|(f, _)| (f.is_sequence_header(), f.timestamp))
            .collect();
        assert_eq!(got, [(true, 0), (false, 160)]);
    }

    #[test]
    fn audio_only_streams_start_anywhere_and_an_ended_queue_takes_nothing() {
        let mut q = Queue::new(1 << 20);
        q.push(&aac_header());
        assert_eq!(q.open().len(), 1);
        assert!(q.push(&frame(FrameKind::Audio, 23, &[0xaf, 1, 5])));
        q.end();
        assert!(q.ended());
        assert!(!q.push(&frame(FrameKind::Audio, 46, &[0xaf, 1, 5])));
        assert_eq!(q.take().len(), 1);
    }
}
