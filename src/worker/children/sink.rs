//! The hub's side of a stream's children: at each publish, the first stream rule that matches (in
//! the settings in force now, so a reload applies to the next publish) starts its `exec` commands
//! and its transcode; the publish's end stops them. A publish by the worker's own child (the
//! internal credential: a rendition) matches no rule, so a transcode never transcodes itself.
//!
//! Everything here runs on the publisher's path, so nothing waits: a program is looked up (a few
//! `stat`s), supervision starts in a task of its own, and stopping happens in the background.

use super::command::{self, Command, Kind};
use super::{Child, Children, State};
use crate::compile::pattern::first_match;
use crate::compile::placeholders::{self, Values};
use crate::compile::plan::StreamRule;
use crate::net::log_text::escape_controls;
use crate::net::supervisor::{ChildSpec, Readiness, Supervised};
use crate::worker::hls::master::{Masters, Rendition};
use crate::worker::hls::DEFAULT_VHOST;
use crate::worker::hub::{Frame, SinkFactory, StreamName, StreamSink};
use crate::worker::settings::LiveSettings;
use std::net::SocketAddr;
use std::sync::Arc;

/// Starts a stream's children at its publish (see the module doc).
pub struct ChildrenFactory {
    children: Children,
    live: Arc<LiveSettings>,
    /// Where the worker's own RTMP listener answers: `{url}` and the renditions go there.
    rtmp: SocketAddr,
    /// Where a transcode's renditions are announced for the master playlist (`None`: no HLS).
    masters: Option<Masters>,
}

impl ChildrenFactory {
    pub fn new(
        children: Children,
        live: Arc<LiveSettings>,
        rtmp: SocketAddr,
        masters: Option<Masters>,
    ) -> ChildrenFactory {
        ChildrenFactory {
            children,
            live,
            rtmp: crate::net::reachable::reachable(rtmp),
            masters,
        }
    }

    /// A loopback RTMP URL of `stream` in `key`'s vhost and app, with the internal credential.
    fn url(&self, key: &StreamName, stream: &str) -> String {
        let credential = crate::worker::internal::query_pair();
        key.rtmp_url(self.rtmp, stream, Some(&credential))
    }

    fn commands(&self, rule: &StreamRule, key: &StreamName) -> Vec<Result<Command, String>> {
        let url = self.url(key, &key.stream);
        let start = placeholders::start_stamp(std::time::SystemTime::now());
        let values = Values::of(key, &start, &url);
        let mut commands: Vec<Result<Command, String>> = rule
            .exec
            .iter()
            .map(|line| command::exec(line, &values).map_err(|err| format!("{err}: {line}")))
            .collect();
        if let Some(transcode) = &rule.transcode {
            commands.push(Ok(command::transcode(transcode, &url, |name| {
                self.url(key, &format!("{}_{name}", key.stream))
            })));
        }
        commands
    }
}

impl SinkFactory for ChildrenFactory {
    fn create(&self, key: &StreamName, internal: bool) -> Option<Box<dyn StreamSink>> {
        if internal {
            return None;
        }
        let settings = self.live.get();
        let rule = first_match(&settings.rules, &key.vhost, &key.app, &key.stream)?;
        if rule.exec.is_empty() && rule.transcode.is_none() {
            return None;
        }
        let name = if key.vhost == DEFAULT_VHOST {
            format!("{}/{}", key.app, key.stream)
        } else {
            format!("{}/{}/{}", key.vhost, key.app, key.stream)
        };
        let children = self
            .commands(rule, key)
            .into_iter()
            .map(|command| start(command, &rule.pattern, &name))
            .collect();
        let stream_key = crate::route::stream_key(&key.vhost, &key.app, &key.stream);
        let id = self.children.insert(stream_key.clone(), children);
        let source = key.without_param();
        let masters = match (&self.masters, &rule.transcode) {
            (Some(masters), Some(transcode)) => {
                let renditions = transcode
                    .renditions
                    .iter()
                    .map(|r| Rendition {
                        stream: format!("{}_{}", key.stream, r.name),
                        // Copied audio: count a typical AAC stereo stream.
                        bandwidth: r.video_bitrate + r.audio_bitrate.unwrap_or(128_000),
                    })
                    .collect();
                masters.set(source.clone(), renditions);
                Some(masters.clone())
            }
            _ => None,
        };
        Some(Box::new(ChildrenSink {
            children: self.children.clone(),
            key: stream_key,
            id,
            masters: masters.map(|m| (m, source)),
            ended: false,
        }))
    }
}

