//! The `env "NAME" { … }` overlay: merges one environment's nodes over the base document.
//!
//! Nodes match by name, and by their name argument for named nodes (`worker "live"`, `static "site"`,
//! `proxy "/api/"`, `stream "live/*"`, `ingest "live/lobby"`, `rendition "360p"`). A matching node's arguments, properties and children are replaced one by one, so
//! `env "dev" { rtmp-lb listen="127.0.0.1:1935" }` changes only `listen`. Repeatable settings (`domain`,
//! `cert`, hook URLs, `forward`, `exec`…) given in an overlay replace the base list as a whole. Other nodes are appended.

use super::diagnostic::{suggest, Diagnostic, DiagnosticKind};
use super::fields::{name_span, Ctx};
use kdl::{KdlDocument, KdlNode};
use std::borrow::Cow;

/// Nodes identified by their first argument as well as their name.
const NAMED: &[&str] = &[
    "worker",
    "static",
    "proxy",
    "stream",
    "ingest",
    "rendition",
    "host",
];
/// Nodes that may repeat and form one list together.
const LISTS: &[&str] = &[
    "domain",
    "contact",
    "cert",
    "on-publish",
    "on-unpublish",
    "on-play",
    "on-stop",
    "workers",
    "forward",
    "exec",
    "on-record",
];

/// The names of every `env` block, in file order.
pub fn env_names(doc: &KdlDocument) -> Vec<String> {
    doc.nodes()
        .iter()
        .filter(|n| n.name().value() == "env")
        .filter_map(|n| n.entries().first())
        .filter(|e| e.name().is_none())
        .filter_map(|e| e.value().as_string().map(str::to_string))
        .collect()
}

/// Check the `env` nodes themselves (a name, no duplicates); returns nothing, only reports.
pub fn check_env_nodes(doc: &KdlDocument, ctx: &mut Ctx) {
    let mut seen: Vec<(String, kdl::KdlEntry)> = Vec::new();
    for node in doc.nodes().iter().filter(|n| n.name().value() == "env") {
        let name = node
            .entries()
            .first()
            .filter(|e| e.name().is_none())
            .and_then(|e| e.value().as_string().map(|s| (s.to_string(), e.clone())));
        let Some((name, entry)) = name else {
            ctx.error_at(
                DiagnosticKind::MissingSetting {
                    node: "env".into(),
                    setting: "a name".into(),
                    example: "`env \"dev\" { … }`".into(),
                },
                name_span(node),
                "no name",
            );
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            ctx.push(Diagnostic::duplicate_name(
                "environment",
                &name,
                entry.span().into(),
                first.span().into(),
            ));
            continue;
        }
        for extra in node.entries().iter().skip(1) {
            ctx.error_at(
                DiagnosticKind::UnexpectedArgument {
                    node: "env".into(),
                    takes: 1,
                },
                extra.span().into(),
                "unexpected",
            );
        }
        for child in node.iter_children() {
            if matches!(child.name().value(), "oryx" | "env") {
                ctx.error_at(
                    DiagnosticKind::NotAllowedInEnv {
                        node: child.name().value().into(),
                    },
                    name_span(child),
                    "not allowed here",
                );
            }
        }
        seen.push((name, entry));
    }
}

/// The document with `env`'s overlay applied (borrowed unchanged when `env` is `None`).
/// An unknown `env` is reported and the base document is returned.
pub fn apply<'a>(doc: &'a KdlDocument, env: Option<&str>, ctx: &mut Ctx) -> Cow<'a, KdlDocument> {
    let Some(env) = env else {
        return Cow::Borrowed(doc);
    };
    let names = env_names(doc);
    let overlay = doc.nodes().iter().find(|n| {
        n.name().value() == "env"
            && n.entries().first().and_then(|e| e.value().as_string()) == Some(env)
    });
    let Some(overlay) = overlay else {
        ctx.push(Diagnostic::new(DiagnosticKind::UnknownEnv {
            name: env.into(),
            suggestion: suggest(env, &names),
            known: names,
        }));
        return Cow::Borrowed(doc);
    };
    let mut base = doc.clone();
    if let Some(children) = overlay.children() {
        let allowed: Vec<KdlNode> = children
            .nodes()
            .iter()
            .filter(|n| !matches!(n.name().value(), "oryx" | "env"))
            .cloned()
            .collect();
        merge_nodes(&mut base, &allowed);
    }
    Cow::Owned(base)
}

