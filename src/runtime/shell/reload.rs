//! Reload without drops: what a new plan changes per role ([`reload_steps`], from [`Plan::diff`]),
//! the settings push that applies a `hot` worker change in place ([`push_settings`]), and the
//! report the shell returns and `oryx reload` prints, one line per role in the order it was done.
//!
//! The shell (`shell/apply.rs`) runs the steps: hot changes are pushed, then roles that must restart
//! do so one at a time, each after the previous one is ready, so a group of workers never goes down
//! at once.

use super::roles::{role_defs, RoleDef};
use crate::compile::diff::{ChangeClass, ChangeKind, RoleChange};
use crate::compile::plan::{Plan, WorkerPlan};
use crate::net::control_client::http_call;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a worker may take to answer a settings push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// What the shell did to one role during a reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleOutcome {
    /// `worker/live-0`, `rtmp-lb` …
    pub role: String,
    /// `started`, `restarted`, `updated` (in place), `stopped`.
    pub action: String,
    /// The `oryx plan --diff` class of the change.
    pub class: String,
    /// The changed fields (dotted paths of `oryx plan --diff`).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Why the action differs from the class (a settings push refused, so the worker restarted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The outcome of one reload, as the control API and `oryx reload` report it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReloadReport {
    pub ok: bool,
    pub digest: String,
    /// Compile errors (the running plan was kept), or a problem applying the plan.
    pub error: Option<String>,
    pub started: Vec<String>,
    pub restarted: Vec<String>,
    /// Running roles given new settings in place (an LB's worker set, a worker's stream settings).
    pub updated: Vec<String>,
    pub stopped: Vec<String>,
    pub unchanged: Vec<String>,
    /// Every action in the order it was taken.
    #[serde(default)]
    pub roles: Vec<RoleOutcome>,
}

/// What `oryx reload --dry-run` shows: the `oryx plan --diff` of the running plan against the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DryRunReport {
    pub ok: bool,
    /// Compile errors: a reload now would be refused.
    pub error: Option<String>,
    pub old_digest: String,
    pub new_digest: String,
    pub changes: Vec<RoleChange>,
}

impl DryRunReport {
    pub fn new(old: &Plan, new: &Plan) -> DryRunReport {
        DryRunReport {
            ok: true,
            error: None,
            old_digest: old.digest(),
            new_digest: new.digest(),
            changes: old.diff(new),
        }
    }
}

/// Which roles to start, restart, stop, update in place or leave alone to go from `old` to `new`,
/// from [`Plan::diff`]: a change classed `hot` (an LB's worker set, an embedded worker's stream
/// settings) is pushed to the running role.
#[derive(Debug, Default, PartialEq)]
pub struct ReloadSteps {
    pub added: Vec<RoleDef>,
    pub restarted: Vec<RoleDef>,
    pub hot: Vec<RoleDef>,
    pub removed: Vec<RoleDef>,
    pub unchanged: Vec<RoleDef>,
    /// The diff the steps come from (classes and fields for the report).
    pub changes: Vec<RoleChange>,
}

impl ReloadSteps {
    /// The steps for the shell of `oryx up --host HOST`: roles placed elsewhere are left alone, a
    /// role that moves here starts and one that moves away stops.
    pub fn on_host(mut self, old: &Plan, new: &Plan, host: Option<&str>) -> ReloadSteps {
        if host.is_none() {
            return self;
        }
        let (mut arriving, mut leaving) = (Vec::new(), Vec::new());
        for list in [&mut self.hot, &mut self.restarted, &mut self.unchanged] {
            let (here, elsewhere): (Vec<RoleDef>, Vec<RoleDef>) = std::mem::take(list)
                .into_iter()
                .partition(|d| new.runs_on(&d.label, host));
            leaving.extend(
                elsewhere
                    .into_iter()
                    .filter(|d| old.runs_on(&d.label, host)),
            );
            let (stayed, arrived): (Vec<RoleDef>, Vec<RoleDef>) =
                here.into_iter().partition(|d| old.runs_on(&d.label, host));
            arriving.extend(arrived);
            *list = stayed;
        }
        self.added.retain(|d| new.runs_on(&d.label, host));
        self.added.extend(arriving);
        self.removed.retain(|d| old.runs_on(&d.label, host));
        self.removed.extend(leaving);
        self
    }

