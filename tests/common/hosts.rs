//! Multi-host topologies on one machine: hosts on loopback addresses (127.0.0.2, 127.0.0.3 …, all
//! of 127/8 answers on Linux), `oryx up --host NAME` per host, and a role started by hand from the
//! plan with nothing but the cluster secret.

use super::cluster::{free_addr, free_port_run, oryx_bin, Proc};
use super::control::{CLUSTER_ENV, CLUSTER_SECRET};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `lb` (127.0.0.2) runs an http-lb and an rtmp-lb, `media` (127.0.0.3) the worker `live`; the
/// cluster secret comes from `ORYX_CLUSTER_SECRET`. `extra` is appended (a `defaults` block makes
/// another plan with the same addresses). Returns the file.
pub fn two_hosts(dir: &Path, name: &str, base: u16, lb_ports: (u16, u16), extra: &str) -> PathBuf {
    let kdl = dir.join(name);
    let (http, rtmp) = lb_ports;
    std::fs::write(
        &kdl,
        format!(
            "oryx 1\nports from={base} to={to}\nhost \"lb\" address=\"127.0.0.2\"\nhost \"media\" address=\"127.0.0.3\"\nsecret env=\"{CLUSTER_ENV}\"\nworker \"live\" host=\"media\"\nhttp-lb listen=\"127.0.0.2:{http}\" host=\"lb\"\nrtmp-lb listen=\"127.0.0.2:{rtmp}\" host=\"lb\"\n{extra}",
            to = base + 19
        ),
    )
    .unwrap();
    kdl
}

/// A pool base and LB ports nobody uses now.
pub fn ports() -> (u16, (u16, u16)) {
    (free_port_run(20), (free_addr().port(), free_addr().port()))
}

/// `oryx role KIND NAME --plan FILE` with the cluster secret and no `ORYX_CONTROL_SECRET`: the
/// role derives its control secret itself, as on a host of its own.
pub fn role_with_cluster_secret(kind: &str, name: &str, plan_json: &Path, log: PathBuf) -> Proc {
    let mut command = Command::new(oryx_bin());
    command
        .args(["role", kind, name, "--plan"])
        .arg(plan_json)
        .env_remove("ORYX_CONTROL_SECRET")
        .env(CLUSTER_ENV, CLUSTER_SECRET)
        .env("RUST_LOG", "info");
    Proc::spawn(command, log)
}

/// The plan of `kdl` as the JSON `oryx role` reads.
pub fn plan_json(kdl: &Path, out: &Path) -> oryx::compile::plan::Plan {
    let plan = oryx::compile::compile_path(kdl, None).expect("valid topology");
    super::cluster::write_plan(out, &plan);
    plan
}

/// `/readyz` of a control API answers 200.
pub fn ready(control: SocketAddr) -> bool {
    matches!(super::http::http(control, "GET", "/readyz"), Ok((200, _)))
}
