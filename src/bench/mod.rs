//! Load generators: one process holding thousands of players, for `scripts/bench-*`.

pub mod play;
