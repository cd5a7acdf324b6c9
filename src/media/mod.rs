//! Media containers: FLV tags, H.264/AAC headers, the MPEG-TS muxer, the HLS segmenter, the
//! fragmented-MP4 muxer and the recording file writers.

pub mod aac;
pub mod avc;
pub mod bits;
pub mod crc32;
pub mod flv;
pub mod flv_file;
pub mod fmp4;
pub mod fuzzing;
pub mod hls;
pub mod playlist;
#[cfg(test)]
pub(crate) mod sample_frames;
pub mod ts;
pub mod ts_file;