    /// An outcome line for `role`, with its class and fields from the diff.
    pub fn outcome(&self, role: &str, action: &str) -> RoleOutcome {
        let change = self.changes.iter().find(|c| c.role == role);
        RoleOutcome {
            role: role.to_string(),
            action: action.to_string(),
            class: change.map_or("hot", |c| c.class.as_str()).to_string(),
            fields: change
                .map(|c| c.fields.iter().map(|f| f.path.clone()).collect())
                .unwrap_or_default(),
            note: None,
        }
    }
}

pub fn reload_steps(old: &Plan, new: &Plan) -> ReloadSteps {
    let changes = old.diff(new);
    let old_defs = role_defs(old);
    let mut steps = ReloadSteps::default();
    for def in role_defs(new) {
        match changes.iter().find(|c| c.role == def.label) {
            None => steps.unchanged.push(def),
            Some(c) if c.kind == ChangeKind::Added => steps.added.push(def),
            Some(c) if c.class == ChangeClass::Hot => steps.hot.push(def),
            Some(_) => steps.restarted.push(def),
        }
    }
    for change in changes.iter().filter(|c| c.kind == ChangeKind::Removed) {
        if let Some(def) = old_defs.iter().find(|d| d.label == change.role) {
            steps.removed.push(def.clone());
        }
    }
    steps.changes = changes;
    steps
}

/// Give a running embedded worker its new plan entry (`PUT /settings` on its control port); the
/// worker checks that only settings it can take changed. `Err` says why it did not take them.
pub async fn push_settings(worker: &WorkerPlan, digest: &str) -> Result<(), String> {
    let body = serde_json::to_string(worker).map_err(|e| e.to_string())?;
    let path = format!("/settings?digest={digest}");
    match http_call(worker.control, "PUT", &path, Some(body), PUSH_TIMEOUT).await {
        Ok((200, _)) => Ok(()),
        Ok((status, text)) => Err(format!("worker answered {status}: {}", text.trim())),
        Err(err) => Err(format!("worker did not answer: {err:#}")),
    }
}

