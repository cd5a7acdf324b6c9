//! The runtime: executes a [`crate::compile::plan::Plan`] as supervised role processes. Never reads KDL.

pub mod control;
pub mod role;
pub mod shell;
