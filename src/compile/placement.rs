//! Where each role of a plan runs: its host, by the role names of [`Plan::diff`] (`worker/edge-0`,
//! `rtmp-lb`, `static/site`, `ingest/NAME`). `oryx plan` shows it, `oryx up --host` starts only the
//! roles placed on its host, and the emitters map hosts onto machines or pods.

use super::plan::{HostPlan, Plan};
use std::fmt::Write as _;

impl Plan {
    /// Every role (not the shell) with the host it runs on; `None` without hosts.
    pub fn role_hosts(&self) -> Vec<(String, Option<String>)> {
        self.roles()
            .into_iter()
            .filter(|(label, _)| label != "shell")
            .map(|(label, value)| {
                let host = value
                    .get("host")
                    .and_then(|h| h.as_str())
                    .map(str::to_string);
                (label, host)
            })
            .collect()
    }

    /// The host the role `label` runs on.
    pub fn host_of(&self, label: &str) -> Option<String> {
        self.role_hosts()
            .into_iter()
            .find(|(l, _)| l == label)
            .and_then(|(_, host)| host)
    }

    pub fn host(&self, name: &str) -> Option<&HostPlan> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Does `oryx up --host host` run the role `label`? Without `--host` every role runs.
    pub fn runs_on(&self, label: &str, host: Option<&str>) -> bool {
        match host {
            None => true,
            Some(host) => self.host_of(label).as_deref() == Some(host),
        }
    }
}

/// The `hosts` block of `oryx plan`: each host, its address and the roles placed on it. Empty
/// without hosts.
pub fn placement_text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.hosts.is_empty() {
        return out;
    }
    let roles = plan.role_hosts();
    let _ = writeln!(out, "hosts ({})", plan.hosts.len());
    for host in &plan.hosts {
        let placed: Vec<&str> = roles
            .iter()
            .filter(|(_, h)| h.as_deref() == Some(host.name.as_str()))
            .map(|(label, _)| label.as_str())
            .collect();
        let _ = writeln!(out, "  {} {}", host.name, host.address);
        let _ = writeln!(
            out,
            "    runs      {}",
            if placed.is_empty() {
                "nothing".to_string()
            } else {
                placed.join(", ")
            }
        );
    }
    let secret = match &plan.secret {
        Some(super::plan::SecretSource::Env(name)) => format!("from env {name}"),
        Some(super::plan::SecretSource::File(path)) => format!("from file {path}"),
        None => "none".into(),
    };
    let _ = writeln!(out, "  secret    {secret}");
    out
}
