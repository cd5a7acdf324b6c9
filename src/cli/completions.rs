//! `oryx completions SHELL`: shell completion scripts generated from the clap definition.

use super::args::{Cli, CompletionsArgs};
use clap::CommandFactory;

pub fn run(args: &CompletionsArgs) -> i32 {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "oryx", &mut std::io::stdout());
    0
}
