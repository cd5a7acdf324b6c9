//! The static role: files, HTTPS (ACME, file or self-signed certificates), reverse proxy routes.

use crate::compile::plan::Plan;

pub fn run(plan: Plan, name: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "static role {name} not implemented yet (plan {})",
        plan.digest()
    )
}
