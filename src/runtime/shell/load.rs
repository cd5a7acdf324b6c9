//! The shell's plan loading, at start and at each reload: the topology file (or the built-in
//! default, or a plan JSON) through [`crate::compile::load`], warnings logged, errors as text.

use crate::compile::load::{load, plan_or_failure, LoadOptions};
use crate::compile::plan::Plan;
use std::path::Path;

/// Read the topology: the built-in default without a file, a plan JSON (`*.json`, as `oryx plan
/// --json` prints a plan) as is, else a KDL file compiled with the env overlay. The error is the
/// text the operator reads (in the log, in `oryx reload`'s answer).
pub fn load_plan(file: Option<&Path>, env: Option<&str>) -> Result<Plan, String> {
    let options = LoadOptions {
        env,
        plan_json: true,
        ..LoadOptions::default()
    };
    let compilation = load(file, &options).map_err(|err| err.to_string())?;
    // Warnings (a missing external binary, a missing static root) do not stop `up`, but the
    // operator must see them: the role they concern will fail to start.
    if compilation.plan.is_some() && compilation.warning_count() > 0 {
        tracing::warn!("topology warnings:\n{}", compilation.render_plain());
    }
    plan_or_failure(compilation).map_err(|failure| failure.to_string())
}
