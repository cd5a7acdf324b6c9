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
                host: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::compile::plan::{Plan, RecordFormat};
    use crate::compile::{compile, Compilation, Options};

    fn compile_in(text: &str, env: Option<&str>, check_files: bool) -> Compilation {
        let options = Options {
            env: env.map(str::to_string),
            base_dir: "/srv/oryx".into(),
            check_files,
        };
        compile("t.kdl", text, &options)
    }

    fn plan(text: &str) -> Plan {
        let c = compile_in(text, None, false);
        let rendered = c.render_plain();
        c.plan.unwrap_or_else(|| panic!("{rendered}"))
    }

    fn codes(c: &Compilation) -> Vec<&'static str> {
        c.diagnostics.iter().map(|d| d.code()).collect()
    }

    const RULES: &str = r#"oryx 1
worker "a" count=2
stream "rec/*" {
    record path="rec/{app}/{stream}/{start}.mp4" segment="10m"
    hooks { on-record "http://127.0.0.1:8085/recorded"; }
}
stream "live/*" {
    forward "rtmp://backup.example.com/live/{stream}"
    forward "rtmps://live-api-s.facebook.com:443/rtmp/{stream}" ca="ca.pem"
    transcode {
        rendition "720p" size="1280x720" video-bitrate="2.5M" audio-bitrate="128k"
        rendition "360p" size="640x360" video-bitrate=800000
    }
    exec "/usr/local/bin/thumbnailer {url}"
    exec "/bin/true"
}
"#;

    #[test]
    fn rules_reach_every_worker_in_file_order_with_paths_resolved() {
        let plan = plan(RULES);
        assert_eq!(plan.workers.len(), 2);
        assert_eq!(plan.workers[0].stream.rules, plan.workers[1].stream.rules);
        let rules = &plan.workers[0].stream.rules;
        assert_eq!(rules[0].pattern, "rec/*");
        let record = rules[0].record.as_ref().unwrap();
        assert_eq!(record.path, "/srv/oryx/rec/{app}/{stream}/{start}.mp4");
        assert_eq!(record.format, RecordFormat::Mp4);
        assert_eq!(record.segment_ms, Some(600_000));
        assert_eq!(rules[0].on_record, ["http://127.0.0.1:8085/recorded"]);
        let live = &rules[1];
        assert_eq!(live.forwards.len(), 2);
        assert_eq!(live.forwards[1].ca.as_deref(), Some("/srv/oryx/ca.pem"));
        let transcode = live.transcode.as_ref().unwrap();
        assert_eq!(transcode.binary, "ffmpeg");
        let r = &transcode.renditions;
        assert_eq!(
            (r[0].width, r[0].height, r[0].video_bitrate),
            (1280, 720, 2_500_000)
        );
        assert_eq!(r[0].audio_bitrate, Some(128_000));
        assert_eq!((r[1].name.as_str(), r[1].video_bitrate), ("360p", 800_000));
        assert_eq!(r[1].audio_bitrate, None);
        assert_eq!(live.exec, ["/usr/local/bin/thumbnailer {url}", "/bin/true"]);
    }

    #[test]
    fn ingests_take_control_ports_below_the_other_fixed_roles() {
        let base = "oryx 1\nworker \"a\"\nrtmp-lb listen=\"0.0.0.0:1935\"\nstatic \"s\" { root \".\"; listen \"127.0.0.1:8081\"; }\n";
        let without = plan(base);
        let with = plan(&format!(
            "{base}ingest \"live/lobby\" from=\"rtmp://10.0.0.9/live/cam\"\ningest \"v/live/file\" from=\"media/loop.mp4\" loop=#true name=\"looper\" binary=\"bin/ffmpeg\"\n"
        ));
        // Nothing else moves: an added ingest is `hot` for every other role.
        let diff = without.diff(&with);
        let changed: Vec<(&str, &str)> = diff
            .iter()
            .map(|c| (c.role.as_str(), c.class.as_str()))
            .collect();
        assert_eq!(
            changed,
            [("ingest/live-lobby", "hot"), ("ingest/looper", "hot")]
        );
        let [lobby, file] = &with.ingests[..] else {
            panic!("{:?}", with.ingests)
        };
        assert_eq!(with.statics[0].control.port(), 19995);
        assert_eq!(lobby.control.port(), 19994);
        assert_eq!(file.control.port(), 19993);
        assert_eq!(lobby.stream, "live/lobby");
        assert_eq!(lobby.binary, "ffmpeg");
        assert!(!lobby.looping);
        assert_eq!(file.from, "/srv/oryx/media/loop.mp4");
        assert_eq!(file.binary, "/srv/oryx/bin/ffmpeg");
        assert!(file.looping);
        // Changing one restarts it; removing one stops it.
        let changed = plan(&format!(
            "{base}ingest \"live/lobby\" from=\"rtmp://10.0.0.10/live/cam\"\n"
        ));
        let classes: Vec<(String, &str)> = with
            .diff(&changed)
            .iter()
            .map(|c| (c.role.clone(), c.class.as_str()))
            .collect();
        assert_eq!(
            classes,
            [
                ("ingest/live-lobby".to_string(), "restart"),
                ("ingest/looper".to_string(), "restart")
            ]
        );
    }

    #[test]
    fn a_rule_change_is_hot_for_embedded_workers() {
        let old = plan(RULES);
        let new = plan(&RULES.replace("segment=\"10m\"", "segment=\"5m\""));
        let classes: Vec<&str> = old.diff(&new).iter().map(|c| c.class.as_str()).collect();
        assert_eq!(classes, ["hot", "hot"]);
        assert_eq!(old.diff(&new)[0].fields[0].path, "stream.rules");
    }

    #[test]
    fn env_overlays_merge_rules_by_pattern_and_add_ingests() {
        let text = format!(
            "{RULES}env \"dev\" {{\n    stream \"live/*\" {{\n        forward \"rtmp://127.0.0.1:1936/live/{{stream}}\"\n    }}\n    ingest \"live/test\" from=\"test.flv\" loop=#true\n}}\n"
        );
        let c = compile_in(&text, Some("dev"), false);
        let plan = c.plan.expect("valid");
        let live = &plan.workers[0].stream.rules[1];
        // `forward` is a list: the overlay's replaces the base's, the rest of the rule stays.
        assert_eq!(live.forwards.len(), 1);
        assert_eq!(live.forwards[0].url, "rtmp://127.0.0.1:1936/live/{stream}");
        assert_eq!(live.exec.len(), 2);
        assert_eq!(plan.ingests[0].name, "live-test");
    }

    #[test]
    fn an_ingest_needs_somewhere_to_publish() {
        let text = "oryx 1\nworker \"n\" kind=\"nginx-rtmp\" binary=\"/bin/sh\"\ningest \"live/a\" from=\"rtmp://h/live/a\"\n";
        assert_eq!(codes(&compile_in(text, None, false)), ["oryx::no-workers"]);
        let text = format!("{text}rtmp-lb listen=\"0.0.0.0:1935\"\n");
        assert!(codes(&compile_in(&text, None, false)).is_empty());
    }

    #[test]
    fn ffmpeg_is_looked_for_only_where_it_runs() {
        let text = "oryx 1\nworker \"a\"\ningest \"live/a\" from=\"rtmp://h/live/a\" binary=\"/nonexistent/ffmpeg\"\ningest \"live/b\" from=\"https://h/live/b.flv?t=1\" binary=\"/nonexistent/ffmpeg\"\ningest \"live/c\" from=\"https://h/live/c.m3u8\" binary=\"/nonexistent/ffmpeg\"\nstream \"live/*\" {\n    transcode binary=\"/nonexistent/ffmpeg\" { rendition \"x\" size=\"640x360\" video-bitrate=\"1M\"; }\n}\n";
        let c = compile_in(text, None, true);
        let found: Vec<(&str, String)> = c
            .diagnostics
            .iter()
            .map(|d| {
                let span = d.labels[0].span;
                (
                    d.code(),
                    text[span.offset..span.offset + span.length].to_string(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "oryx::missing-binary",
                    "binary=\"/nonexistent/ffmpeg\"".to_string()
                ),
                (
                    "oryx::missing-binary",
                    "binary=\"/nonexistent/ffmpeg\"".to_string()
                ),
            ]
        );
        assert!(c.diagnostics[0].message().contains("ingest"));
        assert!(c.diagnostics[1].message().contains("transcode"));
        assert!(c.plan.is_some(), "warnings only");
    }
}
