//! Stream rules and ingests across the topology: patterns given twice, ingests that collide or have
//! nowhere to land, missing ffmpeg; then their plan entries (paths resolved, defaults filled).

use super::super::decode::{IngestDecl, RuleDecl, Topology};
use super::super::diagnostic::{Diagnostic, DiagnosticKind, Span};
use super::super::fields::Ctx;
use super::super::native::{self, Part};
use super::super::plan::*;
use super::validate::binary_exists;
use super::{resolve_path, Environment};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The program transcodes and ingests run when no `binary=` is given.
pub const DEFAULT_FFMPEG: &str = "ffmpeg";

/// Every check across rules and ingests.
pub(super) fn validate(topology: &Topology, environment: &Environment<'_>, ctx: &mut Ctx) {
    let mut patterns: HashMap<&str, Span> = HashMap::new();
    for rule in &topology.rules {
        let pattern = rule.pattern.value.as_str();
        match patterns.get(pattern) {
            Some(first) => ctx.push(
                Diagnostic::new(DiagnosticKind::DuplicateName {
                    what: "stream rule",
                    name: pattern.into(),
                })
                .label(
                    rule.pattern.span,
                    "the same pattern again: this rule never applies",
                )
                .label(*first, "this rule applies first"),
            ),
            None => {
                patterns.insert(pattern, rule.pattern.span);
            }
        }
        if let Some(transcode) = &rule.transcode {
            let (binary, span) = transcode
                .binary
                .as_ref()
                .map_or((DEFAULT_FFMPEG, transcode.span), |b| (&b.value, b.span));
            warn_missing(binary, "transcode", span, environment, ctx);
        }
    }
    check_ingests(topology, environment, ctx);
    check_external_kinds(topology, environment, ctx);
}

/// Every rule runs on every worker: each external kind present must be able to carry it out.
fn check_external_kinds(topology: &Topology, environment: &Environment<'_>, ctx: &mut Ctx) {
    if topology.rules.is_empty() {
        return;
    }
    let rules = stream_rules(&topology.rules, environment.base_dir);
    for kind in [WorkerKind::NginxRtmp, WorkerKind::Srs] {
        let Some(worker) = topology.workers.iter().find(|w| w.kind == kind) else {
            continue;
        };
        let problems = match kind {
            WorkerKind::NginxRtmp => native::nginx(&rules, 0).1,
            _ => native::srs(&rules, 0).1,
        };
        for problem in problems {
            let decl = &topology.rules[problem.rule];
            let span = match problem.part {
                Part::Pattern => decl.pattern.span,
                Part::Record => decl
                    .record
                    .as_ref()
                    .map_or(decl.pattern.span, |r| r.path.span),
                Part::Forward(i) => decl.forwards[i].url.span,
                Part::Transcode => decl
                    .transcode
                    .as_ref()
                    .map_or(decl.pattern.span, |t| t.span),
                Part::Exec(i) => decl.exec[i].span,
                Part::OnRecord => decl.on_record.first().map_or(decl.pattern.span, |u| u.span),
            };
            ctx.push(
                Diagnostic::new(DiagnosticKind::UnsupportedOnKind {
                    what: problem.what,
                    kind: kind.as_str(),
                    help: problem.help,
                })
                .label(
                    span,
                    format!(
                        "{} worker \"{}\" runs this rule",
                        kind.as_str(),
                        worker.name.value
                    ),
                )
                .label(worker.name.span, format!("kind=\"{}\"", kind.as_str())),
            );
        }
    }
}

