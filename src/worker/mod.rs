//! The embedded streaming worker: stream hub (one publisher → many players, GOP cache), RTMP, HTTP-FLV,
//! HLS and the SRS-compatible API.
pub mod admission;
pub mod api;
pub mod api_codecs;
pub mod context;
pub mod counters;
pub mod frame_kind;
pub mod handoff;
pub mod hls;
pub mod hooks;
pub mod http;
pub mod http_flv;
pub mod hub;
pub mod merge_clock;
pub mod metrics;
pub mod playback;
pub mod published;
pub mod refusals;
pub mod role;
pub mod rtmp_codecs;
pub mod rtmp_conn;
pub mod rtmp_input;
pub mod settings;
pub mod vectored;