fn identity(node: &KdlNode) -> (String, Option<String>) {
    let name = node.name().value().to_string();
    let key = if NAMED.contains(&name.as_str()) {
        node.entries()
            .iter()
            .find(|e| e.name().is_none())
            .map(|e| e.value().to_string())
    } else {
        None
    };
    (name, key)
}

fn merge_nodes(base: &mut KdlDocument, overlay: &[KdlNode]) {
    let mut replaced_lists: Vec<String> = Vec::new();
    for node in overlay {
        let name = node.name().value().to_string();
        if LISTS.contains(&name.as_str()) {
            if !replaced_lists.contains(&name) {
                base.nodes_mut().retain(|n| n.name().value() != name);
                replaced_lists.push(name);
            }
            base.nodes_mut().push(node.clone());
            continue;
        }
        let id = identity(node);
        match base.nodes_mut().iter_mut().find(|n| identity(n) == id) {
            Some(target) => merge_node(target, node),
            None => base.nodes_mut().push(node.clone()),
        }
    }
}

fn merge_node(target: &mut KdlNode, overlay: &KdlNode) {
    let overlay_args: Vec<_> = overlay
        .entries()
        .iter()
        .filter(|e| e.name().is_none())
        .cloned()
        .collect();
    if !overlay_args.is_empty() {
        let props: Vec<_> = target
            .entries()
            .iter()
            .filter(|e| e.name().is_some())
            .cloned()
            .collect();
        *target.entries_mut() = overlay_args.into_iter().chain(props).collect();
    }
    for prop in overlay.entries().iter().filter(|e| e.name().is_some()) {
        let key = prop
            .name()
            .map(|k| k.value().to_string())
            .unwrap_or_default();
        target
            .entries_mut()
            .retain(|e| e.name().map(|k| k.value()) != Some(key.as_str()));
        if let Some(children) = target.children_mut() {
            children.nodes_mut().retain(|n| n.name().value() != key);
        }
        target.entries_mut().push(prop.clone());
    }
    if let Some(children) = overlay.children() {
        for child in children.nodes() {
            let key = child.name().value().to_string();
            target
                .entries_mut()
                .retain(|e| e.name().map(|k| k.value()) != Some(key.as_str()));
        }
        let nodes: Vec<KdlNode> = children.nodes().to_vec();
        merge_nodes(target.ensure_children(), &nodes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(text: &str, env: &str) -> String {
        let doc = KdlDocument::parse_v2(text).unwrap();
        let mut ctx = Ctx::default();
        let mut out = apply(&doc, Some(env), &mut ctx).into_owned();
        assert!(ctx.diagnostics.is_empty(), "{:?}", ctx.diagnostics);
        out.nodes_mut().retain(|n| n.name().value() != "env");
        out.clear_format_recursive();
        out.to_string()
    }

    #[test]
    fn overlay_replaces_only_given_settings() {
        let out = merged(
            "rtmp-lb listen=\"0.0.0.0:1935\" workers=\"a\"\nenv \"dev\" { rtmp-lb listen=\"127.0.0.1:1935\"; }\n",
            "dev",
        );
        assert!(out.contains("listen=\"127.0.0.1:1935\""), "{out}");
        assert!(out.contains("workers=a"), "{out}");
        assert!(!out.contains("0.0.0.0"), "{out}");
    }

    #[test]
    fn property_in_overlay_replaces_child_setting() {
        let out = merged(
            "static \"s\" { root \"./a\"; }\nenv \"dev\" { static \"s\" root=\"./b\"; }\n",
            "dev",
        );
        assert!(out.contains("root=\"./b\""), "{out}");
        assert!(!out.contains("./a"), "{out}");
    }

    #[test]
    fn named_nodes_match_by_name_and_new_ones_are_added() {
        let out = merged(
            "worker \"a\"\nenv \"prod\" { worker \"a\" count=3; worker \"b\"; }\n",
            "prod",
        );
        assert!(out.contains("worker a count=3"), "{out}");
        assert!(out.contains("worker b"), "{out}");
    }

    #[test]
    fn unknown_env_is_reported_with_suggestion() {
        let doc = KdlDocument::parse_v2("env \"prod\" {}\n").unwrap();
        let mut ctx = Ctx::default();
        apply(&doc, Some("prd"), &mut ctx);
        assert_eq!(ctx.diagnostics[0].code(), "oryx::unknown-env");
        assert!(ctx.diagnostics[0].help().unwrap().contains("prod"));
    }
}
