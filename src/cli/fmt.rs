//! `oryx fmt FILE [--check]`: rewrite a topology in canonical KDL layout, keeping every comment.

use super::args::FmtArgs;
use crate::compile::{format::format_kdl, report};
use std::io::IsTerminal;

pub fn run(args: &FmtArgs) -> i32 {
    let name = args.file.display().to_string();
    let text = match crate::compile::read_topology(&args.file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("oryx fmt: cannot read {name}: {err}");
            return super::EXIT_USAGE;
        }
    };
    let formatted = match format_kdl(&text) {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            let color = report::use_color(std::io::stderr().is_terminal());
            eprint!(
                "{}",
                report::render_human(&name, &text, &diagnostics, color)
            );
            return 1;
        }
    };
    if formatted == text {
        return 0;
    }
    if args.check {
        eprintln!("{name}: not formatted (run `oryx fmt {name}`)");
        return 1;
    }
    if let Err(err) = std::fs::write(&args.file, formatted) {
        eprintln!("oryx fmt: cannot write {name}: {err}");
        return super::EXIT_USAGE;
    }
    eprintln!("{name}: formatted");
    0
}
