//! What a forward sends of an Opus stream's audio: Opus as it is to a target whose `connect`
//! answer listed `Opus` (an E-RTMP server such as oryx), AAC from the stream's shared transcoder
//! to any other (nginx-rtmp, SRS, the platforms' ingests), joined for one connection's life.

use crate::rtmp::enhanced::EnhancedCaps;
use crate::worker::audio_legacy::{LegacyAudio, LegacyTap};
use crate::worker::hub::Frame;
use std::sync::Arc;

/// Whether a target that answered `connect` with `caps` takes E-RTMP Opus.
pub fn takes_opus(caps: &EnhancedCaps) -> bool {
    caps.listed && caps.accepts("Opus")
}

/// One connection's audio: untouched, or Opus swapped for AAC.
pub struct ForwardAudio {
    /// `None`: the target takes Opus (or the stream has none to convert).
    tap: Option<LegacyTap>,
}

impl ForwardAudio {
    /// For a connection to a target that answered `caps`; `stream` is the hub's id of the stream
    /// (unknown before its first frame, when there is no Opus to convert either).
    pub fn new(caps: &EnhancedCaps, legacy: &Arc<LegacyAudio>, stream: Option<u64>) -> Self {
        let tap = match stream {
            Some(stream) if !takes_opus(caps) => Some(LegacyTap::new(legacy.clone(), stream)),
            _ => None,
        };
        ForwardAudio { tap }
    }

    /// The headers a connection starts with, an Opus sequence header as AAC's when converting.
    pub fn headers(&mut self, headers: Vec<Frame>) -> Vec<Frame> {
        // A sequence header needs no place in the ring: it only (re)starts the transcoder.
        self.frames(headers.into_iter().map(|f| (f, 0)))
    }

    /// Queued frames (with their seqs) as the target is sent them.
    pub fn frames(&mut self, frames: impl IntoIterator<Item = (Frame, u64)>) -> Vec<Frame> {
        let mut out = Vec::new();
        for (frame, seq) in frames {
            match self.tap.as_mut().and_then(|tap| tap.convert(&frame, seq)) {
                Some(aac) => out.extend(aac),
                None => out.push(frame),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::amf0::Amf0;
    use crate::worker::hub::FrameKind;
    use bytes::Bytes;

    fn caps(list: &[&str]) -> EnhancedCaps {
        let list = list.iter().map(|c| Amf0::str(c)).collect();
        EnhancedCaps::from_connect(&Amf0::Object(vec![(
            "fourCcList".into(),
            Amf0::StrictArray(list),
        )]))
    }

    #[test]
    fn only_a_target_that_listed_opus_takes_it() {
        assert!(takes_opus(&caps(&["avc1", "Opus"])));
        assert!(takes_opus(&caps(&["*"])));
        assert!(!takes_opus(&caps(&["avc1", "mp4a"])));
        // nginx-rtmp's answer lists nothing.
        assert!(!takes_opus(&EnhancedCaps::default()));
    }

    #[test]
    fn a_target_taking_opus_gets_frames_untouched() {
        let legacy = Arc::new(LegacyAudio::default());
        let mut audio = ForwardAudio::new(&caps(&["Opus"]), &legacy, Some(1));
        let opus = Frame {
            kind: FrameKind::Audio,
            timestamp: 20,
            payload: Bytes::from_static(b"\x91Opus\xfc\xff\xfe"),
        };
        assert_eq!(audio.frames([(opus.clone(), 3)]), [opus]);
        assert_eq!(legacy.running(), 0);
    }
}
