//! The runtime: runs a [`crate::compile::plan::Plan`] as supervised role processes: the shell (which
//! compiles the topology through [`crate::compile`] at start and on reload), the load balancers and the
//! static sites and the ingests; it dispatches a worker role into [`crate::worker`]. It never parses KDL itself.

pub mod api_access;
pub mod api_lb;
pub mod backends;
pub mod console;
pub mod external;
pub mod fuzzing;
pub mod http_lb;
pub mod ingest;
pub mod lb_start;
pub mod logging;
pub mod metrics_merge;
pub mod peer_digest;
pub mod role;
pub mod rtmp_lb;
pub mod rtmps;
pub mod shell;
pub mod srt_lb;
pub mod static_site;
