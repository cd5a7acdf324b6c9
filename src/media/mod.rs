//! Media containers: FLV tags, H.264/AAC headers, the MPEG-TS muxer and the HLS segmenter.

pub mod aac;
pub mod avc;
pub mod bits;
pub mod crc32;
pub mod flv;
pub mod fuzzing;
pub mod hls;
pub mod playlist;
pub mod ts;
