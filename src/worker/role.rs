//! Entry point of `oryx role worker NAME`: runs one embedded worker from its plan slice (to be written).

use crate::compile::plan::Plan;

pub fn run(plan: Plan, name: &str) -> anyhow::Result<()> {
    anyhow::bail!("worker {name} not implemented yet (plan {})", plan.digest())
}
