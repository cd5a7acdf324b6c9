//! `oryx check` (to be written by the compiler work).

use super::args::*;

pub fn run(_args: &CheckArgs) -> i32 {
    eprintln!("oryx check: not implemented yet");
    super::EXIT_USAGE
}
