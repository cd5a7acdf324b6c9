//! Graceful stop for roles: wait for SIGTERM/SIGINT, then stop accepting and drain for a bounded time.
//!
//! The shell sends SIGTERM and escalates to SIGKILL after its own grace period, so a role's drain must
//! end well before that: [`DRAIN_TIMEOUT`] is what in-flight requests get to finish.

use std::future::Future;
use std::time::Duration;

/// How long a stopping role waits for in-flight work (below the shell's 5 s grace).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Resolves when the process is asked to stop (SIGTERM or SIGINT).
pub async fn requested() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Wait for `work` (the in-flight connections finishing) at most [`DRAIN_TIMEOUT`]; says which.
pub async fn drain(role: &str, work: impl Future<Output = ()>) {
    match tokio::time::timeout(DRAIN_TIMEOUT, work).await {
        Ok(()) => tracing::info!(role, "drained"),
        Err(_) => tracing::info!(role, "drain window over, closing the rest"),
    }
}

/// Accepts connections until the process is asked to stop.
pub struct Acceptor {
    listener: tokio::net::TcpListener,
    stop: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Acceptor {
    pub fn new(listener: tokio::net::TcpListener) -> Acceptor {
        Acceptor {
            listener,
            stop: Box::pin(requested()),
        }
    }

    /// The next connection, or `None` once SIGTERM/SIGINT arrived (the listener then closes when the
    /// acceptor is dropped). Accept errors (out of descriptors and the like) back off briefly instead
    /// of spinning.
    pub async fn next(&mut self) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => return Some(accepted),
                    Err(err) => {
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = &mut self.stop => return None,
            }
        }
    }
}
