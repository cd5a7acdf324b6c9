//! Fuzz a whole server session (handshake, chunks, commands) after a valid handshake.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    oryx::rtmp::fuzzing::server_session(data);
});
