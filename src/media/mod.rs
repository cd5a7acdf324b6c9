//! Media containers: FLV tags and their E-RTMP headers, codec configurations (H.264, HEVC, AV1, VP9,
//! AAC, Opus), the MPEG-TS muxer, the HLS segmenter, the fragmented-MP4 muxer and the recording file
//! writers.

pub mod aac;
pub mod audio;
pub mod av1;
pub mod avc;
pub mod bits;
pub mod crc32;
pub mod ertmp;
pub mod flv;
pub mod flv_file;
pub mod fmp4;
pub mod fuzzing;
pub mod fuzzing_ertmp;
pub mod fuzzing_ts;
pub mod hevc;
pub mod hls;
pub mod interleave;
pub mod opus;
pub mod playlist;
#[cfg(test)]
pub(crate) mod sample_frames;
pub mod tag_body;
pub mod tag_class;
pub mod ts;
pub mod ts_demux;
pub mod ts_file;
pub mod ts_frames;
pub mod ts_tags;
pub mod ts_video;
pub mod vp9;
