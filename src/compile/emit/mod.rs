//! Emitters: the plan for an orchestrator (`oryx plan FILE --emit kubernetes|systemd`), written
//! from the plan alone, deterministically. `yaml.rs` is the writer the manifests use.

pub mod kubernetes;
pub mod systemd;
mod yaml;
