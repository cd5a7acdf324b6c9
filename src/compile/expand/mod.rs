//! Validate and expand: the typed [`Topology`] becomes a [`Plan`] — defaults filled, `count` expanded,
//! references resolved, listeners cross-checked and loopback ports allocated from the pool.
//!
//! [`expand`] runs three steps, one file each: [`validate`] (every cross-check, every diagnostic;
//! [`rules`] for stream rules and ingests), [`ports`] (the pool and who gets which port) and
//! [`assemble`] (the plan's roles), then [`placement`] (hosts: who runs where, ports per host).

mod assemble;
mod placement;
mod ports;
mod rules;
mod stream;
mod validate;

pub use stream::default_stream;

use super::decode::{Topology, WorkerDecl};
use super::diagnostic::{Severity, Span};
use super::fields::Ctx;
use super::plan::*;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

/// The default pool for loopback ports.
pub const DEFAULT_PORTS: PortRange = PortRange {
    from: 19350,
    to: 19999,
};

/// Options that depend on where the topology lives.
pub struct Environment<'a> {
    /// Directory relative paths start from.
    pub base_dir: &'a Path,
    /// Look at the filesystem for `binary` and static `root` (warnings only).
    pub check_files: bool,
}

/// Validate and expand `topology`; `None` when any error was reported.
pub fn expand(
    topology: &Topology,
    env_name: Option<&str>,
    environment: &Environment<'_>,
    ctx: &mut Ctx,
) -> Option<Plan> {
    let pool = ports::pool(topology, ctx);
    let validated = validate::validate(topology, environment, ctx);
    rules::validate(topology, environment, ctx);
    let placement = placement::place(topology, &validated.instances, ctx);
    let allocated = ports::allocate(
        pool,
        &validated.listeners,
        validated.instances.len(),
        topology.statics.len() + topology.ingests.len() + usize::from(topology.srt_lb.is_some()),
        ctx,
    );
    if ctx
        .diagnostics
        .iter()
        .any(|d| d.severity() == Severity::Error)
    {
        return None;
    }
    let (range, free) = allocated?;
    let assigned = ports::assign(&free, topology, validated.instances.len());
    let mut plan =
        assemble::assemble(topology, &validated, range, assigned, env_name, environment)?;
    placement::apply(&mut plan, topology, &validated.instances, placement, &free);
    Some(plan)
}

/// `path` relative to `base` (absolute paths unchanged), without `.` components.
pub fn resolve_path(base: &Path, path: &str) -> String {
    let joined = base.join(path);
    let cleaned: PathBuf = joined
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    let text = cleaned.to_string_lossy().into_owned();
    if text.is_empty() {
        ".".into()
    } else {
        text
    }
}

/// A public listener, for conflict checks.
struct Listener {
    addr: SocketAddr,
    span: Span,
    owner: String,
    /// `host=` as written: listeners on two different hosts never collide.
    host: Option<String>,
    /// An SRT (UDP) listener: it conflicts with other UDP listeners only.
    udp: bool,
}

/// A worker instance before ports are known.
struct Instance<'a> {
    name: String,
    /// Its place in its group (0 for a single worker): a fixed port of the group counts up by it.
    index: u16,
    decl: &'a WorkerDecl,
}
