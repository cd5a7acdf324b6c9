//! Process limits every role sets at start: the open-files soft limit raised to the hard one, listen
//! backlogs that follow `net.core.somaxconn`, and the connection caps derived from the open-files
//! limit so a listener never runs its process out of descriptors.

use crate::compile::plan::Plan;
use std::io;
use std::net::SocketAddr;

/// Descriptors kept out of every connection cap: the control API, the LBs' polls of their workers,
/// log files, HLS files, the runtime's own.
const RESERVED_FDS: u64 = 128;

/// Raise the soft `RLIMIT_NOFILE` to the hard limit; returns the (soft, hard) limits in force after.
/// The common soft limit of 1 024 is far below what a streaming server holds (a thousand players);
/// the hard limit is what the administrator allows, so taking all of it needs no privilege.
pub fn raise_nofile() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (1024, 1024);
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// The open-files (soft, hard) limits in force now.
pub fn nofile() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// The kernel's cap on listen backlogs (`/proc/sys/net/core/somaxconn`; 4096 since Linux 5.4).
pub fn somaxconn() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .filter(|n: &i32| *n > 0)
        .unwrap_or(4096)
}

/// Bind a TCP listener with the backlog `somaxconn` allows (tokio and std ask for 128, which drops
/// SYNs in a burst of players long before the server is busy). Must run inside a tokio runtime.
/// In a pod, a role's own listeners bind all addresses ([`super::pod::listen_addr`]).
pub fn bind(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let addr = super::pod::listen_addr(addr);
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // As std and tokio do: a restarted role rebinds at once despite TIME_WAIT connections.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(somaxconn())?;
    socket.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// How many connections one listener may hold when each costs `fds_per_connection` descriptors
/// (2 for a proxy: the client and its upstream) and the process may open `soft_nofile`.
pub fn connection_cap(soft_nofile: u64, fds_per_connection: u64) -> usize {
    let usable = soft_nofile.saturating_sub(RESERVED_FDS);
    (usable / fds_per_connection.max(1)).max(16) as usize
}

/// The connection cap of a listener in this process now (see [`connection_cap`]).
pub fn current_connection_cap(fds_per_connection: u64) -> usize {
    connection_cap(nofile().0, fds_per_connection)
}

/// The open-files limit the busiest role of `plan` needs: a worker holds up to `max-connections`
/// clients (0 = unlimited counts as nothing to check), plus the reserve.
pub fn nofile_needed(plan: &Plan) -> Option<u64> {
    plan.workers
        .iter()
        .map(|w| u64::from(w.stream.max_connections))
        .filter(|n| *n > 0)
        .max()
        .map(|n| n + RESERVED_FDS)
}

/// A warning when the hard open-files limit `hard` is below what `plan`'s `max-connections` needs.
pub fn nofile_warning(plan: &Plan, hard: u64) -> Option<String> {
    let needed = nofile_needed(plan)?;
    (hard < needed).then(|| {
        format!(
            "the open-files hard limit is {hard}, below the {needed} that max-connections needs: \
             a worker will refuse clients early or run out of descriptors; raise it \
             (`ulimit -Hn`, systemd LimitNOFILE=, /etc/security/limits.conf)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_leave_a_reserve_and_count_descriptors_per_connection() {
        assert_eq!(connection_cap(1024, 1), 896);
        assert_eq!(connection_cap(1024, 2), 448);
        assert_eq!(connection_cap(10, 2), 16);
    }

    #[test]
    fn raising_takes_the_hard_limit() {
        let (soft, hard) = raise_nofile();
        assert_eq!(soft, hard);
        assert_eq!(nofile(), (soft, hard));
    }

    #[tokio::test]
    async fn listeners_get_the_somaxconn_backlog_and_accept() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(somaxconn() > 0);
    }
}
