//! The sans-IO pieces of WebRTC that are oryx's own (the ICE/DTLS/SRTP/RTP stack is `str0m`):
//! which session a datagram belongs to (`stun.rs`, `demux.rs`), H.264 between FLV's AVCC and RTP's
//! Annex-B access units (`h264.rs`), small H.264 NAL units aggregated into STAP-As (`stap.rs`), every WHEP video codec's packetizer input and the codecs an
//! offer carries (`video.rs`), a WHIP publisher's VP9/AV1 into E-RTMP
//! with records built from the bitstream (`ingest.rs`), Opus between E-RTMP and RTP (`opus.rs`), trickle ICE
//! fragments of `PATCH` (`sdpfrag.rs`), and the signaling
//! URLs (`path.rs`). Bytes in, values out; bad input is `None`, never a panic.
pub mod demux;
pub mod fuzzing;
pub mod h264;
pub mod ingest;
pub mod opus;
pub mod sdpfrag;
pub mod stap;
pub mod stun;
pub mod video;
