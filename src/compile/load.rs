//! The one way from a topology file to a compilation: read the file (or take the built-in default,
//! or a plan JSON), compile it, and hand back every diagnostic for the caller to render.
//!
//! `oryx check`, `oryx plan`, and the shell's start and reload all come through [`load`]; they
//! differ only in the [`LoadOptions`] they pass and in how they show the result.

use super::plan::Plan;
use super::{check_all, compile, read_topology, Compilation, CompileFailure, Options};
use super::{DEFAULT_TOPOLOGY, DEFAULT_TOPOLOGY_NAME};
use std::path::Path;

/// How to load a topology.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions<'a> {
    /// The `env "NAME"` overlay to apply.
    pub env: Option<&'a str>,
    /// Without `env`, also compile every `env` overlay the file declares and report their problems
    /// too (`oryx check`).
    pub every_env: bool,
    /// Take a `*.json` file as a plan (as `oryx plan --json` prints it) instead of compiling it
    /// (`oryx up`).
    pub plan_json: bool,
}

/// A topology that could not even be compiled.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read (missing, unreadable, over the size limit, not UTF-8).
    Unreadable { name: String, error: std::io::Error },
    /// A `*.json` file (with [`LoadOptions::plan_json`]) that holds no plan.
    NotAPlan {
        name: String,
        error: serde_json::Error,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Unreadable { name, error } => write!(f, "cannot read {name}: {error}"),
            LoadError::NotAPlan { name, error } => write!(f, "{name} is not a plan: {error}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Load `file`, or the built-in default topology without one, and compile it. The compilation
/// carries every diagnostic, and the plan when there was no error; the caller renders them.
pub fn load(file: Option<&Path>, options: &LoadOptions<'_>) -> Result<Compilation, LoadError> {
    let (name, text) = match file {
        None => (
            DEFAULT_TOPOLOGY_NAME.to_string(),
            DEFAULT_TOPOLOGY.to_string(),
        ),
        Some(path) => {
            let name = path.display().to_string();
            match read_topology(path) {
                Ok(text) => (name, text),
                Err(error) => return Err(LoadError::Unreadable { name, error }),
            }
        }
    };
    if options.plan_json && file.is_some_and(|path| path.extension().is_some_and(|e| e == "json")) {
        return match plan_from_json(&text) {
            Ok(plan) => Ok(Compilation {
                name,
                text,
                diagnostics: Vec::new(),
                plan: Some(plan),
                env_names: Vec::new(),
            }),
            Err(error) => Err(LoadError::NotAPlan { name, error }),
        };
    }
    let compile_options = Options::for_file(&name, options.env);
    Ok(if options.every_env {
        check_all(&name, &text, &compile_options)
    } else {
        compile(&name, &text, &compile_options)
    })
}

/// The plan of `compilation`, or its errors rendered without color (for logs and reload reports).
pub fn plan_or_failure(compilation: Compilation) -> Result<Plan, CompileFailure> {
    match compilation.plan {
        Some(plan) => Ok(plan),
        None => Err(CompileFailure {
            rendered: compilation.render_plain(),
            error_count: compilation.error_count(),
        }),
    }
}

/// A plan as `oryx plan --json` prints it, or wrapped as `{"plan": …}`.
fn plan_from_json(text: &str) -> Result<Plan, serde_json::Error> {
    serde_json::from_str::<Plan>(text).or_else(|_| {
        serde_json::from_str::<serde_json::Value>(text).and_then(|v| {
            serde_json::from_value::<Plan>(v.get("plan").cloned().unwrap_or_default())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn without_a_file_the_default_topology_compiles() {
        let compilation = load(None, &LoadOptions::default()).expect("load");
        assert_eq!(compilation.name, DEFAULT_TOPOLOGY_NAME);
        assert!(compilation.plan.is_some(), "{}", compilation.render_plain());
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let err = load(
            Some(Path::new("/nonexistent/oryx.kdl")),
            &LoadOptions::default(),
        )
        .expect_err("missing file");
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/oryx.kdl: "),
            "{err}"
        );
    }

    #[test]
    fn errors_come_back_as_diagnostics_and_a_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            "bad.kdl",
            "oryx 1\nworker \"w\" { lisen \"x\" }\n",
        );
        let compilation = load(Some(&path), &LoadOptions::default()).expect("load");
        assert!(compilation.plan.is_none());
        assert!(compilation.error_count() > 0);
        let failure = plan_or_failure(compilation).expect_err("errors");
        assert!(
            failure.to_string().contains("error(s) in topology"),
            "{failure}"
        );
    }

    #[test]
    fn a_plan_json_is_taken_as_is_only_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = load(None, &LoadOptions::default())
            .ok()
            .and_then(|c| c.plan)
            .expect("default plan");
        let bare = write(dir.path(), "bare.json", &plan.canonical_json());
        let wrapped = write(
            dir.path(),
            "wrapped.json",
            &serde_json::json!({ "plan": plan }).to_string(),
        );
        for path in [&bare, &wrapped] {
            let options = LoadOptions {
                plan_json: true,
                ..LoadOptions::default()
            };
            let loaded = load(Some(path), &options).expect("load");
            assert_eq!(loaded.plan.map(|p| p.digest()), Some(plan.digest()));
        }
        // Without `plan_json` a `.json` file is a topology, so KDL errors.
        let compiled = load(Some(&bare), &LoadOptions::default()).expect("load");
        assert!(compiled.plan.is_none());
        let junk = write(dir.path(), "junk.json", "{\"plan\": 3}");
        let options = LoadOptions {
            plan_json: true,
            ..LoadOptions::default()
        };
        let err = load(Some(&junk), &options).expect_err("not a plan");
        assert!(err.to_string().contains("junk.json is not a plan"), "{err}");
    }
}
