//! The mapping between the hub's frame kinds (FLV tag kinds) and RTMP message kinds, both ways: below
//! the hub and the RTMP connection, which both need it, so neither imports the other for it.

use crate::media::flv::TagKind as FrameKind;
use crate::rtmp::message::MediaKind;

pub fn media_kind(kind: FrameKind) -> MediaKind {
    match kind {
        FrameKind::Audio => MediaKind::Audio,
        FrameKind::Video => MediaKind::Video,
        FrameKind::Script => MediaKind::Script,
    }
}

pub fn frame_kind(kind: MediaKind) -> FrameKind {
    match kind {
        MediaKind::Audio => FrameKind::Audio,
        MediaKind::Video => FrameKind::Video,
        MediaKind::Script => FrameKind::Script,
    }
}
