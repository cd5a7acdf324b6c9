//! `oryx check FILE…`: compile each topology (and each of its `env` overlays) and report every problem
//! as human text, JSON, GitHub workflow commands or SARIF.

use super::args::{CheckArgs, CheckFormat};
use crate::compile::load::{load, LoadOptions};
use crate::compile::{report, Compilation};
use std::io::IsTerminal;

pub fn run(args: &CheckArgs) -> i32 {
    let options = LoadOptions {
        env: args.env.as_deref(),
        every_env: true,
        ..LoadOptions::default()
    };
    let mut compilations: Vec<Compilation> = Vec::new();
    for file in &args.files {
        match load(Some(file), &options) {
            Ok(compilation) => compilations.push(compilation),
            Err(err) => {
                eprintln!("oryx check: {err}");
                return super::EXIT_USAGE;
            }
        }
    }
    let reports: Vec<report::FileReport<'_>> = compilations
        .iter()
        .map(|c| report::FileReport {
            file: &c.name,
            text: &c.text,
            diagnostics: &c.diagnostics,
        })
        .collect();
    let output = match args.format {
        CheckFormat::Human => human(&compilations),
        CheckFormat::Json => report::render_json(&reports, args.deny_warnings),
        CheckFormat::Github => report::render_github(&reports),
        CheckFormat::Sarif => report::render_sarif(&reports),
    };
    print!("{output}");
    // About this host, not the file: a note on stderr that changes no exit code.
    let (_, hard) = crate::net::limits::nofile();
    for warning in compilations
        .iter()
        .filter_map(|c| c.plan.as_ref())
        .filter_map(|plan| crate::net::limits::nofile_warning(plan, hard))
        .take(1)
    {
        eprintln!("oryx check: warning: {warning}");
    }
    let errors: usize = compilations.iter().map(Compilation::error_count).sum();
    let warnings: usize = compilations.iter().map(Compilation::warning_count).sum();
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        1
    } else {
        0
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn human(compilations: &[Compilation]) -> String {
    let color = report::use_color(std::io::stdout().is_terminal());
    let mut out = String::new();
    for c in compilations {
        out.push_str(&report::render_human(
            &c.name,
            &c.text,
            &c.diagnostics,
            color,
        ));
        let (errors, warnings) = (c.error_count(), c.warning_count());
        if errors == 0 && warnings == 0 {
            out.push_str(&format!("{}: ok\n", c.name));
        } else {
            out.push_str(&format!(
                "{}: {}, {}\n",
                c.name,
                plural(errors, "error"),
                plural(warnings, "warning")
            ));
        }
    }
    out
}
