//! The LB tests still say `mod up_support` (another engineer is changing them right now): this points
//! them at the shared cluster helpers in `tests/common`. Delete it once they say `mod common`.

#[path = "../common/mod.rs"]
mod common;

pub use common::cluster::*;
