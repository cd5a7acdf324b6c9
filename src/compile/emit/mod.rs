//! Emitters: the plan for an orchestrator (`oryx plan FILE --emit kubernetes`), written from the
//! plan alone, deterministically. `yaml.rs` is the writer they share.

pub mod kubernetes;
mod yaml;
