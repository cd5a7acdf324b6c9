//! The layer rules of `docs/DESIGN.md` ("Layers"), checked on `src/` so they hold without anyone
//! remembering them: a top-level module uses only the layers below its own (the table in DESIGN.md's
//! `layers` block), and the files of one folder import each other without a cycle.
//!
//! The checker reads the sources itself (no extra crate): it drops comments, literals and
//! `#[cfg(test)]` items (unit tests may reach further than the code they test), follows `mod`
//! declarations from `lib.rs`, and resolves every `use` tree and every `crate::`/`super::`/`self::`
//! path to the module that holds the item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Breaks that a branch merged in parallel removes (issue 11). Each must still occur: once it is
/// gone, the test fails until its line here is deleted, so no exception outlives its reason.
const PENDING_EDGES: &[(&str, &str)] = &[
    // s-shell: runtime and bench take plain option structs instead of clap's types.
    ("runtime", "cli"),
    ("bench", "cli"),
];
const PENDING_CYCLES: &[&[&str]] = &[
    // s-hub: the player cursor becomes one of the hub's rooms (`worker/hub/`).
    &["worker::hub", "worker::player"],
    // s-shell: the role catalogue and the run-dir files leave shell.rs; they must sit beside the
    // shell (not inside it) for reload.rs and preflight.rs to stop importing the shell.
    &["runtime::preflight", "runtime::reload", "runtime::shell"],
];

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

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
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

/// `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` is the crate root, "".
fn module_of(path: &str) -> String {
    let stem = path.trim_end_matches(".rs");
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" || stem == "mod" {
        String::new()
    } else {
        stem.replace('/', "::")
    }
}

/// Which modules each module (a file) uses, from the code compiled outside tests.
fn module_graph(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let scanned: BTreeMap<String, Scan> = files
        .iter()
        .map(|(path, text)| (module_of(path), scan(&tokens(text))))
        .collect();
    // A file counts only if its parent declares it outside `#[cfg(test)]` (test-only files drop out).
    let declared = |module: &str| -> bool {
        module.is_empty() || {
            let (parent, name) = module.rsplit_once("::").unwrap_or(("", module));
            scanned
                .get(parent)
                .is_some_and(|p| p.declared.contains(name))
        }
    };
    let modules: BTreeSet<String> = scanned
        .keys()
        .filter(|m| {
            let mut prefix = String::new();
            m.split("::").all(|seg| {
                prefix = if prefix.is_empty() {
                    seg.to_string()
                } else {
                    format!("{prefix}::{seg}")
                };
                declared(&prefix)
            })
        })
        .cloned()
        .collect();
    let resolve = |path: &[String]| -> String {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|candidate| modules.contains(candidate))
            .unwrap_or_default()
    };
    let mut graph = BTreeMap::new();
    for module in &modules {
        let here: Vec<String> = module
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let mut used = BTreeSet::new();
        for reference in &scanned[module].paths {
            let mut base: Vec<String> = here.iter().chain(&reference.inline).cloned().collect();
            let segs = &reference.segments;
            let absolute = match segs.first().map(String::as_str) {
                Some("crate") => segs[1..].to_vec(),
                Some("super") | Some("self") => {
                    let mut rest = segs.as_slice();
                    while let Some(first) = rest.first() {
                        match first.as_str() {
                            "super" => {
                                base.pop();
                            }
                            "self" => {}
                            _ => break,
                        }
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    base
                }
                // `use child::…` names a child module of the file it is in.
                Some(first) if reference.in_use && reference.inline.is_empty() => {
                    let child = if module.is_empty() {
                        first.to_string()
                    } else {
                        format!("{module}::{first}")
                    };
                    if !modules.contains(&child) {
                        continue;
                    }
                    base.extend(segs.iter().cloned());
                    base
                }
                _ => continue,
            };
            let target = resolve(&absolute);
            if !target.is_empty() && &target != module {
                used.insert(target);
            }
        }
        graph.insert(module.clone(), used);
    }
    graph
}

/// Edges from one top-level module to another that is not in a lower layer (or in no layer).
fn layer_violations(
    graph: &BTreeMap<String, BTreeSet<String>>,
    layers: &[Vec<String>],
) -> Vec<(String, String)> {
    let rank = |module: &str| {
        layers
            .iter()
            .position(|layer| layer.iter().any(|m| m == top(module)))
    };
    let mut out = Vec::new();
    for (from, used) in graph {
        for to in used {
            if from.is_empty() || top(from) == top(to) {
                continue;
            }
            match (rank(from), rank(to)) {
                (Some(a), Some(b)) if a < b => {}
                _ => out.push((from.clone(), to.clone())),
            }
        }
    }
    out
}

/// For every folder below the crate root: cycles among its children (a child's whole subtree counts
/// as the child; the folder's own `mod.rs`, its face, may use and re-export its children). Each cycle
/// is listed by its members, sorted.
fn folder_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let folders: BTreeSet<&str> = graph
        .keys()
        .filter_map(|m| m.rsplit_once("::").map(|(parent, _)| parent))
        .collect();
    let mut cycles = Vec::new();
    for folder in folders {
        let prefix = format!("{folder}::");
        let child = |m: &str| -> Option<String> {
            let rest = m.strip_prefix(&prefix)?;
            Some(format!("{prefix}{}", rest.split("::").next()?))
        };
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, used) in graph {
            let Some(a) = child(from) else { continue };
            let out = edges.entry(a.clone()).or_default();
            for b in used.iter().filter_map(|to| child(to)) {
                if b != a {
                    out.insert(b);
                }
            }
        }
        cycles.extend(
            strongly_connected(&edges)
                .into_iter()
                .filter(|c| c.len() > 1),
        );
    }
    cycles
}

