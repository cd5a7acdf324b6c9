//! What the RTMP front end checks of codecs: a publisher's E-RTMP headers must be well formed, and
//! a player that announced its E-RTMP codecs is sent only those.

use super::frame_kind::media_kind;
use super::hub::Frame;
use crate::media::{ertmp, tag_class};
use crate::rtmp::enhanced::EnhancedCaps;
use crate::rtmp::message::MediaKind;

/// A publisher's audio or video must carry a well-formed E-RTMP header when it has one.
pub(super) fn check_media(kind: MediaKind, payload: &[u8]) -> Result<(), ertmp::ErtmpError> {
    match kind {
        MediaKind::Video => ertmp::check_video(payload),
        MediaKind::Audio => ertmp::check_audio(payload),
        MediaKind::Script => Ok(()),
    }
}

/// The codec of an E-RTMP sequence start the player did not list in its `fourCcList` or info maps
/// (players that listed nothing take every codec: FFmpeg plays E-RTMP without announcing it; legacy
/// tags go to every player, as they always did).
pub(super) fn refused_codec(enhanced: &EnhancedCaps, frame: &Frame) -> Option<String> {
    if !enhanced.listed || !frame.is_sequence_header() {
        return None;
    }
    let payload = &frame.payload;
    let codec = match media_kind(frame.kind) {
        MediaKind::Video if ertmp::is_ex_video(payload) => tag_class::video_codec(payload),
        MediaKind::Video => None,
        _ => tag_class::enhanced_audio_codec(payload),
    }?;
    let name = codec.as_str();
    (!enhanced.accepts(&name)).then_some(name)
}

/// Whether an RTMP player of an Opus stream gets it as AAC: it did not list Opus in its
/// `fourCcList` (Debian's ffmpeg 5.1 and FFmpeg 9 send the same `connect` when they announce
/// nothing, and only the latter decodes E-RTMP Opus) and this host can transcode. A player that
/// listed codecs without Opus, on a host that cannot, is refused as before (`refused_codec`).
pub(super) fn wants_aac(enhanced: &EnhancedCaps) -> bool {
    let opus = enhanced.listed && enhanced.accepts("Opus");
    !opus && super::audio_legacy::supported()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::amf0::Amf0;
    use crate::worker::hub::FrameKind;

    fn cached(kind: FrameKind, payload: &'static [u8]) -> Frame {
        Frame {
            kind,
            timestamp: 0,
            payload: bytes::Bytes::from_static(payload),
        }
    }

    #[test]
    fn players_get_only_announced_codecs() {
        let hevc = cached(FrameKind::Video, b"\x90hvc1\x01");
        let opus = cached(FrameKind::Audio, b"\x90OpusOpusHead");
        let avc = cached(FrameKind::Video, &[0x17, 0, 0, 0, 0, 1]);
        let legacy = EnhancedCaps::default();
        assert_eq!(refused_codec(&legacy, &hevc), None);
        let object = Amf0::Object(vec![(
            "fourCcList".into(),
            Amf0::StrictArray(vec![Amf0::str("avc1"), Amf0::str("mp4a")]),
        )]);
        let h264_only = EnhancedCaps::from_connect(&object);
        assert_eq!(refused_codec(&h264_only, &hevc).as_deref(), Some("hvc1"));
        assert_eq!(refused_codec(&h264_only, &opus).as_deref(), Some("Opus"));
        assert_eq!(refused_codec(&h264_only, &avc), None);
        let hevc_only = EnhancedCaps::from_connect(&Amf0::Object(vec![(
            "fourCcList".into(),
            Amf0::StrictArray(vec![Amf0::str("hvc1")]),
        )]));
        // Legacy H.264 and AAC go to every player.
        assert_eq!(refused_codec(&hevc_only, &avc), None);
        let aac = cached(FrameKind::Audio, &[0xaf, 0, 0x12, 0x10]);
        assert_eq!(refused_codec(&hevc_only, &aac), None);
    }

    #[test]
    fn publishers_must_send_well_formed_headers() {
        assert!(check_media(MediaKind::Video, &[0x17, 1, 0, 0, 0]).is_ok());
        assert!(check_media(MediaKind::Video, b"\x91hvc1\x00\x00\x00").is_ok());
        assert!(check_media(MediaKind::Video, b"\x91nope").is_err());
        assert!(check_media(MediaKind::Audio, b"\x91Op").is_err());
        assert!(check_media(MediaKind::Script, b"\x91nope").is_ok());
    }
}
