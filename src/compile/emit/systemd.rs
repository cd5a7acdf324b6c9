//! `oryx plan FILE --emit systemd`: one unit per host, `oryx-HOST.service` running `oryx up
//! TOPOLOGY --host HOST`, so each machine runs the roles placed on it under one supervisor (the
//! shell restarts its roles; systemd restarts the shell). One unit per host rather than per role:
//! the shell already supervises, drains front first and reloads as a diff, which per-role units
//! would have to re-implement with ordering dependencies. Without hosts: one `oryx.service`.
//! Deterministic: the topology is installed at one fixed path on every host (docs/systemd.md).

use super::super::plan::{Plan, SecretSource};
use std::fmt::Write as _;

/// Where every host keeps the topology file (the same bytes on each: the same digest).
pub const TOPOLOGY: &str = "/etc/oryx/topology.kdl";
/// The binary the units run.
pub const BINARY: &str = "/usr/local/bin/oryx";
/// Optional environment file of every unit: `ORYX_CLUSTER_SECRET=…` for `secret env=…`.
pub const ENV_FILE: &str = "/etc/oryx/oryx.env";

/// Every unit as `(file name, text)`, hosts in file order.
pub fn units(plan: &Plan, env: Option<&str>) -> Vec<(String, String)> {
    if plan.hosts.is_empty() {
        return vec![("oryx.service".into(), unit(plan, None, env))];
    }
    plan.hosts
        .iter()
        .map(|host| {
            let name = format!("oryx-{}.service", unit_name(&host.name));
            (name, unit(plan, Some(&host.name), env))
        })
        .collect()
}

/// The units as one text: each after a `# file: NAME` line (split them at those lines).
pub fn text(plan: &Plan, env: Option<&str>) -> String {
    let mut out = String::new();
    for (i, (name, unit)) in units(plan, env).iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "# file: {name}");
        out.push_str(unit);
    }
    out
}

/// A host name as a unit name: systemd escapes other characters, we keep it plain.
fn unit_name(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn unit(plan: &Plan, host: Option<&str>, env: Option<&str>) -> String {
    let runs: Vec<String> = plan
        .role_hosts()
        .into_iter()
        .filter(|(_, h)| host.is_none() || h.as_deref() == host)
        .map(|(label, _)| label)
        .collect();
    let (description, run_dir) = match host {
        Some(host) => (
            format!("oryx host {host}"),
            format!("oryx-{}", unit_name(host)),
        ),
        None => ("oryx".to_string(), "oryx".to_string()),
    };
    let mut exec = format!("{BINARY} up {TOPOLOGY} --run-dir /run/{run_dir}");
    if let Some(host) = host {
        let _ = write!(exec, " --host {host}");
    }
    if let Some(env) = env {
        let _ = write!(exec, " --env {env}");
    }
    let mut out = String::new();
    let _ = writeln!(out, "[Unit]");
    let _ = writeln!(out, "Description={description}: {}", runs.join(", "));
    let _ = writeln!(out, "Wants=network-online.target");
    let _ = writeln!(out, "After=network-online.target");
    let _ = writeln!(out);
    let _ = writeln!(out, "[Service]");
    let _ = writeln!(out, "Type=simple");
    match &plan.secret {
        Some(SecretSource::Env(var)) => {
            let _ = writeln!(out, "# {var}=… in this file, the same on every host");
            let _ = writeln!(out, "EnvironmentFile={ENV_FILE}");
        }
        Some(SecretSource::File(path)) => {
            let _ = writeln!(
                out,
                "# the cluster secret is read from {path}, the same on every host"
            );
            let _ = writeln!(out, "EnvironmentFile=-{ENV_FILE}");
        }
        None => {
            let _ = writeln!(out, "EnvironmentFile=-{ENV_FILE}");
        }
    }
    let _ = writeln!(out, "ExecStart={exec}");
    // SIGHUP is the shell's reload: it re-compiles the file and applies the diff.
    let _ = writeln!(out, "ExecReload=/bin/kill -HUP $MAINPID");
    let _ = writeln!(out, "RuntimeDirectory={run_dir}");
    let _ = writeln!(out, "RuntimeDirectoryMode=0700");
    // The shell stops its roles front first, each draining at most 3 s inside its 5 s grace;
    // only then may systemd kill what is left of the group.
    let _ = writeln!(out, "KillMode=mixed");
    let _ = writeln!(out, "TimeoutStopSec=15");
    let _ = writeln!(out, "Restart=on-failure");
    let _ = writeln!(out, "RestartSec=2");
    let _ = writeln!(out, "LimitNOFILE=1048576");
    let _ = writeln!(out);
    let _ = writeln!(out, "[Install]");
    let _ = writeln!(out, "WantedBy=multi-user.target");
    out
}
