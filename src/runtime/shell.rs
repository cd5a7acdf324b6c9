//! The shell (`oryx up`): compiles the topology, spawns and supervises every role, reloads on SIGHUP.

use crate::cli::args::{ReloadArgs, UpArgs};

pub fn run(args: &UpArgs) -> anyhow::Result<()> {
    anyhow::bail!("oryx up not implemented yet ({:?})", args.file)
}

pub fn reload(args: &ReloadArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "oryx reload not implemented yet ({})",
        args.run_dir.display()
    )
}
