//! The hub's side of HLS: a sink per publish that hands every frame to the stream's segmenter.

use super::{HlsPublisher, HlsStore};
use crate::worker::hub::{Frame, SinkFactory, StreamName, StreamSink};

/// The hub's side of HLS: every publish gets a sink feeding that stream's segmenter.
pub struct HlsSinkFactory {
    store: HlsStore,
}

impl HlsSinkFactory {
    pub fn new(store: HlsStore) -> HlsSinkFactory {
        HlsSinkFactory { store }
    }
}

impl SinkFactory for HlsSinkFactory {
    fn create(&self, key: &StreamName, _internal: bool) -> Option<Box<dyn StreamSink>> {
        let publisher = self.store.publish(key.clone())?;
        Some(Box::new(HlsSink(publisher)))
    }
}

struct HlsSink(HlsPublisher);

impl StreamSink for HlsSink {
    fn on_frame(&mut self, frame: &Frame) {
        self.0.on_frame(frame.kind, frame.timestamp, &frame.payload);
    }

    fn on_unpublish(&mut self) {
        self.0.on_unpublish();
    }
}
