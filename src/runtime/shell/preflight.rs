//! What `oryx up` makes sure of before it starts anything: one `up` per run directory, and every
//! public listener of the plan can be bound — so a taken port is one clear error naming the role,
//! not a banner followed by a role that restarts forever.

use crate::compile::plan::Plan;
use anyhow::Context;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The held lock on `RUN_DIR/lock`; released when dropped (or when the process dies, whatever way).
pub struct RunLock {
    _file: std::fs::File,
}

/// Take `RUN_DIR/lock`, or say which `oryx up` holds it.
pub fn lock_run_dir(run_dir: &Path) -> anyhow::Result<RunLock> {
    let path = run_dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // flock, not a pid file: the kernel drops it with the process, so a crashed shell never leaves
    // a stale lock behind.
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder = std::fs::read_to_string(run_dir.join(super::run_dir::SHELL_FILE))
            .ok()
            .and_then(|text| serde_json::from_str::<super::run_dir::ShellFile>(&text).ok())
            .map(|shell| format!(" (pid {})", shell.pid))
            .unwrap_or_default();
        anyhow::bail!(
            "another `oryx up`{holder} is running with the run directory {}; stop it, or give \
             this one another --run-dir",
            run_dir.display()
        );
    }
    Ok(RunLock { _file: file })
}

/// Every public listener of `plan` as (role, address).
pub fn public_listeners(plan: &Plan) -> Vec<(String, SocketAddr)> {
    let mut out = Vec::new();
    for (role, lb) in [
        ("rtmp-lb", &plan.rtmp_lb),
        ("http-lb", &plan.http_lb),
        ("api-lb", &plan.api_lb),
    ] {
        if let Some(lb) = lb {
            out.push((role.to_string(), lb.listen));
        }
    }
    for site in &plan.statics {
        let role = format!("static/{}", site.name);
        out.extend(site.listen.map(|addr| (role.clone(), addr)));
        out.extend(site.tls.as_ref().map(|tls| (role.clone(), tls.listen)));
    }
    out
}

/// Bind and release each public listener; every one that cannot be bound is named in one error.
/// With `--host`, only the listeners of roles placed on that host.
pub fn check_public_listeners(plan: &Plan, host: Option<&str>) -> anyhow::Result<()> {
    let failures: Vec<String> = public_listeners(plan)
        .into_iter()
        .filter(|(role, _)| plan.runs_on(role, host))
        .filter_map(|(role, addr)| {
            // std sets SO_REUSEADDR like the roles do, so this probe never blocks their bind.
            std::net::TcpListener::bind(addr)
                .err()
                .map(|err| format!("{role} cannot listen on {addr}: {err}"))
        })
        .chain(plan.srt_lb.as_ref().and_then(|lb| {
            // The srt-lb's port is UDP.
            std::net::UdpSocket::bind(lb.listen)
                .err()
                .map(|err| format!("srt-lb cannot listen on udp {}: {err}", lb.listen))
        }))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", failures.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_run_dir(dir.path()).unwrap();
        let err = lock_run_dir(dir.path()).err().unwrap().to_string();
        assert!(err.contains("another `oryx up`"), "{err}");
        drop(first);
        lock_run_dir(dir.path()).unwrap();
    }

    #[test]
    fn a_taken_public_port_names_its_role() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let text = format!("oryx 1\nworker \"a\"\nhttp-lb listen=\"127.0.0.1:{port}\"\n");
        let compilation = crate::compile::compile(
            "t.kdl",
            &text,
            &crate::compile::Options::for_file("t.kdl", None),
        );
        let plan = compilation.plan.unwrap();
        let err = check_public_listeners(&plan, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("http-lb cannot listen on 127.0.0.1:{port}")),
            "{err}"
        );
    }
}
