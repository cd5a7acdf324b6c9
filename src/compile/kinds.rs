//! What each worker kind can honour: the stream settings an external kind has no equivalent for are
//! reported where they are written (`oryx::ignored-on-kind`), so nobody relies on a setting that a
//! worker silently drops.

use super::decode::Topology;
use super::diagnostic::{Diagnostic, DiagnosticKind, Span};
use super::fields::Ctx;
use super::plan::WorkerKind;

/// The stream settings (named as in `StreamOverrides::spans`) `kind` cannot honour, each with the
/// help line of its warning. Everything else is translated into the kind's own configuration.
pub fn ignored_settings(kind: WorkerKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        WorkerKind::Srs => &[
            (
                "player-queue",
                "SRS bounds a player's queue in seconds of media (its `queue_length`, 30 s), not in bytes; remove it here, or set it on embedded workers only",
            ),
            (
                "http-flv wait",
                "SRS has no such wait: a `.flv` response ends with its publisher; remove it here, or set it on embedded workers only",
            ),
            (
                "hooks timeout",
                "SRS waits up to its fixed 30 s for a hook; remove it here, or set it on embedded workers only",
            ),
        ],
        WorkerKind::Embedded | WorkerKind::NginxRtmp => &[],
    }
}

/// Warn about every ignored setting written on a worker of a kind that ignores it, and every one in
/// `defaults` that such a worker inherits (once, naming the first such worker).
pub fn warn_ignored_settings(topology: &Topology, ctx: &mut Ctx) {
    let mut inherited: Vec<(Span, &'static str)> = Vec::new();
    for worker in &topology.workers {
        let kind = worker.kind.as_str();
        if let (Some(webrtc), false) = (&worker.webrtc, worker.kind == WorkerKind::Embedded) {
            let warning = DiagnosticKind::IgnoredOnKind {
                setting: "webrtc",
                kind,
                help: "WHEP/WHIP are served by embedded workers only; remove it here",
            };
            ctx.push(
                Diagnostic::new(warning).label(webrtc.span, format!("{kind} workers ignore it")),
            );
        }
        for (setting, help) in ignored_settings(worker.kind) {
            let warning = DiagnosticKind::IgnoredOnKind {
                setting,
                kind,
                help,
            };
            let own = worker.stream.spans.iter().find(|(name, _)| name == setting);
            if let Some((_, span)) = own {
                ctx.push(
                    Diagnostic::new(warning).label(*span, format!("{kind} workers ignore it")),
                );
                continue;
            }
            let from_defaults = topology
                .defaults
                .spans
                .iter()
                .find(|(name, _)| name == setting);
            if let Some((_, span)) = from_defaults {
                if inherited.contains(&(*span, kind)) {
                    continue;
                }
                inherited.push((*span, kind));
                ctx.push(
                    Diagnostic::new(warning)
                        .label(
                            *span,
                            format!("inherited by {kind} worker \"{}\"", worker.name.value),
                        )
                        .label(worker.name.span, format!("this worker is kind=\"{kind}\"")),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile, Options};

    fn warnings(text: &str) -> Vec<(String, String)> {
        let options = Options {
            env: None,
            base_dir: std::path::PathBuf::new(),
            check_files: false,
        };
        let compilation = compile("t.kdl", text, &options);
        assert!(compilation.plan.is_some(), "warnings only");
        compilation
            .diagnostics
            .iter()
            .filter(|d| d.code() == "oryx::ignored-on-kind")
            .map(|d| {
                let label = &d.labels[0];
                let at = &text[label.span.offset..label.span.offset + label.span.length];
                (d.message(), at.to_string())
            })
            .collect()
    }

    #[test]
    fn settings_srs_cannot_honour_are_flagged_where_written() {
        let text = "oryx 1\nworker \"s\" kind=\"srs\" player-queue=\"1MiB\" {\n    http-flv wait=\"2s\"\n    hooks { timeout \"1s\"; }\n}\n";
        let found = warnings(text);
        let messages: Vec<&str> = found.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`player-queue` has no effect on srs workers",
                "`http-flv wait` has no effect on srs workers",
                "`hooks timeout` has no effect on srs workers",
            ]
        );
        assert!(found[0].1.contains("player-queue"), "{:?}", found[0]);
        assert!(found[1].1.contains("wait"), "{:?}", found[1]);
        assert!(found[2].1.contains("timeout"), "{:?}", found[2]);
    }

    #[test]
    fn defaults_are_flagged_once_when_an_srs_worker_inherits_them() {
        let text = "oryx 1\ndefaults { player-queue \"1MiB\"; }\nworker \"a\" kind=\"srs\"\nworker \"b\" kind=\"srs\"\nworker \"e\"\n";
        let found = warnings(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("player-queue"));
        // Written on the SRS worker itself: that one is flagged, the inherited one is not.
        let text = "oryx 1\ndefaults { player-queue \"1MiB\"; }\nworker \"a\" kind=\"srs\" player-queue=\"2MiB\"\n";
        let found = warnings(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("2MiB"), "{found:?}");
    }

    #[test]
    fn embedded_workers_and_translated_settings_are_quiet() {
        let text = "oryx 1\nworker \"e\" player-queue=\"1MiB\" {\n    http-flv wait=\"2s\"\n    hooks { timeout \"1s\"; }\n}\nworker \"s\" kind=\"srs\" merge-write=\"0\" max-connections=0 {\n    hls path=\"/tmp/h\"\n}\n";
        let found = warnings(text);
        assert!(found.is_empty(), "{found:?}");
    }
}
