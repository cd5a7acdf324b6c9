//! Man pages generated from the clap definition: `oryx.1` and one page per subcommand
//! (`oryx-check.1`, `oryx-bench-play.1`, …). `tests/man_pages.rs` keeps `man/` current.

use super::args::Cli;
use clap::CommandFactory;

/// Every man page as (file name, roff text), sorted by file name.
pub fn render_all() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut command = Cli::command();
    command.build();
    let mut pages = Vec::new();
    render(&command, &mut pages)?;
    pages.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(pages)
}

/// `command` must be built: clap then names subcommands `oryx-check` (page) and `oryx check` (usage).
fn render(command: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(command.clone());
    let mut roff = Vec::new();
    // clap's own sections, then ours (EXAMPLES from `after_help`, EXIT STATUS, SIGNALS, FILES)
    // where clap would put its untitled "extra" text.
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    man.render_synopsis_section(&mut roff)?;
    man.render_description_section(&mut roff)?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut roff)?;
    }
    if command.has_subcommands() {
        man.render_subcommands_section(&mut roff)?;
    }
    let page = man.get_filename();
    let page = page.trim_end_matches(".1");
    let examples = command.get_after_help().map(|h| h.to_string());
    roff.extend_from_slice(super::man_sections::roff(page, examples.as_deref()).as_bytes());
    if command.get_version().is_some() {
        man.render_version_section(&mut roff)?;
    }
    pages.push((man.get_filename(), roff));
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        render(sub, pages)?;
    }
    Ok(())
}
