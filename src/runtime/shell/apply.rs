//! Applying a reload to the running roles: compile the file again, then start, restart, update in
//! place or stop each role as [`reload_steps`] says; `--dry-run` only reports the diff.
//!
//! What changes per role and how a worker takes new settings live in `shell/reload.rs`; this file
//! is the order the shell does it in, which is what keeps streams up.

use super::load::load_plan;
use super::reload::{
    push_settings, reload_steps, DryRunReport, ReloadReport, ReloadSteps, RoleOutcome,
};
use super::roles::RoleDef;
use super::run_dir::write_plan_files;
use super::{Shell, READY_TIMEOUT};
use crate::compile::plan::{Plan, WorkerKind};
use crate::runtime::role::RoleKind;

impl Shell {
    /// The plan a reload would apply now, or the compile errors that would refuse it.
    fn load_new_plan(&self) -> Result<Plan, String> {
        load_plan(self.file.as_deref(), self.env.as_deref())
    }

    /// `oryx reload --dry-run`: what a reload would change, applying nothing.
    pub(super) fn dry_run(&self) -> DryRunReport {
        match self.load_new_plan() {
            Ok(new_plan) => DryRunReport::new(&self.plan, &new_plan),
            Err(errors) => DryRunReport {
                error: Some(errors),
                old_digest: self.plan.digest(),
                ..DryRunReport::default()
            },
        }
    }

    /// Re-read the file and apply it; a file with errors leaves the running plan in force.
    pub(super) async fn reload(&mut self) -> ReloadReport {
        let new_plan = match self.load_new_plan() {
            Ok(plan) => plan,
            Err(errors) => {
                tracing::error!("reload refused, the running plan stays:\n{errors}");
                return ReloadReport {
                    ok: false,
                    digest: self.plan.digest(),
                    error: Some(errors),
                    ..ReloadReport::default()
                };
            }
        };
        if new_plan.shell_control != self.plan.shell_control {
            tracing::warn!(
                "the shell's control address changed; it takes effect at the next `oryx up`"
            );
        }
        let steps = reload_steps(&self.plan, &new_plan).on_host(
            &self.plan,
            &new_plan,
            self.host.as_deref(),
        );
        tracing::info!(
            digest = %new_plan.digest(),
            added = ?labels(&steps.added),
            restarted = ?labels(&steps.restarted),
            updated = ?labels(&steps.hot),
            removed = ?labels(&steps.removed),
            "applying reload"
        );
        self.plan = new_plan;
        // In a pod, peers of the new plan (a grown worker group) are dialled by their names.
        crate::net::pod::rebuild(&self.plan);
        // Every role's plan file first: a role that crashes from now on comes back with the new
        // settings, whether it is updated in place or restarted below.
        if let Err(err) = write_plan_files(&self.run_dir, &self.plan) {
            tracing::error!("{err:#}");
        }
        let (updated, mut outcomes, pushes_refused) = self.update_in_place(&steps).await;
        self.push_digest(&steps).await;
        // Roles to restart, each with why when its class did not call for it.
        let restarts: Vec<(RoleDef, Option<String>)> = steps
            .restarted
            .iter()
            .map(|d| (d.clone(), None))
            .chain(pushes_refused)
            .collect();
        outcomes.extend(self.restart_one_by_one(&restarts, &steps).await);
        let restarted: Vec<RoleDef> = restarts.into_iter().map(|(def, _)| def).collect();
        let added = self.start_roles(&steps.added).await;
        outcomes.extend(added.iter().map(|label| steps.outcome(label, "started")));
        // New workers are up: only now do the LBs learn about them, then the removed ones go away.
        self.push_backends().await;
        self.stop_roles(&labels(&steps.removed)).await;
        outcomes.extend(
            steps
                .removed
                .iter()
                .map(|def| steps.outcome(&def.label, "stopped")),
        );
        ReloadReport {
            ok: true,
            digest: self.plan.digest(),
            error: None,
            started: labels(&steps.added),
            restarted: labels(&restarted),
            updated,
            stopped: labels(&steps.removed),
            unchanged: labels(&steps.unchanged),
            roles: outcomes,
        }
    }