/// `oryx reload`'s lines: the new digest, then one line per role in the order the shell acted.
pub fn report_text(report: &ReloadReport) -> String {
    let mut lines = vec![format!("reloaded: plan {}", report.digest)];
    for outcome in &report.roles {
        let mut line = format!(
            "  {:<9} {:<20} {}",
            outcome.action, outcome.role, outcome.class
        );
        if !outcome.fields.is_empty() {
            line.push_str(&format!("  {}", outcome.fields.join(", ")));
        }
        if let Some(note) = &outcome.note {
            line.push_str(&format!("  ({note})"));
        }
        lines.push(line.trim_end().to_string());
    }
    for role in &report.unchanged {
        lines.push(format!("  unchanged {role}"));
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile;

    fn compile(text: &str) -> Plan {
        compile::compile_source("t.kdl", text, None).unwrap_or_else(|f| panic!("{f}"))
    }

    fn labels(defs: &[RoleDef]) -> Vec<String> {
        defs.iter().map(|d| d.label.clone()).collect()
    }

    #[test]
    fn reload_steps_start_new_workers_and_update_lbs_in_place() {
        let base = "oryx 1\nworker \"a\"\nworker \"b\"\nrtmp-lb listen=\"127.0.0.1:1935\"\n";
        let old = compile(base);
        // Built by hand: the compiler allocates LB control ports after the workers', so a worker
        // added in the file also moves them (a restart); a plan that keeps them must be hot.
        let mut new = old.clone();
        let mut c = old.workers[1].clone();
        c.name = "c".into();
        c.rtmp.set_port(29000);
        c.http.set_port(29001);
        c.control.set_port(29002);
        new.workers.push(c);
        if let Some(lb) = new.rtmp_lb.as_mut() {
            lb.workers.push("c".into());
        }
        let steps = reload_steps(&old, &new);
        assert_eq!(labels(&steps.added), ["worker/c"]);
        assert_eq!(labels(&steps.hot), ["rtmp-lb"]);
        assert_eq!(labels(&steps.unchanged), ["worker/a", "worker/b"]);
        assert!(steps.restarted.is_empty() && steps.removed.is_empty());

        let back = reload_steps(&new, &old);
        assert_eq!(labels(&back.removed), ["worker/c"]);
        assert_eq!(labels(&back.hot), ["rtmp-lb"]);
    }

    #[test]
    fn stream_settings_are_updated_in_place_and_ports_restart() {
        let base = "oryx 1\nworker \"a\"\nworker \"b\"\n";
        let old = compile(base);
        let hooked = compile(&format!(
            "{base}defaults {{\nhooks {{ on-play \"http://127.0.0.1:9/play\"; }}\n}}\n"
        ));
        let steps = reload_steps(&old, &hooked);
        assert_eq!(labels(&steps.hot), ["worker/a", "worker/b"]);
        assert!(steps.restarted.is_empty());
        let outcome = steps.outcome("worker/a", "updated");
        assert_eq!(outcome.class, "hot");
        assert_eq!(outcome.fields, ["stream.hooks.on_play"]);

        let mut moved = old.clone();
        moved.workers[0].rtmp.set_port(29000);
        moved.workers[1].http.set_port(29001);
        let steps = reload_steps(&old, &moved);
        assert_eq!(labels(&steps.restarted), ["worker/a", "worker/b"]);
        assert_eq!(steps.outcome("worker/b", "restarted").fields, ["http"]);
    }

    #[test]
    fn the_report_has_one_line_per_role_in_order() {
        let report = ReloadReport {
            ok: true,
            digest: "sha256:x".into(),
            unchanged: vec!["http-lb".into()],
            roles: vec![
                RoleOutcome {
                    role: "worker/b".into(),
                    action: "restarted".into(),
                    class: "drops-streams".into(),
                    fields: vec!["rtmp".into()],
                    note: None,
                },
                RoleOutcome {
                    role: "worker/a".into(),
                    action: "updated".into(),
                    class: "hot".into(),
                    fields: vec![],
                    note: None,
                },
            ],
            ..ReloadReport::default()
        };
        assert_eq!(
            report_text(&report),
            "reloaded: plan sha256:x\n  restarted worker/b             drops-streams  rtmp\n  \
             updated   worker/a             hot\n  unchanged http-lb\n"
        );
    }

    #[test]
    fn a_host_shell_starts_what_moves_in_and_stops_what_moves_out() {
        let hosts = "oryx 1\nhost \"x\" address=\"127.0.0.1\"\nhost \"y\" address=\"127.0.0.2\"\nsecret env=\"S\"\nworker \"a\" host=\"x\"\n";
        let old = compile(&format!("{hosts}worker \"b\" host=\"y\"\n"));
        let new = compile(&format!("{hosts}worker \"b\" host=\"x\"\n"));
        let on_x = reload_steps(&old, &new).on_host(&old, &new, Some("x"));
        assert_eq!(labels(&on_x.added), ["worker/b"]);
        assert!(on_x.removed.is_empty() && on_x.restarted.is_empty());
        assert_eq!(labels(&on_x.unchanged), ["worker/a"]);
        let on_y = reload_steps(&old, &new).on_host(&old, &new, Some("y"));
        assert_eq!(labels(&on_y.removed), ["worker/b"]);
        assert!(on_y.added.is_empty() && on_y.unchanged.is_empty() && on_y.hot.is_empty());
    }
}
