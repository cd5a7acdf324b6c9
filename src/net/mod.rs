//! Role-independent plumbing every role shares (worker, LBs, static sites, shell): listeners and
//! open-files limits, the public HTTP accept loop with its connection cap and write deadline, the
//! control API and its secret, the LB↔worker wire formats (socket handoff, published streams), the
//! outgoing HTTPS client, a listen address as this host dials it, the TLS crypto provider, the TLS listeners' certificates (files by SNI,
//! self-signed, ACME) and their status, and shutdown.

pub mod acme;
pub mod conn_cap;
pub mod control;
pub mod control_client;
pub mod control_secret;
pub mod forwarded;
pub mod handoff;
pub mod http_serve;
pub mod https_client;
pub mod limits;
pub mod log_every;
pub mod log_text;
pub mod pod;
pub mod port_owner;
pub mod published;
pub mod reachable;
pub mod rtmp_conn;
pub mod shutdown;
pub mod supervisor;
pub mod tls_provider;
pub mod tls_server;
pub mod tls_status;
pub mod write_deadline;
