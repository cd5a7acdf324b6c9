//! RTMP, sans-IO: handshake, chunk stream codec, AMF0, messages and session state machines.
