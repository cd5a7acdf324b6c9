//! `oryx fmt` (to be written by the compiler work).

use super::args::*;

pub fn run(_args: &FmtArgs) -> i32 {
    eprintln!("oryx fmt: not implemented yet");
    super::EXIT_USAGE
}