/// Supervise one command, or say once why it cannot run.
fn start(command: Result<Command, String>, pattern: &str, name: &str) -> Child {
    let command = match command {
        Ok(command) => command,
        Err(reason) => {
            let reason = crate::net::log_text::mask_secrets(&reason).into_owned();
            tracing::error!(rule = %pattern, stream = %escape_controls(name), %reason,
                "exec not started: its command line does not split into words");
            return Child {
                kind: Kind::Exec,
                command: reason.clone(),
                state: State::Failed(reason),
            };
        }
    };
    let label =
        escape_controls(&format!("{} {pattern} {name}", command.kind.as_str())).into_owned();
    let shown = command.shown();
    let Some(program) = command::find_program(&command.program) else {
        let reason = format!(
            "missing binary: {} (not a file, not in PATH)",
            command.program
        );
        // Said once per publish and never retried: a restart loop could not find it either.
        tracing::error!(child = %label, "not started: {reason}");
        return Child {
            kind: command.kind,
            command: shown,
            state: State::Failed(reason),
        };
    };
    tracing::info!(child = %label, command = %shown, "starting");
    let supervised = Supervised::start(ChildSpec {
        label,
        program,
        args: command.args,
        validate: None,
        readiness: Readiness::Started,
        prefix_output: true,
        json_output: crate::net::log_text::json_lines(),
        skip_line: None,
    });
    Child {
        kind: command.kind,
        command: shown,
        state: State::Running(supervised),
    }
}

/// One publish's children: stopped when the publish ends.
struct ChildrenSink {
    children: Children,
    key: String,
    id: u64,
    masters: Option<(Masters, StreamName)>,
    ended: bool,
}

impl StreamSink for ChildrenSink {
    fn on_frame(&mut self, _frame: &Frame) {}

    fn on_unpublish(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        if let Some((masters, source)) = &self.masters {
            masters.remove(source);
        }
        self.children.stop(&self.key, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::{RecordFormat, RecordRule};

    fn rule(pattern: &str, exec: &[&str]) -> StreamRule {
        StreamRule {
            pattern: pattern.into(),
            record: None,
            forwards: Vec::new(),
            transcode: None,
            exec: exec.iter().map(|s| s.to_string()).collect(),
            on_record: Vec::new(),
        }
    }

    fn key(stream: &str) -> StreamName {
        StreamName::new(DEFAULT_VHOST, "live", stream)
    }

    #[tokio::test]
    async fn only_the_first_matching_rule_with_processes_starts_children() {
        let mut settings = crate::worker::hub::tests::settings();
        let mut record_only = rule("live/rec*", &[]);
        record_only.record = Some(RecordRule {
            path: "/tmp/x.flv".into(),
            format: RecordFormat::Flv,
            segment_ms: None,
        });
        settings.rules = vec![
            record_only,
            rule("live/*", &["/nonexistent/oryx-exec {url}"]),
        ];
        let children = Children::default();
        let factory = ChildrenFactory::new(
            children.clone(),
            LiveSettings::new(settings),
            "0.0.0.0:1935".parse().unwrap(),
            None,
        );
        // A rendition (the worker's own publish), a stream no rule names, a rule without
        // processes: nothing to run.
        assert!(factory.create(&key("cam"), true).is_none());
        assert!(factory.create(&key("recorded"), false).is_none());
        assert_eq!(
            children.json(DEFAULT_VHOST, "live", "cam"),
            serde_json::json!([])
        );
        // A matching rule: its exec is listed (here: a missing binary, said once, not run).
        let mut sink = factory.create(&key("cam"), false).expect("a sink");
        let listed = children.json(DEFAULT_VHOST, "live", "cam");
        assert_eq!(listed[0]["kind"], "exec");
        assert_eq!(listed[0]["pid"], serde_json::Value::Null);
        let command = listed[0]["command"].as_str().unwrap();
        assert!(
            command.starts_with(
                "/nonexistent/oryx-exec rtmp://127.0.0.1:1935/live/cam?oryx_internal=***"
            ),
            "{command}"
        );
        assert!(listed[0]["last_exit"]
            .as_str()
            .unwrap()
            .contains("missing binary"));
        sink.on_unpublish();
        assert_eq!(
            children.json(DEFAULT_VHOST, "live", "cam"),
            serde_json::json!([])
        );
    }
}
