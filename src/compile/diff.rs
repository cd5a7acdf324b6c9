//! `Plan::diff`: what changed between two plans, role by role, and what applying it costs.
//!
//! One function serves `oryx plan --diff OLD` and the shell's SIGHUP reload. Roles are identified as
//! `worker/NAME`, `rtmp-lb`, `http-lb`, `api-lb`, `static/NAME`, `ingest/NAME` and `shell` (the shell's
//! own control address and the port pool). Each change is classified:
//! - `hot`: applied in place, no connection touched (an LB's backend set; a role added; an embedded
//!   worker's stream settings, stream rules included, pushed to it over its control API, see
//!   [`worker_hot_field`]; an ingest added: it starts).
//! - `restart`: the role's process restarts; its clients reconnect (api-lb, http-lb, static, shell;
//!   an ingest, which republishes its stream; a removed ingest or site just stops).
//! - `drops-streams`: live streams on the role are interrupted (a worker's ports, kind or binary
//!   changed, an external worker changed at all, a worker removed; the rtmp-lb restarted, since it
//!   relays every publisher and player connection).
//!
//! Ports are allocated in file order, so inserting a worker before others moves the later roles' ports
//! and changes them too; append new workers at the end to keep reloads small.

use super::plan::Plan;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// The cost of applying a change, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeClass {
    Hot,
    Restart,
    DropsStreams,
}

impl ChangeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeClass::Hot => "hot",
            ChangeClass::Restart => "restart",
            ChangeClass::DropsStreams => "drops-streams",
        }
    }
}

/// One field that differs, as a dotted path with both JSON values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub old: Value,
    pub new: Value,
}

/// One role that is added, removed or changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleChange {
    /// `worker/live-0`, `rtmp-lb`, `static/site`, `shell`.
    pub role: String,
    pub kind: ChangeKind,
    pub class: ChangeClass,
    /// Fields that differ (empty for added and removed roles).
    pub fields: Vec<FieldChange>,
}

impl Plan {
    /// Every role of the plan with its JSON, in plan order.
    pub fn roles(&self) -> Vec<(String, Value)> {
        fn to_value<T: Serialize>(value: &T) -> Value {
            serde_json::to_value(value).unwrap_or(Value::Null)
        }
        let mut roles = Vec::new();
        for worker in &self.workers {
            roles.push((format!("worker/{}", worker.name), to_value(worker)));
        }
        for (name, lb) in [
            ("rtmp-lb", &self.rtmp_lb),
            ("http-lb", &self.http_lb),
            ("api-lb", &self.api_lb),
            ("srt-lb", &self.srt_lb),
        ] {
            if let Some(lb) = lb {
                roles.push((name.to_string(), to_value(lb)));
            }
        }
        for site in &self.statics {
            roles.push((format!("static/{}", site.name), to_value(site)));
        }
        for ingest in &self.ingests {
            roles.push((format!("ingest/{}", ingest.name), to_value(ingest)));
        }
        let shell = serde_json::json!({
            "shell_control": self.shell_control,
            "ports": self.ports,
        });
        roles.push(("shell".to_string(), shell));
        roles
    }

    /// The changes that turn `self` (the running plan) into `new`, in `new`'s role order, removed
    /// roles last.
    pub fn diff(&self, new: &Plan) -> Vec<RoleChange> {
        let old_roles = self.roles();
        let new_roles = new.roles();
        let mut changes = Vec::new();
        for (role, value) in &new_roles {
            match old_roles.iter().find(|(r, _)| r == role) {
                None => changes.push(RoleChange {
                    role: role.clone(),
                    kind: ChangeKind::Added,
                    class: ChangeClass::Hot,
                    fields: Vec::new(),
                }),
                Some((_, old)) if old != value => {
                    let mut fields = Vec::new();
                    field_changes("", old, value, &mut fields);
                    changes.push(RoleChange {
                        role: role.clone(),
                        kind: ChangeKind::Changed,
                        class: classify_change(role, old, value, &fields),
                        fields,
                    });
                }
                Some(_) => {}
            }
        }
        for (role, _) in &old_roles {
            if !new_roles.iter().any(|(r, _)| r == role) {
                changes.push(RoleChange {
                    role: role.clone(),
                    kind: ChangeKind::Removed,
                    class: if role.starts_with("worker/") || role == "rtmp-lb" {
                        ChangeClass::DropsStreams
                    } else {
                        ChangeClass::Restart
                    },
                    fields: Vec::new(),
                });
            }
        }
        changes
    }
}

