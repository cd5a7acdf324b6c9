//! The runtime: executes a [`crate::compile::plan::Plan`] as supervised role processes. Never reads KDL.

pub mod api_lb;
pub mod backends;
pub mod control;
pub mod control_client;
pub mod control_secret;
pub mod external;
pub mod handoff;
pub mod http_lb;
pub mod lb_start;
pub mod logging;
pub mod port_owner;
pub mod published;
pub mod role;
pub mod rtmp_lb;
pub mod shell;
pub mod shutdown;
pub mod static_site;
pub mod supervisor;
