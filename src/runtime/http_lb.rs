//! The http-lb role (to be written).

use crate::compile::plan::Plan;

pub fn run(plan: Plan) -> anyhow::Result<()> {
    anyhow::bail!("http-lb not implemented yet (plan {})", plan.digest())
}