/// True when a running embedded worker takes a change of `path` (a dotted field path of its plan
/// entry) in place: every stream setting except the HLS directory (the disk mirror is set up at start),
/// its LB group and its `edge_share` (it uses neither: the share is the LBs', which get it with the
/// backend push after every reload) and whether it reads PROXY headers. Its identity, ports, kind and
/// binary need a new process. Stream settings added later are hot by default: connections read them
/// when they start (`worker/settings.rs`).
pub fn worker_hot_field(path: &str) -> bool {
    let cold = path == "stream.hls.path";
    let untouched = matches!(path, "group" | "proxy_protocol" | "edge_share");
    !cold && (untouched || path.starts_with("stream."))
}

/// Whether the worker plan entry `entry` (its JSON) runs the embedded worker, the only kind with a
/// control API to take settings.
fn embedded(entry: &Value) -> bool {
    entry.get("kind").and_then(Value::as_str) == Some("embedded")
}

fn classify_change(role: &str, old: &Value, new: &Value, fields: &[FieldChange]) -> ChangeClass {
    if role.starts_with("worker/") {
        let hot =
            embedded(old) && embedded(new) && fields.iter().all(|f| worker_hot_field(&f.path));
        return if hot {
            ChangeClass::Hot
        } else {
            ChangeClass::DropsStreams
        };
    }
    let is_lb = matches!(role, "rtmp-lb" | "http-lb" | "api-lb" | "srt-lb");
    // The shell pushes backend sets to running LBs through their control API.
    if is_lb && fields.iter().all(|f| f.path == "workers") {
        return ChangeClass::Hot;
    }
    // Both carry every stream's bytes (the srt-lb relays each caller's flow): a restart cuts them.
    if role == "rtmp-lb" || role == "srt-lb" {
        ChangeClass::DropsStreams
    } else {
        ChangeClass::Restart
    }
}

