//! `oryx plan` (to be written by the compiler work).

use super::args::*;

pub fn run(_args: &PlanArgs) -> i32 {
    eprintln!("oryx plan: not implemented yet");
    super::EXIT_USAGE
}
