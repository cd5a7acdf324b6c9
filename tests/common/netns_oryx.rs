//! oryx on the namespaced hosts of `netns.rs`: `oryx up FILE --host NAME` inside a host, and the
//! rtmp-lb's backend list asked inside the LB's host (its control API is on that host's loopback).

use super::cluster::{oryx_bin, Proc};
use super::control::{cluster_bearer, CLUSTER_ENV, CLUSTER_SECRET};
use super::netns::Hosts;
use std::net::SocketAddr;
use std::path::Path;

/// `oryx up FILE --host NAME` inside that host's namespace, with the cluster secret and `env`.
pub fn up(hosts: &Hosts, name: &str, file: &Path, dir: &Path, env: &[(&str, &str)]) -> Proc {
    let mut command = hosts.host(name).command(&oryx_bin());
    command
        .arg("up")
        .arg(file)
        .args(["--host", name, "--run-dir"])
        .arg(dir.join(format!("run-{name}")))
        .env(CLUSTER_ENV, CLUSTER_SECRET)
        .envs(env.iter().copied())
        .env_remove("ORYX_CONTROL_SECRET")
        .env("RUST_LOG", "info");
    Proc::spawn(command, dir.join(format!("{name}.log")))
}

/// The `/api/v1/backends` list of the LB whose control port is `control`, asked inside `lb_host`.
pub fn backends(hosts: &Hosts, lb_host: &str, control: SocketAddr) -> Option<serde_json::Value> {
    let out = hosts
        .host(lb_host)
        .command(Path::new("curl"))
        .args(["-sf", "--max-time", "3", "-H"])
        .arg(format!("Authorization: {}", cluster_bearer()))
        .arg(format!("http://{control}/api/v1/backends"))
        .output()
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(value["backends"].clone())
}

/// The entry of worker `name` in a backend list (`null` when absent).
pub fn entry(list: &serde_json::Value, name: &str) -> serde_json::Value {
    list.as_array()
        .into_iter()
        .flatten()
        .find(|b| b["name"] == name)
        .cloned()
        .unwrap_or_default()
}