fn check_ingests(topology: &Topology, environment: &Environment<'_>, ctx: &mut Ctx) {
    let mut streams: HashMap<&str, Span> = HashMap::new();
    let mut names: HashMap<String, Span> = HashMap::new();
    for ingest in &topology.ingests {
        let stream = ingest.stream.value.as_str();
        if let Some(first) = streams.get(stream) {
            ctx.push(
                Diagnostic::new(DiagnosticKind::DuplicateName {
                    what: "ingest",
                    name: stream.into(),
                })
                .label(ingest.stream.span, "publishes this stream again")
                .label(*first, "first publishes it"),
            );
            continue;
        }
        streams.insert(stream, ingest.stream.span);
        let name = role_name(ingest);
        let span = ingest.name.as_ref().map_or(ingest.stream.span, |n| n.span);
        if let Some(first) = names.get(&name) {
            ctx.push(
                Diagnostic::new(DiagnosticKind::DuplicateName {
                    what: "ingest role",
                    name: name.clone(),
                })
                .label(span, format!("role `{name}` again"))
                .label(*first, format!("first role `{name}`")),
            );
        } else {
            names.insert(name, span);
        }
        if ingest.needs_ffmpeg() {
            let (binary, span) = ingest
                .binary
                .as_ref()
                .map_or((DEFAULT_FFMPEG, ingest.from.span), |b| (&b.value, b.span));
            warn_missing(binary, "ingest", span, environment, ctx);
        }
    }
    let lands = topology.rtmp_lb.is_some()
        || topology
            .workers
            .iter()
            .any(|w| w.kind == WorkerKind::Embedded);
    if let (false, Some(first)) = (lands, topology.ingests.first()) {
        ctx.push(
            Diagnostic::new(DiagnosticKind::NoWorkers {
                lb: format!("ingest \"{}\"", first.stream.value),
            })
            .label(
                first.span,
                "publishes through an rtmp-lb or to an embedded worker; there is neither",
            ),
        );
    }
}

fn warn_missing(
    binary: &str,
    kind: &'static str,
    span: Span,
    environment: &Environment<'_>,
    ctx: &mut Ctx,
) {
    if environment.check_files && !binary_exists(binary, environment.base_dir) {
        ctx.push(
            Diagnostic::new(DiagnosticKind::MissingBinary {
                binary: binary.into(),
                kind,
            })
            .label(span, "not found"),
        );
    }
}

/// `name=`, else the stream with `/` → `-`.
fn role_name(ingest: &IngestDecl) -> String {
    ingest.role_name().replace('/', "-")
}

/// A program given by name stays a name (PATH); a path is relative to the topology file.
fn program(binary: Option<&str>, base: &std::path::Path) -> String {
    match binary {
        Some(path) if path.contains('/') => resolve_path(base, path),
        Some(name) => name.to_string(),
        None => DEFAULT_FFMPEG.to_string(),
    }
}

/// The rules as every worker gets them, in file order.
pub fn stream_rules(rules: &[RuleDecl], base: &std::path::Path) -> Vec<StreamRule> {
    rules
        .iter()
        .map(|rule| StreamRule {
            pattern: rule.pattern.value.clone(),
            record: rule.record.as_ref().map(|record| RecordRule {
                path: resolve_path(base, &record.path.value),
                format: record.format,
                segment_ms: record.segment_ms.as_ref().map(|s| s.value),
            }),
            forwards: rule
                .forwards
                .iter()
                .map(|forward| ForwardTarget {
                    url: forward.url.value.clone(),
                    ca: forward.ca.as_ref().map(|ca| resolve_path(base, &ca.value)),
                })
                .collect(),
            transcode: rule.transcode.as_ref().map(|transcode| TranscodeRule {
                binary: program(transcode.binary.as_ref().map(|b| b.value.as_str()), base),
                renditions: transcode.renditions.clone(),
            }),
            exec: rule.exec.iter().map(|e| e.value.clone()).collect(),
            on_record: rule.on_record.iter().map(|u| u.value.clone()).collect(),
        })
        .collect()
}

/// The ingest roles, each with its control port.
pub(super) fn ingest_plans(
    ingests: &[IngestDecl],
    controls: &[SocketAddr],
    base: &std::path::Path,
) -> Vec<IngestPlan> {
    ingests
        .iter()
        .zip(controls)
        .map(|(ingest, control)| {
            let from = &ingest.from.value;
            IngestPlan {
                name: role_name(ingest),
                stream: ingest.stream.value.clone(),
                // A file path is relative to the topology file, like every path in it.
                from: if from.contains("://") {
                    from.clone()
                } else {
                    resolve_path(base, from)
                },
                looping: ingest.looping,
                binary: program(ingest.binary.as_ref().map(|b| b.value.as_str()), base),
                control: *control,
            }
        })
        .collect()
}