/// Tarjan's strongly connected components, members sorted.
fn strongly_connected(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.out
}

/// A path met in a file: its segments, the inline modules it sits in, and whether a `use` holds it.
struct Reference {
    segments: Vec<String>,
    inline: Vec<String>,
    in_use: bool,
}

struct Scan {
    /// `mod NAME;` declarations (children in their own files).
    declared: BTreeSet<String>,
    paths: Vec<Reference>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path, // `::`
    Punct(char),
}

/// Identifiers and punctuation, without comments, string/char literals and lifetimes.
fn tokens(text: &str) -> Vec<Tok> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}'), else a lifetime or label.
            if next == Some('\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // Raw and byte strings: r"…", r#"…"#, b"…", br"…", b'…'.
            let raw =
                matches!(word.as_str(), "r" | "br") && matches!(c.get(i), Some('"') | Some('#'));
            let raw_ident = word == "r"
                && c.get(i) == Some(&'#')
                && c.get(i + 1).is_some_and(|n| n.is_alphabetic());
            if raw_ident {
                // `r#type`: an identifier, skipped with the next word.
                i += 1;
            } else if raw {
                let mut hashes = 0;
                while c.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                i += 1;
                while i < c.len()
                    && !(c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')))
                {
                    i += 1;
                }
                i += 1 + hashes;
            } else if word == "b" && matches!(c.get(i), Some('"') | Some('\'')) {
                // The literal itself is skipped on the next turn.
            } else {
                out.push(Tok::Ident(word));
            }
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::Path);
            i += 2;
        } else {
            if !ch.is_whitespace() {
                out.push(Tok::Punct(ch));
            }
            i += 1;
        }
    }
    out
}

fn scan(toks: &[Tok]) -> Scan {
    let mut scan = Scan {
        declared: BTreeSet::new(),
        paths: Vec::new(),
    };
    // Inline modules open: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let ident = |i: usize| match toks.get(i) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    while i < toks.len() {
        if is_cfg_test(toks, i) {
            i = skip_item(toks, skip_attributes(toks, i));
            continue;
        }
        match &toks[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(w) if w == "mod" => {
                if let Some(name) = ident(i + 1) {
                    match toks.get(i + 2) {
                        Some(Tok::Punct(';')) if inline.is_empty() => {
                            scan.declared.insert(name.to_string());
                        }
                        Some(Tok::Punct('{')) => {
                            inline.push((name.to_string(), depth + 1));
                        }
                        _ => {}
                    }
                }
            }
            Tok::Ident(w) if w == "use" => {
                let end = (i..toks.len())
                    .find(|&j| toks[j] == Tok::Punct(';'))
                    .unwrap_or(toks.len());
                let names: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                for segments in use_tree(&toks[i + 1..end], &[]) {
                    scan.paths.push(Reference {
                        segments,
                        inline: names.clone(),
                        in_use: true,
                    });
                }
                i = end;
                continue;
            }
            Tok::Ident(w)
                if matches!(w.as_str(), "crate" | "super" | "self")
                    && toks.get(i + 1) == Some(&Tok::Path) =>
            {
                let previous_is_path = i > 0 && toks[i - 1] == Tok::Path;
                let mut segments = vec![w.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::Path) {
                    match ident(j + 1) {
                        Some(seg) => segments.push(seg.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                if !previous_is_path {
                    let names = inline.iter().map(|(n, _)| n.clone()).collect();
                    scan.paths.push(Reference {
                        segments,
                        inline: names,
                        in_use: false,
                    });
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    scan
}

fn is_cfg_test(toks: &[Tok], i: usize) -> bool {
    let want = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    toks.len() >= i + want.len() && toks[i..i + want.len()] == want
}

/// Past the attributes starting at `i` (`#[…]`, brackets balanced).
fn skip_attributes(toks: &[Tok], mut i: usize) -> usize {
    while toks.get(i) == Some(&Tok::Punct('#')) && toks.get(i + 1) == Some(&Tok::Punct('[')) {
        let mut depth = 0;
        i += 1;
        while i < toks.len() {
            match toks[i] {
                Tok::Punct('[') => depth += 1,
                Tok::Punct(']') => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    i
}

/// Past the item starting at `i`: its `;` or its braced body.
fn skip_item(toks: &[Tok], mut i: usize) -> usize {
    let mut depth = 0;
    while i < toks.len() {
        match toks[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// The paths a `use` tree names: `a::b::{c, d::{e, f as g}, self}` gives a::b::c, a::b::d::e, …
fn use_tree(toks: &[Tok], prefix: &[String]) -> Vec<Vec<String>> {
    let mut path = prefix.to_vec();
    let mut i = 0;
    let toks = match toks.first() {
        Some(Tok::Path) => &toks[1..],
        _ => toks,
    };
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(w) if w == "as" => break,
            Tok::Ident(w) => path.push(w.clone()),
            Tok::Path => {}
            Tok::Punct('{') => {
                let mut out = Vec::new();
                let (mut depth, mut start) = (0, i + 1);
                for j in i..toks.len() {
                    match toks[j] {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') | Tok::Punct(',') if depth == 1 => {
                            if j > start {
                                out.extend(use_tree(&toks[start..j], &path));
                            }
                            start = j + 1;
                            if toks[j] == Tok::Punct('}') {
                                break;
                            }
                        }
                        Tok::Punct('}') => depth -= 1,
                        _ => {}
                    }
                }
                return out;
            }
            _ => break,
        }
        i += 1;
    }
    vec![path]
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
