//! The runtime: executes a [`crate::compile::plan::Plan`] as supervised role processes. Never reads KDL.

pub mod api_access;
pub mod api_lb;
pub mod backends;
pub mod conn_cap;
pub mod control;
pub mod external;
pub mod fuzzing;
pub mod handoff;
pub mod http_lb;
pub mod http_serve;
pub mod https_client;
pub mod lb_start;
pub mod limits;
pub mod logging;
pub mod metrics_merge;
pub mod preflight;
pub mod published;
pub mod reload;
pub mod role;
pub mod rtmp_lb;
pub mod shell;
pub mod shutdown;
pub mod static_site;
pub mod supervisor;
