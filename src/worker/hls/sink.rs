//! The hub's side of HLS: a sink per publish that hands every frame to the stream's segmenter.
//! A TS segmenter cannot carry Opus: it gets the stream's shared AAC instead (`audio_legacy`).

use super::{HlsPublisher, HlsStore};
use crate::worker::audio_legacy::{is_opus, LegacyAudio, LegacyTap};
use crate::worker::hub::{Frame, FramePlace, SinkFactory, StreamName, StreamSink};
use std::sync::Arc;

/// The hub's side of HLS: every publish gets a sink feeding that stream's segmenter.
pub struct HlsSinkFactory {
    store: HlsStore,
    legacy: Arc<LegacyAudio>,
}

impl HlsSinkFactory {
    pub fn new(store: HlsStore, legacy: Arc<LegacyAudio>) -> HlsSinkFactory {
        HlsSinkFactory { store, legacy }
    }
}

impl SinkFactory for HlsSinkFactory {
    fn create(&self, key: &StreamName, _internal: bool) -> Option<Box<dyn StreamSink>> {
        let publisher = self.store.publish(key.clone())?;
        Some(Box::new(HlsSink {
            publisher,
            legacy: self.legacy.clone(),
            tap: None,
        }))
    }
}

struct HlsSink {
    publisher: HlsPublisher,
    legacy: Arc<LegacyAudio>,
    /// Made at the stream's first Opus tag; joined while the segmenter is TS.
    tap: Option<LegacyTap>,
}

impl HlsSink {
    fn push(&mut self, frame: &Frame) {
        self.publisher
            .on_frame(frame.kind, frame.timestamp, &frame.payload);
    }
}

impl StreamSink for HlsSink {
    fn on_frame(&mut self, frame: &Frame) {
        self.push(frame);
    }

    fn on_frame_at(&mut self, frame: &Frame, place: FramePlace) {
        if !is_opus(frame) {
            return self.push(frame);
        }
        let legacy = &self.legacy;
        let tap = self
            .tap
            .get_or_insert_with(|| LegacyTap::new(legacy.clone(), place.stream));
        // fMP4 (and `auto`, which picks it for Opus) carries Opus as it is.
        if self.publisher.carries_opus() {
            tap.observe(frame);
            tap.leave();
            return self.push(frame);
        }
        match tap.convert(frame, place.seq) {
            Some(aac) => aac.iter().for_each(|f| self.push(f)),
            None => self.push(frame),
        }
    }

    fn on_unpublish(&mut self) {
        self.publisher.on_unpublish();
        self.tap = None;
    }
}
