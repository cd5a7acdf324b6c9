//! The module graph of `src/`: which module uses which, the layer check and the folder cycles.

use super::source::{scan, tokens, Scan};
use std::collections::{BTreeMap, BTreeSet};

/// `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` is the crate root, "".
pub fn module_of(path: &str) -> String {
    let stem = path.trim_end_matches(".rs");
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" || stem == "mod" {
        String::new()
    } else {
        stem.replace('/', "::")
    }
}

/// Which modules each module (a file) uses, from the code compiled outside tests.
pub fn module_graph(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let scanned: BTreeMap<String, Scan> = files
        .iter()
        .map(|(path, text)| (module_of(path), scan(&tokens(text))))
        .collect();
    let modules = declared_modules(&scanned);
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

/// The modules reachable from the crate root through `mod NAME;` outside `#[cfg(test)]` (so
/// test-only files drop out).
fn declared_modules(scanned: &BTreeMap<String, Scan>) -> BTreeSet<String> {
    let declared = |module: &str| -> bool {
        module.is_empty() || {
            let (parent, name) = module.rsplit_once("::").unwrap_or(("", module));
            scanned
                .get(parent)
                .is_some_and(|p| p.declared.contains(name))
        }
    };
    scanned
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
        .collect()
}

/// Edges from one top-level module to another that is not in a lower layer (or in no layer).
pub fn layer_violations(
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
pub fn folder_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
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

/// The top-level module of a module path.
pub fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}
