//! `oryx plan FILE`: compile a topology and show the plan as a text tree or canonical JSON, the
//! changes against an older file (`--diff`), or the worker a stream goes to (`--route`).
//!
//! With several options, `--route` wins over `--diff`, which wins over the plain plan; `--json`
//! switches any of them to JSON.

use super::args::{EmitTarget, PlanArgs};
use crate::compile::load::LoadOptions;
use crate::compile::{self, plan::Plan, render, report};
use crate::route;
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::Path;

pub fn run(args: &PlanArgs) -> i32 {
    if let Some(EmitTarget::Kubernetes) = args.emit {
        return match load_text(&args.file, args.env.as_deref()) {
            Ok((plan, text)) => {
                let env = args.env.as_deref();
                print!(
                    "{}",
                    compile::emit::kubernetes::manifests(&plan, &text, env)
                );
                0
            }
            Err(code) => code,
        };
    }
    let plan = match load(&args.file, args.env.as_deref()) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    if let Some(EmitTarget::Systemd) = args.emit {
        print!(
            "{}",
            compile::emit::systemd::text(&plan, args.env.as_deref())
        );
        return 0;
    }
    if let Some(spec) = &args.route {
        return show_route(&plan, spec, args.json);
    }
    if let Some(old_file) = &args.diff {
        let old_env = match args.old_env.as_deref() {
            Some("") => None,
            Some(name) => Some(name),
            None => args.env.as_deref(),
        };
        let old = match load(old_file, old_env) {
            Ok(plan) => plan,
            Err(code) => return code,
        };
        let changes = old.diff(&plan);
        if args.json {
            let document = json!({
                "old_digest": old.digest(),
                "new_digest": plan.digest(),
                "changes": changes,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            );
        } else {
            print!("{}", render::diff_text(&old, &plan, &changes));
        }
        return 0;
    }
    if args.json {
        println!("{}", json_with_digest(&plan));
    } else {
        print!("{}", render::plan_text(&plan));
    }
    0
}

/// The canonical JSON with a `"digest"` key (of the JSON without it) added; keys stay sorted.
pub fn json_with_digest(plan: &Plan) -> String {
    let mut value: Value = serde_json::from_str(&plan.canonical_json()).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("digest".into(), Value::String(plan.digest()));
    }
    serde_json::to_string(&value).unwrap_or_default()
}

/// Compile `file`; diagnostics go to stderr. Errors map to exit codes (2 unreadable, 1 invalid).
fn load(file: &Path, env: Option<&str>) -> Result<Plan, i32> {
    load_text(file, env).map(|(plan, _)| plan)
}

/// [`load`], with the topology's text (what the emitters ship).
fn load_text(file: &Path, env: Option<&str>) -> Result<(Plan, String), i32> {
    let options = LoadOptions {
        env,
        ..LoadOptions::default()
    };
    let compilation = compile::load::load(Some(file), &options).map_err(|err| {
        eprintln!("oryx plan: {err}");
        super::EXIT_USAGE
    })?;
    if !compilation.diagnostics.is_empty() {
        let color = report::use_color(std::io::stderr().is_terminal());
        eprint!(
            "{}",
            report::render_human(
                &compilation.name,
                &compilation.text,
                &compilation.diagnostics,
                color
            )
        );
    }
    let text = compilation.text;
    compilation.plan.map(|plan| (plan, text)).ok_or(1)
}

/// `--route` with an edge tier: the origin that takes the stream's publisher, and the edges its
/// players use, in the order the stream spreads over them (a cold stream uses the first only).
fn show_edge_route(plan: &Plan, key: &str, candidates: &[String], as_json: bool) -> i32 {
    let (edges, origins): (Vec<&String>, Vec<&String>) = candidates
        .iter()
        .partition(|name| plan.worker(name).is_some_and(|w| w.origin.is_some()));
    let origins = route::rank(key, &origins);
    let edges = route::rank(key, &edges);
    let host = |name: &str| plan.worker(name).and_then(|w| w.host.clone());
    let share = |name: &str| {
        plan.worker(name)
            .and_then(|w| w.edge_share)
            .unwrap_or(route::DEFAULT_EDGE_SHARE)
    };
    // The stream's first edge's share: one group behind the LB (the usual case) has one.
    let first_share = edges
        .first()
        .map_or(route::DEFAULT_EDGE_SHARE, |e| share(e));
    let mixed = edges.iter().any(|e| share(e) != first_share);
    if as_json {
        let document = json!({
            "key": key,
            "worker": origins.first(),
            "fallbacks": origins.get(1..).unwrap_or_default(),
            "host": origins.first().and_then(|o| host(o)),
            "edges": edges
                .iter()
                .map(|e| json!({"worker": e, "host": host(e), "edge_share": share(e)}))
                .collect::<Vec<_>>(),
            "edge_share": first_share,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return 0;
    }
    println!("route {key}");
    let line = |i: usize, name: &str, role: &str| {
        let rtmp = plan
            .worker(name)
            .map(|w| w.rtmp.to_string())
            .unwrap_or_default();
        let host = host(name)
            .map(|h| format!("host {h:<10} "))
            .unwrap_or_default();
        println!("  {}. {name:<16} {host}rtmp {rtmp}  {role}", i + 1);
    };
    println!(" publishers → origin");
    for (i, name) in origins.iter().enumerate() {
        line(i, name, if i == 0 { "serves" } else { "fallback" });
    }
    if mixed {
        println!(" players → edges (one more when the edges in use hold their shares)");
    } else {
        println!(" players → edges (one more per {first_share} players of the stream)");
    }
    for (i, name) in edges.iter().enumerate() {
        let role = if i == 0 { "first" } else { "then" };
        if mixed {
            line(i, name, &format!("{role}, share {}", share(name)));
        } else {
            line(i, name, role);
        }
    }
    0
}

fn show_route(plan: &Plan, spec: &str, as_json: bool) -> i32 {
    let Some(key) = route::parse_route(spec) else {
        eprintln!("oryx plan: --route wants VHOST/APP/STREAM or APP/STREAM, got \"{spec}\"");
        return super::EXIT_USAGE;
    };
    let candidates: Vec<String> = match &plan.rtmp_lb {
        Some(lb) => lb.workers.clone(),
        None => plan.workers.iter().map(|w| w.name.clone()).collect(),
    };
    if candidates.is_empty() {
        eprintln!("oryx plan: no worker to route to");
        return 1;
    }
    if candidates
        .iter()
        .any(|name| plan.worker(name).is_some_and(|w| w.origin.is_some()))
    {
        return show_edge_route(plan, &key, &candidates, as_json);
    }
    let ranked = route::rank(&key, &candidates);
    if as_json {
        let mut document = json!({"key": key, "worker": ranked[0], "fallbacks": &ranked[1..]});
        if let Some(host) = plan.worker(ranked[0]).and_then(|w| w.host.as_ref()) {
            document["host"] = json!(host);
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return 0;
    }
    println!("route {key}");
    for (i, name) in ranked.iter().enumerate() {
        let rtmp = plan
            .worker(name)
            .map(|w| w.rtmp.to_string())
            .unwrap_or_default();
        let role = if i == 0 { "serves" } else { "fallback" };
        let host = plan
            .worker(name)
            .and_then(|w| w.host.as_ref())
            .map(|h| format!("host {h:<10} "))
            .unwrap_or_default();
        println!("  {}. {name:<16} {host}rtmp {rtmp}  {role}", i + 1);
    }
    0
}
