//! Audio transcoding between what RTMP/SRT publishers send (AAC) and what WebRTC carries (Opus):
//! `AacToOpus` for WHEP players of an RTMP stream, `OpusToAac` for RTMP/HLS players of a WHIP
//! stream. Sans-IO: frames in, frames out.

mod aac_decode;
mod aac_to_opus;
mod clock;
pub mod libopus;
mod opus_to_aac;
mod resample;

pub use aac_decode::AacDecoder;
pub use aac_to_opus::{AacToOpus, OpusFrame};
pub use opus_to_aac::{AacFrame, OpusToAac};
pub use resample::Resampler;
