//! External workers (nginx-rtmp, SRS): their configuration compiled from the plan, and how to run them.
//!
//! The shell supervises an external worker exactly like an embedded one; only the command differs. The
//! config is written into the run directory, and an optional validation command runs first so a broken
//! config is reported before the worker is started.

pub mod nginx_rtmp;
pub mod srs;
pub mod srs_api;

use crate::compile::plan::{WorkerKind, WorkerPlan};
use std::path::{Path, PathBuf};

/// How to run one external worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Run before every start; a non-zero exit means the config is unusable.
    pub validate: Option<Vec<String>>,
    /// The worker's own directory (config, logs, HLS files).
    pub dir: PathBuf,
}

/// The first line of every config oryx writes for an external worker.
fn config_banner(worker: &WorkerPlan) -> String {
    format!(
        "# Compiled by oryx from the plan for worker {}; do not edit (rewritten when the plan changes).\n",
        worker.name
    )
}

/// `path` from the current directory when it is relative: both programs resolve relative paths
/// against their own prefix or directory, while the plan's are relative to where oryx runs.
fn absolute(path: &str) -> String {
    std::path::absolute(path).map_or_else(|_| path.to_string(), |p| p.display().to_string())
}

/// The default program for each external kind when the plan gives no `binary`.
pub fn default_binary(kind: WorkerKind) -> Option<&'static str> {
    match kind {
        WorkerKind::Embedded => None,
        WorkerKind::NginxRtmp => Some("nginx"),
        WorkerKind::Srs => Some("srs"),
    }
}

/// Write the worker's config under `run_dir/workers/NAME/` and return the command that runs it.
/// Errors if the worker is embedded or the directory cannot be written.
pub fn prepare(worker: &WorkerPlan, run_dir: &Path) -> anyhow::Result<ExternalCommand> {
    let dir = run_dir.join("workers").join(&worker.name);
    std::fs::create_dir_all(&dir)
        .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", dir.display()))?;
    // Both programs resolve relative paths against their own prefix; give them absolute ones.
    let dir = std::fs::canonicalize(&dir)?;
    let program = PathBuf::from(
        worker
            .binary
            .as_deref()
            .or(default_binary(worker.kind))
            .ok_or_else(|| anyhow::anyhow!("worker {} is embedded, not external", worker.name))?,
    );
    match worker.kind {
        WorkerKind::Embedded => anyhow::bail!("worker {} is embedded, not external", worker.name),
        WorkerKind::NginxRtmp => {
            for sub in ["logs", "tmp", "hls"] {
                std::fs::create_dir_all(dir.join(sub))?;
            }
            // nginx-rtmp opens a recording in `record_path` but never creates the directory.
            for record_dir in nginx_rtmp::rule_apps(worker)
                .iter()
                .filter_map(|app| app.record_dir.as_ref())
            {
                std::fs::create_dir_all(record_dir)
                    .map_err(|err| anyhow::anyhow!("cannot create {record_dir}: {err}"))?;
            }
            let conf = nginx_rtmp::config(worker, &dir);
            let file = dir.join("nginx.conf");
            std::fs::write(&file, conf)?;
            let prefix = format!("{}/", dir.display());
            let file = file.display().to_string();
            Ok(ExternalCommand {
                // `-e stderr` keeps nginx from opening its compiled-in log path before it reads ours.
                validate: Some(vec![
                    "-t".into(),
                    "-q".into(),
                    "-e".into(),
                    "stderr".into(),
                    "-p".into(),
                    prefix.clone(),
                    "-c".into(),
                    file.clone(),
                ]),
                args: vec![
                    "-e".into(),
                    "stderr".into(),
                    "-p".into(),
                    prefix,
                    "-c".into(),
                    file,
                ],
                program,
                dir,
            })
        }
        WorkerKind::Srs => {
            std::fs::create_dir_all(dir.join("html"))?;
            let open_files = raise_open_files_limit();
            let conf = srs::config(worker, &dir, open_files);
            if let Some(clamped) = conf.clamped {
                tracing::warn!(
                    worker = %worker.name,
                    "max-connections {} does not fit under the open-files limit ({open_files}, \
                     `ulimit -n`): SRS gets max_connections {clamped}",
                    worker.stream.max_connections
                );
            }
            let file = dir.join("srs.conf");
            std::fs::write(&file, conf.text)?;
            let file = file.display().to_string();
            Ok(ExternalCommand {
                validate: Some(vec!["-t".into(), "-c".into(), file.clone()]),
                args: vec!["-c".into(), file],
                program,
                dir,
            })
        }
    }
}

/// The soft open-files limit after raising it to the hard one ([`crate::net::limits::raise_nofile`]), as
/// SRS reads it: an int, so `RLIM_INFINITY` (u64::MAX) is capped.
pub fn raise_open_files_limit() -> u64 {
    crate::net::limits::raise_nofile().0.min(i32::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::Plan;

    fn plan_worker(kind: WorkerKind, binary: Option<&str>) -> WorkerPlan {
        let text = "oryx 1\nworker \"w\"\n";
        let plan: Plan =
            crate::compile::compile_source("t.kdl", text, None).unwrap_or_else(|f| panic!("{f}"));
        let mut worker = plan.workers[0].clone();
        worker.kind = kind;
        worker.binary = binary.map(str::to_string);
        worker
    }

    #[test]
    fn nginx_worker_gets_its_config_and_command() {
        let dir = tempfile::tempdir().unwrap();
        let worker = plan_worker(WorkerKind::NginxRtmp, None);
        let command = prepare(&worker, dir.path()).unwrap();
        assert_eq!(command.program, PathBuf::from("nginx"));
        let conf = std::fs::read_to_string(command.dir.join("nginx.conf")).unwrap();
        assert!(conf.contains(&format!("listen {};", worker.rtmp)));
        assert!(command.dir.join("hls").is_dir() && command.dir.join("tmp").is_dir());
        assert!(command.args.ends_with(&[
            "-c".to_string(),
            command.dir.join("nginx.conf").display().to_string()
        ]));
        assert_eq!(command.validate.as_ref().unwrap()[0], "-t");
    }

    #[test]
    fn srs_worker_is_validated_with_dash_t() {
        let dir = tempfile::tempdir().unwrap();
        let worker = plan_worker(WorkerKind::Srs, Some("/opt/srs/objs/srs"));
        let command = prepare(&worker, dir.path()).unwrap();
        assert_eq!(command.program, PathBuf::from("/opt/srs/objs/srs"));
        let file = command.dir.join("srs.conf").display().to_string();
        assert_eq!(
            command.validate,
            Some(vec!["-t".into(), "-c".into(), file.clone()])
        );
        assert_eq!(command.args, vec!["-c".to_string(), file]);
    }

    #[test]
    fn srs_gets_the_raised_open_files_limit() {
        let limit = raise_open_files_limit();
        let mut now = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we pass.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) }, 0);
        assert_eq!(now.rlim_cur, now.rlim_max);
        assert_eq!(limit, now.rlim_cur.min(i32::MAX as u64));
    }

    #[test]
    fn embedded_workers_are_not_external() {
        let dir = tempfile::tempdir().unwrap();
        let err = prepare(&plan_worker(WorkerKind::Embedded, None), dir.path()).unwrap_err();
        assert!(err.to_string().contains("embedded"), "{err}");
    }
}
