//! The man pages in `man/` match the clap definitions (`UPDATE_MAN=1 cargo test --test man_pages`
//! regenerates them), and `oryx completions` produces scripts.

use std::path::Path;
use std::process::Command;

#[test]
fn man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = oryx::cli::man::render_all().expect("render man pages");
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "1") {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (name, roff) in &pages {
            std::fs::write(dir.join(name), roff).unwrap();
        }
        return;
    }
    let mut stale = Vec::new();
    for (name, roff) in &pages {
        match std::fs::read(dir.join(name)) {
            Ok(existing) if existing == *roff => {}
            _ => stale.push(name.clone()),
        }
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".1"))
                .collect()
        })
        .unwrap_or_default();
    on_disk.retain(|n| !pages.iter().any(|(p, _)| p == n));
    assert!(
        stale.is_empty() && on_disk.is_empty(),
        "man pages are stale (changed or missing: {stale:?}; no longer generated: {on_disk:?}); \
         run `UPDATE_MAN=1 cargo test --test man_pages`"
    );
    assert!(pages.iter().any(|(n, _)| n == "oryx-check.1"));
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_oryx"))
            .args(["completions", shell])
            .output()
            .expect("run oryx");
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains("oryx"), "{shell}");
        assert!(script.contains("check"), "{shell}: subcommands completed");
    }
    let bash = Command::new(env!("CARGO_BIN_EXE_oryx"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bash.stdout).contains("complete -F"));
}
