//! The CLI: argument definitions and one handler per subcommand, each returning a process exit code.

pub mod args;
pub mod check;
pub mod completions;
pub mod fmt;
pub mod man;
pub mod man_sections;
pub mod options;
pub mod plan;
pub mod reload;

use args::{Cli, Command};
use clap::Parser;

/// Exit code for usage and I/O errors.
pub const EXIT_USAGE: i32 = 2;

/// Parse arguments, run the subcommand and return the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    if matches!(
        cli.command,
        Command::Check(_) | Command::Plan(_) | Command::Fmt(_) | Command::Completions(_)
    ) {
        exit_quietly_on_closed_pipe();
    }
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Up(args) => report(crate::runtime::shell::run(&(&args).into())),
        Command::Reload(args) => report(reload::run(&args)),
        Command::Role(args) => report(crate::runtime::role::run(&(&args).into())),
        Command::Bench(args::BenchCommand::Play(args)) => {
            report(crate::bench::play::run(&(&args).into()))
        }
    }
}

/// Commands that only print: `oryx plan … | head` must end quietly when the reader goes away, like
/// any Unix filter, instead of panicking in `println!`. Only these commands: the roles write to
/// sockets, where a closed peer must be an error to handle, never a signal that kills the process.
fn exit_quietly_on_closed_pipe() {
    // SAFETY: restoring the default disposition of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Print an error chain for commands that return `anyhow::Result` and map it to an exit code.
fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            1
        }
    }
}
