//! The layer rules of `docs/DESIGN.md` ("Layers"), checked on `src/` so they hold without anyone
//! remembering them: a top-level module uses only the layers below its own (the table in DESIGN.md's
//! `layers` block), and the files of one folder import each other without a cycle.
//!
//! The checker reads the sources itself (no extra crate): it drops comments, literals and
//! `#[cfg(test)]` items (unit tests may reach further than the code they test), follows `mod`
//! declarations from `lib.rs`, and resolves every `use` tree and every `crate::`/`super::`/`self::`
//! path to the module that holds the item.

#[path = "layers/graph.rs"]
mod graph;
#[path = "layers/source.rs"]
mod source;

use graph::{folder_cycles, layer_violations, module_graph, top};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Breaks that a branch merged in parallel removes (issue 11). Each must still occur: once it is
/// gone, the test fails until its line here is deleted, so no exception outlives its reason.
const PENDING_EDGES: &[(&str, &str)] = &[];
const PENDING_CYCLES: &[&[&str]] = &[];

#[test]
fn src_keeps_the_layers_of_design_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let design = std::fs::read_to_string(root.join("docs/DESIGN.md")).expect("docs/DESIGN.md");
    let layers = layer_table(&design).expect("DESIGN.md has a ```layers block");
    let mut files = BTreeMap::new();
    read_tree(&root.join("src"), "", &mut files);
    let graph = module_graph(&files);
    assert!(
        graph.contains_key("worker::hub"),
        "the scan found the worker's hub (it reads src/ at all)"
    );

    let mut problems = Vec::new();
    let mut pending_seen = BTreeSet::new();
    for (from, to) in layer_violations(&graph, &layers) {
        let (top_from, top_to) = (top(&from), top(&to));
        if PENDING_EDGES.contains(&(top_from, top_to)) {
            pending_seen.insert(format!("{top_from} -> {top_to}"));
        } else {
            problems.push(format!(
                "{from} uses {to}: `{top_to}` is not below `{top_from}`"
            ));
        }
    }
    for (from, to) in PENDING_EDGES {
        if !pending_seen.contains(&format!("{from} -> {to}")) {
            problems.push(format!(
                "{from} -> {to} no longer occurs: remove it from PENDING_EDGES"
            ));
        }
    }
    let cycles = folder_cycles(&graph);
    for cycle in &cycles {
        if !PENDING_CYCLES
            .iter()
            .any(|pending| same_members(pending, cycle))
        {
            problems.push(format!("import cycle between {}", cycle.join(", ")));
        }
    }
    for pending in PENDING_CYCLES {
        if !cycles.iter().any(|cycle| same_members(pending, cycle)) {
            problems.push(format!(
                "the cycle {} no longer occurs: remove it from PENDING_CYCLES",
                pending.join(", ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "layer rules broken:\n{}",
        problems.join("\n")
    );
}

fn same_members(pending: &[&str], cycle: &[String]) -> bool {
    pending.len() == cycle.len() && pending.iter().all(|m| cycle.iter().any(|c| c == m))
}

/// The ```layers block: one layer a line, the top first; `#` starts a comment.
fn layer_table(design: &str) -> Option<Vec<Vec<String>>> {
    let start = design.find("```layers\n")? + "```layers\n".len();
    let end = start + design[start..].find("```")?;
    Some(
        design[start..end]
            .lines()
            .map(|line| line.split('#').next().unwrap_or(""))
            .map(|line| {
                line.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|layer| !layer.is_empty())
            .collect(),
    )
}

/// Every `.rs` file under `dir` (but `bin/`, which uses the crate from outside), keyed by its path
/// relative to `src/`.
fn read_tree(dir: &Path, rel: &str, files: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if entry.path().is_dir() {
            if path != "bin" {
                read_tree(&entry.path(), &path, files);
            }
        } else if name.ends_with(".rs") {
            files.insert(
                path,
                std::fs::read_to_string(entry.path()).expect("read source"),
            );
        }
    }
}

// The checker itself: a wrong import must fail it.
mod checker {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let files = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        module_graph(&files)
    }

    const LAYERS: &str = "```layers\nhigh # above\nlow\n```\n";

    #[test]
    fn an_upward_import_breaks_the_layers() {
        let layers = layer_table(LAYERS).unwrap();
        assert_eq!(
            layers,
            vec![vec!["high".to_string()], vec!["low".to_string()]]
        );
        let good = tree(&[
            ("lib.rs", "pub mod high;\npub mod low;"),
            ("high/mod.rs", "pub mod a;"),
            ("high/a.rs", "use crate::low::{self, b::Thing};"),
            ("low/mod.rs", "pub mod b;"),
            (
                "low/b.rs",
                "// crate::high::a is only named in a comment\nconst S: &str = \"crate::high\";",
            ),
        ]);
        assert_eq!(
            good["high::a"],
            BTreeSet::from(["low".into(), "low::b".into()])
        );
        assert!(layer_violations(&good, &layers).is_empty());

        let bad = tree(&[
            ("lib.rs", "pub mod high;\npub mod low;"),
            ("high/mod.rs", "pub mod a;"),
            ("high/a.rs", ""),
            ("low/mod.rs", "pub mod b;"),
            ("low/b.rs", "fn f() { crate::high::a::go(); }"),
        ]);
        assert_eq!(
            layer_violations(&bad, &layers),
            vec![("low::b".to_string(), "high::a".to_string())]
        );
        // A module the table does not place is a violation too.
        let unplaced = tree(&[
            ("lib.rs", "pub mod low;\npub mod new;"),
            ("low.rs", ""),
            ("new.rs", "use crate::low;"),
        ]);
        assert_eq!(layer_violations(&unplaced, &layers).len(), 1);
    }

    #[test]
    fn a_cycle_between_files_of_a_folder_is_found() {
        let cyclic = tree(&[
            ("lib.rs", "pub mod w;"),
            (
                "w/mod.rs",
                "pub mod a;\npub mod b;\npub mod c;\npub use a::A;",
            ),
            ("w/a.rs", "use super::b::B;"),
            ("w/b.rs", "pub fn f() { super::super::w::a::g() }"),
            ("w/c.rs", "use super::{a, b};"),
        ]);
        assert_eq!(
            folder_cycles(&cyclic),
            vec![vec!["w::a".to_string(), "w::b".to_string()]]
        );

        // The same imports from unit tests and from the folder's face are no cycle.
        let fine = tree(&[
            ("lib.rs", "pub mod w;"),
            (
                "w/mod.rs",
                "pub mod a;\npub mod b;\nuse a::A;\n#[cfg(test)]\n#[path = \"t.rs\"]\nmod t;",
            ),
            ("w/a.rs", "use super::b::B;\nuse super::Shared;"),
            (
                "w/b.rs",
                "#[cfg(test)]\nmod tests {\n    use super::super::a;\n}\nfn f() { let c = '{'; }",
            ),
            ("w/t.rs", "use crate::w::b::f; use crate::w::a::g;"),
        ]);
        assert!(
            folder_cycles(&fine).is_empty(),
            "{:?}",
            folder_cycles(&fine)
        );
        assert!(
            !fine.contains_key("w::t"),
            "a test-only file is not part of the graph"
        );
    }

    #[test]
    fn inline_modules_resolve_super_from_where_they_are() {
        let graph = tree(&[
            ("lib.rs", "pub mod w;"),
            ("w/mod.rs", "pub mod a;\npub mod b;"),
            (
                "w/a.rs",
                "mod inner {\n    use super::super::b::X;\n}\nfn f<'a>(x: &'a str) {}",
            ),
            ("w/b.rs", ""),
        ]);
        assert_eq!(graph["w::a"], BTreeSet::from(["w::b".to_string()]));
    }
}
