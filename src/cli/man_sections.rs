//! The hand-written sections of the man pages that clap cannot know: EXAMPLES (from each command's
//! `after_help`), EXIT STATUS, SIGNALS and FILES, per page.

/// Extra `(title, paragraphs)` sections for the page of `command` (`oryx`, `oryx-check`, …).
pub fn sections(page: &str) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out = Vec::new();
    let exit = match page {
        "oryx-check" => Some(vec![
            "0: every file is valid (warnings allowed).",
            "1: errors were found, or warnings with --deny-warnings.",
            "2: a usage error, or a file could not be read.",
        ]),
        "oryx-plan" => Some(vec![
            "0: the plan (or diff, or route) was printed.",
            "1: the topology has errors (they are printed on standard error).",
            "2: a usage error, or a file could not be read.",
        ]),
        "oryx-fmt" => Some(vec![
            "0: the file is formatted (or was formatted in place).",
            "1: with --check, the file is not formatted; or the file is not valid KDL.",
            "2: a usage error, or the file could not be read or written.",
        ]),
        "oryx-up" | "oryx" => Some(vec![
            "0: every role was stopped cleanly after SIGTERM or SIGINT.",
            "1: the topology could not be run: it has errors, a public listener cannot be bound \
             (the message names the role and the address), or another `oryx up` already runs in \
             the same run directory (the message gives its pid).",
            "2: a usage error.",
        ]),
        "oryx-reload" => Some(vec![
            "0: the running shell re-read its topology and applied it.",
            "1: no shell answered from the run directory, or the new topology has errors (the \
             running plan stays in force).",
        ]),
        "oryx-role" => Some(vec![
            "0: the role stopped cleanly after SIGTERM or SIGINT.",
            "1: the role could not start (its name is not in the plan, a listener cannot be bound).",
        ]),
        "oryx-bench-play" | "oryx-bench" => Some(vec![
            "0: the run finished and its report was printed.",
            "1: the URL could not be played.",
        ]),
        "oryx-completions" => Some(vec!["0: the completions were printed.", "2: a usage error."]),
        _ => None,
    };
    if let Some(exit) = exit {
        out.push(("EXIT STATUS", exit));
    }
    if matches!(page, "oryx" | "oryx-up" | "oryx-role") {
        out.push((
            "SIGNALS",
            vec![
                "SIGHUP: (oryx up) re-read the topology file and apply it as a diff: unchanged \
                 roles keep running and keep their connections; a file with errors is reported and \
                 the running plan stays. `oryx reload` does the same through the control API.",
                "SIGTERM, SIGINT: stop. `oryx up` stops its roles front first (load balancers, \
                 then workers); each stops accepting and drains its clients for at most 3 s; what \
                 is still running 5 s later is killed.",
            ],
        ));
    }
    if matches!(page, "oryx" | "oryx-up" | "oryx-reload") {
        out.push((
            "FILES",
            vec![
                "RUN_DIR (--run-dir, default ./.oryx): the state of one `oryx up`, which holds a lock \
                 on RUN_DIR/lock while it runs, so a second one there is refused.",
                "RUN_DIR/shell.json: the shell's pid, control address and plan digest; `oryx \
                 reload` reads it.",
                "RUN_DIR/plans/ROLE.json: the plan each role runs (files 0600).",
                "RUN_DIR/control-secret: the run's control-API secret (0600); every role gets it \
                 from the shell, `oryx reload` reads it (ORYX_CONTROL_SECRET sets it instead).",
                "RUN_DIR/workers/NAME/: configuration compiled for an external worker (srs.conf, \
                 nginx.conf) and its logs.",
            ],
        ));
    }
    out
}

/// Roff for `sections`, plus the command's examples (its `after_help`) as a literal block.
pub fn roff(page: &str, examples: Option<&str>) -> String {
    let mut text = String::new();
    if let Some(examples) = examples {
        text.push_str(".SH EXAMPLES\n.nf\n");
        for line in examples.lines().skip_while(|l| l.starts_with("Examples:")) {
            text.push_str(&escape(line));
            text.push('\n');
        }
        text.push_str(".fi\n");
    }
    for (title, paragraphs) in sections(page) {
        text.push_str(&format!(".SH \"{title}\"\n"));
        for paragraph in paragraphs {
            text.push_str(".PP\n");
            text.push_str(&escape(paragraph));
            text.push('\n');
        }
    }
    text
}

/// Roff-safe text: backslashes doubled, and a line may not start with a control character.
fn escape(line: &str) -> String {
    let line = line.replace('\\', "\\\\").replace('-', "\\-");
    if line.starts_with('.') || line.starts_with('\'') {
        format!("\\&{line}")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_but_the_group_pages_has_an_exit_status() {
        for page in [
            "oryx",
            "oryx-check",
            "oryx-plan",
            "oryx-fmt",
            "oryx-up",
            "oryx-reload",
            "oryx-role",
            "oryx-bench-play",
            "oryx-completions",
        ] {
            assert!(
                sections(page).iter().any(|(t, _)| *t == "EXIT STATUS"),
                "{page}"
            );
        }
        let up = roff("oryx-up", Some("Examples:\n  oryx up\n.dot"));
        assert!(
            up.contains(".SH EXAMPLES\n.nf\n  oryx up\n\\&.dot\n.fi\n"),
            "{up}"
        );
        assert!(up.contains(".SH \"SIGNALS\"") && up.contains(".SH \"FILES\""));
    }
}
