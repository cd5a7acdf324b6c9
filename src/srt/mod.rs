//! SRT, sans-IO: the handshake control packets a relay reads and answers ([`handshake`]), the
//! stateless SYN cookies it answers inductions with ([`cookie`]), and the stream id conventions
//! that name a stream and a direction ([`stream_id`]).

pub mod cookie;
pub mod fuzzing;
pub mod handshake;
pub mod stream_id;
