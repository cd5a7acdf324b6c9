//! oryx on the namespaced hosts of `netns.rs`: the three-host topology the netns tests draw,
//! `oryx up FILE --host NAME` inside a host, and the rtmp-lb's backend list asked inside the LB's
//! host (its control API is on that host's loopback).

use super::cluster::{oryx_bin, Proc};
use super::control::{cluster_bearer, CLUSTER_ENV, CLUSTER_SECRET};
use super::netns::Hosts;
use oryx::compile::plan::Plan;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The hosts of [`topology`]: `lb-1` for the LBs, `media-1` and `media-2` for workers.
pub const HOSTS: [&str; 3] = ["lb-1", "media-1", "media-2"];

/// A topology over [`HOSTS`] (made by `Hosts::new(&HOSTS)`): the hosts at their addresses, the
/// cluster secret, 1 s HLS fragments in a window of 4, then `workers`, then the rtmp-lb (:1935)
/// and the http-lb (:8080) on lb-1.
pub fn topology(hosts: &Hosts, workers: &str) -> String {
    let (lb, m1, m2) = (
        hosts.host("lb-1").address,
        hosts.host("media-1").address,
        hosts.host("media-2").address,
    );
    format!(
        r#"oryx 1
host "lb-1" address="{lb}"
host "media-1" address="{m1}"
host "media-2" address="{m2}"
secret env="{CLUSTER_ENV}"
defaults {{
    hls fragment="1s" window=4
}}
{workers}
rtmp-lb listen="{lb}:1935" host="lb-1"
http-lb listen="{lb}:8080" host="lb-1"
"#
    )
}

/// `text` written to `DIR/NAME` and compiled: the file and its plan.
pub fn write_topology(dir: &Path, name: &str, text: &str) -> (PathBuf, Plan) {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let plan = oryx::compile::compile_path(&file, None).expect("valid topology");
    (file, plan)
}

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
