//! The topology compiler: KDL text → spanned document → typed config → validated, expanded [`plan::Plan`].
//!
//! This module never opens sockets or spawns processes.

pub mod plan;

use std::path::Path;

/// The built-in default topology `oryx up` runs without a file.
pub const DEFAULT_TOPOLOGY: &str = include_str!("../../examples/configs/single.kdl");
/// The name diagnostics use for the built-in default topology.
pub const DEFAULT_TOPOLOGY_NAME: &str = "<built-in single.kdl>";

/// A compilation that failed: the rendered diagnostics, ready to print.
#[derive(Debug)]
pub struct CompileFailure {
    pub rendered: String,
    pub error_count: usize,
}

impl std::fmt::Display for CompileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} error(s) in topology\n{}",
            self.error_count, self.rendered
        )
    }
}

impl std::error::Error for CompileFailure {}

/// Compile source text (named `name` in diagnostics) into a plan, with an optional env overlay.
/// Warnings do not fail compilation.
pub fn compile_source(
    name: &str,
    text: &str,
    env: Option<&str>,
) -> Result<plan::Plan, CompileFailure> {
    let _ = (name, text, env);
    Err(CompileFailure {
        rendered: "the compiler is not implemented yet".into(),
        error_count: 1,
    })
}

/// Read and compile a file.
pub fn compile_path(path: &Path, env: Option<&str>) -> Result<plan::Plan, CompileFailure> {
    let text = std::fs::read_to_string(path).map_err(|err| CompileFailure {
        rendered: format!("cannot read {}: {err}", path.display()),
        error_count: 1,
    })?;
    compile_source(&path.display().to_string(), &text, env)
}