fn field_changes(path: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let a = a.get(key).unwrap_or(&Value::Null);
                let b = b.get(key).unwrap_or(&Value::Null);
                if a != b {
                    field_changes(&child, a, b, out);
                }
            }
        }
        _ if old != new => out.push(FieldChange {
            path: path.to_string(),
            old: old.clone(),
            new: new.clone(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile, Options};

    fn plan(text: &str) -> crate::compile::plan::Plan {
        let options = Options {
            env: None,
            base_dir: Default::default(),
            check_files: false,
        };
        let c = compile("t.kdl", text, &options);
        let rendered = c.render_plain();
        c.plan.unwrap_or_else(|| panic!("{rendered}"))
    }

    const BASE: &str = "oryx 1\nworker \"a\"\nworker \"b\"\nrtmp-lb listen=\"0.0.0.0:1935\"\napi-lb listen=\"127.0.0.1:1985\"\n";

    #[test]
    fn identical_plans_have_no_changes() {
        assert!(plan(BASE).diff(&plan(BASE)).is_empty());
    }

    fn classes(old: &str, new: &str) -> Vec<(String, &'static str)> {
        plan(old)
            .diff(&plan(new))
            .iter()
            .map(|c| (c.role.clone(), c.class.as_str()))
            .collect()
    }

    #[test]
    fn classifies_worker_and_lb_changes() {
        let old = plan(BASE);
        let new = plan(&BASE.replace("worker \"b\"", "worker \"b\" chunk-size=4096"));
        let changes = old.diff(&new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].role, "worker/b");
        // A stream setting: pushed to the running embedded worker.
        assert_eq!(changes[0].class.as_str(), "hot");
        assert_eq!(changes[0].fields[0].path, "stream.chunk_size");

        let new = plan(&BASE.replace(
            "rtmp-lb listen=\"0.0.0.0:1935\"",
            "rtmp-lb listen=\"0.0.0.0:1935\" workers=\"a\"",
        ));
        let changes = old.diff(&new);
        let roles: Vec<_> = changes
            .iter()
            .map(|c| (c.role.as_str(), c.class.as_str()))
            .collect();
        // b no longer behind the rtmp-lb: it stops expecting PROXY headers, which it takes in place.
        assert_eq!(roles, [("worker/b", "hot"), ("rtmp-lb", "hot")]);
    }

    #[test]
    fn stream_settings_of_embedded_workers_are_hot() {
        let with = |settings: &str| {
            format!("oryx 1\ndefaults {{\n{settings}\n}}\nworker \"a\"\nworker \"b\"\n")
        };
        let old = with("hls fragment=\"2s\" window=6");
        for new in [
            "hls fragment=\"4s\" window=6",
            "hls fragment=\"2s\" window=10",
            "hls fragment=\"2s\" window=6\nhooks { on-play \"http://127.0.0.1:9/p\"; timeout \"2s\"; }",
            "hls fragment=\"2s\" window=6\nmerge-write \"100ms\"",
            "hls fragment=\"2s\" window=6\nmax-connections 10",
            "hls fragment=\"2s\" window=6\nplayer-queue \"1MiB\"",
            "hls fragment=\"2s\" window=6\nhttp-flv wait=\"2s\"",
        ] {
            assert_eq!(
                classes(&old, &with(new)),
                [("worker/a".to_string(), "hot"), ("worker/b".to_string(), "hot")],
                "{new}"
            );
        }
        // The HLS directory is set up when the worker starts.
        let disk = with("hls fragment=\"2s\" window=6 path=\"/tmp/hls\"");
        assert_eq!(
            classes(&old, &disk),
            [
                ("worker/a".to_string(), "drops-streams"),
                ("worker/b".to_string(), "drops-streams")
            ]
        );
    }

    #[test]
    fn ports_kind_and_external_workers_need_restarts() {
        let old = plan(BASE);
        let mut new = old.clone();
        new.workers[0].rtmp.set_port(29000);
        new.workers[1].kind = crate::compile::plan::WorkerKind::Srs;
        let classes: Vec<_> = old.diff(&new).iter().map(|c| c.class.as_str()).collect();
        assert_eq!(classes, ["drops-streams", "drops-streams"]);
        // An external worker's settings are compiled into its config file: it restarts for any.
        let mut external = old.clone();
        external.workers[0].kind = crate::compile::plan::WorkerKind::NginxRtmp;
        let mut changed = external.clone();
        changed.workers[0].stream.hls.window = 9;
        let classes: Vec<_> = external
            .diff(&changed)
            .iter()
            .map(|c| c.class.as_str())
            .collect();
        assert_eq!(classes, ["drops-streams"]);
    }

    #[test]
    fn added_and_removed_roles() {
        let old = plan(BASE);
        let new = plan(
            &format!("{BASE}worker \"c\"\n").replace("api-lb listen=\"127.0.0.1:1985\"\n", ""),
        );
        let changes = old.diff(&new);
        let summary: Vec<_> = changes
            .iter()
            .map(|c| (c.role.as_str(), format!("{:?}", c.kind), c.class.as_str()))
            .collect();
        assert!(
            summary.contains(&("worker/c", "Added".into(), "hot")),
            "{summary:?}"
        );
        assert!(
            summary.contains(&("api-lb", "Removed".into(), "restart")),
            "{summary:?}"
        );
    }
}
