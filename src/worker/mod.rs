//! The embedded streaming worker: stream hub (one publisher → many players, GOP cache), RTMP, HTTP-FLV,
//! HLS and the SRS-compatible API.
pub mod hooks;
pub mod role;