    /// Hot changes: workers take their new stream settings in place (LBs get theirs with the
    /// backend push that follows). Returns the labels updated, their outcomes, and the workers that
    /// refused or did not answer, with why: they restart with the new plan file instead.
    async fn update_in_place(
        &self,
        steps: &ReloadSteps,
    ) -> (
        Vec<String>,
        Vec<RoleOutcome>,
        Vec<(RoleDef, Option<String>)>,
    ) {
        let (mut updated, mut outcomes, mut refused) = (Vec::new(), Vec::new(), Vec::new());
        for def in &steps.hot {
            if def.kind != RoleKind::Worker {
                updated.push(def.label.clone());
                outcomes.push(steps.outcome(&def.label, "updated"));
                continue;
            }
            let Some(worker) = self.plan.worker(&def.name).cloned() else {
                continue;
            };
            match push_settings(&worker, &self.plan.digest()).await {
                Ok(()) => {
                    tracing::info!(role = %def.label, "stream settings updated in place");
                    updated.push(def.label.clone());
                    outcomes.push(steps.outcome(&def.label, "updated"));
                }
                Err(err) => {
                    tracing::warn!(role = %def.label, "settings push failed, restarting: {err}");
                    refused.push((def.clone(), Some(err)));
                }
            }
        }
        (updated, outcomes, refused)
    }

    /// Unchanged embedded workers keep running under the new plan: they take its digest (their own
    /// entry again, unchanged), so the LBs comparing digests see one plan, not two.
    async fn push_digest(&self, steps: &ReloadSteps) {
        let digest = self.plan.digest();
        for def in steps
            .unchanged
            .iter()
            .filter(|d| d.kind == RoleKind::Worker)
        {
            let Some(worker) = self.plan.worker(&def.name) else {
                continue;
            };
            if worker.kind != WorkerKind::Embedded {
                continue;
            }
            if let Err(err) = push_settings(worker, &digest).await {
                tracing::debug!(role = %def.label, "digest not pushed: {err}");
            }
        }
    }

    /// Restart `defs` one at a time, each only after the previous one is ready again (or its wait
    /// timed out), so a group of workers is never down at once. A restarted role keeps its name and
    /// often its ports, so its old process is gone before the new one binds.
    async fn restart_one_by_one(
        &mut self,
        restarts: &[(RoleDef, Option<String>)],
        steps: &ReloadSteps,
    ) -> Vec<RoleOutcome> {
        let mut outcomes = Vec::new();
        for (def, why) in restarts {
            tracing::info!(role = %def.label, "restarting");
            self.stop_roles(std::slice::from_ref(&def.label)).await;
            let started = self.spawn_roles(std::slice::from_ref(def));
            let ready = match started.first().and_then(|label| self.roles.get(label)) {
                Some((_, sup)) => sup.wait_ready(READY_TIMEOUT).await,
                None => false,
            };
            if ready {
                tracing::info!(role = %def.label, "restarted and ready");
                if def.kind == RoleKind::Worker {
                    // The LBs route to it at its new address before the next worker goes down.
                    self.push_backends().await;
                }
            } else {
                tracing::error!(role = %def.label, "not ready after {READY_TIMEOUT:?}; still trying");
            }
            let mut outcome = steps.outcome(&def.label, "restarted");
            outcome.note = why.clone();
            if !ready {
                outcome.note = Some(format!("not ready after {READY_TIMEOUT:?}"));
            }
            outcomes.push(outcome);
        }
        outcomes
    }
}

fn labels(defs: &[RoleDef]) -> Vec<String> {
    defs.iter().map(|d| d.label.clone()).collect()
}
