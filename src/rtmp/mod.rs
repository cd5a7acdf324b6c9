//! RTMP, sans-IO: handshake, chunk stream codec, AMF0, messages and session state machines.
//!
//! Nothing here opens a socket: sessions take received bytes and hand back bytes to send and events,
//! so the worker, the RTMP load balancer and the load generator drive the same code, and the fuzz
//! targets exercise it without I/O.

pub mod amf0;
pub mod chunk;
pub mod client;
pub mod enhanced;
pub mod fuzzing;
pub mod handshake;
pub mod link;
pub mod message;
pub mod server;
