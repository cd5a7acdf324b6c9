//! Helpers shared by every integration test binary, one job per file. The names most worker tests
//! use are re-exported here; the other tests import the submodule they need.
#![allow(dead_code, unused_imports)]

/// Says why a test cannot run here, on the process's own stderr: libtest captures a passing
/// test's `println!`, and a skip must never be silent (`scripts/run-tests` lists every one).
#[macro_export]
macro_rules! skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // One write: stderr is unbuffered, and libtest's own lines must not land inside ours.
        let line = format!("skipped: {}\n", format_args!($($arg)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}

pub mod cdp;
pub mod chromium;
pub mod cli;
pub mod cluster;
pub mod control;
pub mod ffmpeg9;
pub mod fuzz;
pub mod hook_server;
pub mod hosts;
pub mod http;
pub mod media;
pub mod net;
pub mod netns;
pub mod netns_oryx;
pub mod nginx_rtmp;
pub mod pebble;
pub mod private_ca;
pub mod process;
pub mod raw_rtmp;
pub mod srt;
pub mod static_role;
pub mod wait;
pub mod webrtc;
pub mod whep_client;
pub mod worker;

pub use http::http_get;
pub use media::{make_media, probe_codecs, publish};
pub use net::{free_addr, free_port};
pub use process::ChildGuard;
pub use wait::wait_until;
pub use worker::{settings, start_worker, TestClient, Worker};
