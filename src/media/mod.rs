//! Media containers: FLV tags and their E-RTMP headers, codec configurations (H.264, HEVC, AV1, VP9,
//! AAC, Opus), the MPEG-TS muxer and the HLS segmenter.

pub mod aac;
pub mod av1;
pub mod avc;
pub mod bits;
pub mod crc32;
pub mod ertmp;
pub mod flv;
pub mod fuzzing;
pub mod fuzzing_ertmp;
pub mod hevc;
pub mod hls;
pub mod opus;
pub mod playlist;
pub mod tag_class;
pub mod ts;
pub mod vp9;
