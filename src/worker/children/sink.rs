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
use crate::worker::hls::{StreamId, DEFAULT_VHOST};
use crate::worker::hub::{Frame, SinkFactory, StreamKeyInfo, StreamSink};
use crate::worker::settings::LiveSettings;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
        let ip = match rtmp.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        ChildrenFactory {
            children,
            live,
            rtmp: SocketAddr::new(ip, rtmp.port()),
            masters,
        }
    }

    /// A loopback RTMP URL of `stream` in `key`'s vhost and app, with the internal credential.
    fn url(&self, key: &StreamKeyInfo, stream: &str) -> String {
        let vhost = if key.vhost == DEFAULT_VHOST {
            String::new()
        } else {
            format!(
                "vhost={}&",
                utf8_percent_encode(&key.vhost, NON_ALPHANUMERIC)
            )
        };
        format!(
            "rtmp://{}/{}/{stream}?{vhost}{}",
            self.rtmp,
            key.app,
            crate::worker::internal::query_pair()
        )
    }

    fn commands(&self, rule: &StreamRule, key: &StreamKeyInfo) -> Vec<Result<Command, String>> {
        let url = self.url(key, &key.stream);
        let start = placeholders::start_stamp(std::time::SystemTime::now());
        let values = Values {
            vhost: &key.vhost,
            app: &key.app,
            stream: &key.stream,
            start: &start,
            url: &url,
        };
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
    fn create(&self, key: &StreamKeyInfo) -> Option<Box<dyn StreamSink>> {
        if key.internal {
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
        let source = StreamId {
            vhost: key.vhost.clone(),
            app: key.app.clone(),
            stream: key.stream.clone(),
        };
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
    masters: Option<(Masters, StreamId)>,
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
