//! oryx: a live-streaming gateway compiled from a declarative KDL topology.
//!
//! The pipeline (see `docs/DESIGN.md`): [`compile`] turns a topology file into a typed, validated
//! [`compile::plan::Plan`]; [`runtime`] executes a plan as supervised role processes; [`rtmp`] and
//! [`media`] are the sans-IO protocol and container code the [`worker`] and the load balancers use;
//! [`stream_name`] is the one stream identity they all name streams with.

pub mod bench;
pub mod cli;
pub mod compile;
pub mod media;
pub mod memory_budget;
pub mod net;
pub mod proxy_protocol;
pub mod route;
pub mod rtmp;
pub mod runtime;
pub mod srt;
pub mod stream_name;
pub mod webrtc;
pub mod worker;
