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

    /// Does `oryx up --host host` run the role `label`? Without `--host` every role runs; a
    /// Kubernetes pod name (`worker-edge-3`, `rtmp-lb`, `static-site`: [`Plan::pod_role`]) that is
    /// not a declared host runs its one role.
    pub fn runs_on(&self, label: &str, host: Option<&str>) -> bool {
        match host {
            None => true,
            Some(host) if self.host(host).is_none() => {
                self.pod_role(host).as_deref() == Some(label)
            }
            Some(host) => self.host_of(label).as_deref() == Some(host),
        }
    }

    /// The role a pod of `--emit kubernetes` runs, by the pod's name (docs/kubernetes.md "Hosts
    /// become pods"): `worker-GROUP-N` is the group's N-th instance (a StatefulSet's pods count
    /// from 0, so a group of one is `worker-GROUP-0`), a Deployment's pod is named after it
    /// (`rtmp-lb`, `static-NAME`, `ingest-NAME`; `ORYX_HOST` gives the Deployment's name).
    pub fn pod_role(&self, pod: &str) -> Option<String> {
        use super::emit::kubernetes::dns_name;
        if let Some(worker) = self
            .workers
            .iter()
            .find(|w| self.worker_pod(&w.name).as_deref() == Some(pod))
        {
            return Some(format!("worker/{}", worker.name));
        }
        let lbs = [
            ("rtmp-lb", self.rtmp_lb.is_some()),
            ("http-lb", self.http_lb.is_some()),
            ("api-lb", self.api_lb.is_some()),
            ("srt-lb", self.srt_lb.is_some()),
        ];
        if let Some((lb, _)) = lbs.iter().find(|(lb, present)| *present && *lb == pod) {
            return Some(lb.to_string());
        }
        let statics = self.statics.iter().map(|s| ("static", &s.name));
        let ingests = self.ingests.iter().map(|i| ("ingest", &i.name));
        statics
            .chain(ingests)
            .find(|(kind, name)| pod == dns_name(&format!("{kind}-{name}")))
            .map(|(kind, name)| format!("{kind}/{name}"))
    }

    /// The pod name of worker instance `name`: `worker-GROUP-N`, N its place in its group.
    pub fn worker_pod(&self, name: &str) -> Option<String> {
        let worker = self.worker(name)?;
        let n = self
            .workers
            .iter()
            .filter(|w| w.group == worker.group)
            .position(|w| w.name == name)?;
        let set = super::emit::kubernetes::dns_name(&format!("worker-{}", worker.group));
        Some(format!("{set}-{n}"))
    }

    /// Where peers reach `worker`'s port `port` when it runs as a pod: its stable DNS name under
    /// its group's headless Service, `worker-GROUP-N.worker-GROUP:PORT`.
    pub fn pod_address(&self, worker: &str, port: u16) -> Option<String> {
        let pod = self.worker_pod(worker)?;
        let service = pod.rsplit_once('-').map(|(service, _)| service)?;
        Some(format!("{pod}.{service}:{port}"))
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

#[cfg(test)]
mod tests {
    #[test]
    fn pod_names_map_to_roles_and_workers_to_their_service_names() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/configs/multi-host.kdl");
        let plan = crate::compile::compile_path(&path, None).expect("the example compiles");
        let role = |pod: &str| plan.pod_role(pod);
        assert_eq!(role("worker-origin-0").as_deref(), Some("worker/origin"));
        assert_eq!(role("worker-edge-3").as_deref(), Some("worker/edge-3"));
        assert_eq!(role("rtmp-lb").as_deref(), Some("rtmp-lb"));
        assert_eq!(role("api-lb").as_deref(), Some("api-lb"));
        for unknown in ["worker-edge-4", "srt-lb", "worker-origin", "media-1"] {
            assert_eq!(role(unknown), None, "{unknown}");
        }
        // A pod runs its role and only it; a declared host keeps its meaning.
        assert!(plan.runs_on("worker/edge-3", Some("worker-edge-3")));
        assert!(!plan.runs_on("worker/edge-1", Some("worker-edge-3")));
        assert!(plan.runs_on("worker/edge-1", Some("media-2")));
        assert_eq!(
            plan.pod_address("edge-3", 19350).as_deref(),
            Some("worker-edge-3.worker-edge:19350")
        );
        assert_eq!(
            plan.pod_address("origin", 19351).as_deref(),
            Some("worker-origin-0.worker-origin:19351")
        );
    }
}
