//! Stream rules in an external worker's own terms: the nginx-rtmp and SRS directives a rule becomes,
//! or why it cannot become any. `check` reports the second as `oryx::unsupported-on-kind` with the
//! rule's spans; the config renderers (`runtime/external/`) write the first. One translation for
//! both, so a topology that checks clean is one the external worker runs as written.

use super::placeholders::{self, Values};
use super::plan::{RecordFormat, StreamRule};
use super::render::duration;

/// The part of a rule a problem is about, for the check's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Pattern,
    Record,
    Forward(usize),
    Transcode,
    Exec(usize),
    OnRecord,
}

/// Something a rule asks that a kind cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Index of the rule in file order.
    pub rule: usize,
    pub part: Part,
    /// What cannot be done, as the message's subject.
    pub what: String,
    /// Why, and what to do instead.
    pub help: String,
}

/// One nginx-rtmp `application` block's extra lines, from the rule for that app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxApp {
    pub app: String,
    /// Directives, each without indentation, with their `;`.
    pub lines: Vec<String>,
    /// The `record_path` directory (the worker's preparation creates it; nginx does not).
    pub record_dir: Option<String>,
}

/// `APP` when the pattern is `APP/*` or `APP/**` with a literal app.
pub fn app_of(pattern: &str) -> Option<&str> {
    let app = pattern
        .strip_suffix("/**")
        .or_else(|| pattern.strip_suffix("/*"))?;
    let literal = !app.is_empty() && !app.contains(['*', '/', '{', '}']);
    literal.then_some(app)
}

/// Does the pattern match every `app/stream` (any vhost)?
fn matches_all(pattern: &str) -> bool {
    matches!(pattern, "**" | "*/*" | "*/**")
}

/// `template` with the placeholders in `map` replaced, or the first placeholder it does not map.
fn translate(template: &str, map: &[(&str, &str)]) -> Result<String, String> {
    for name in placeholders::NAMES {
        let token = format!("{{{name}}}");
        if !map.iter().any(|(n, _)| n == name) && template.contains(&token) {
            return Err(token);
        }
    }
    let get = |name: &str| map.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| *v);
    let values = Values {
        vhost: get("vhost"),
        app: get("app"),
        stream: get("stream"),
        start: get("start"),
        url: get("url"),
    };
    Ok(placeholders::expand(template, &values))
}

const CONF_UNSAFE: &str = "`;`, `{`, `}`, `#` and quotes would change the meaning of the worker's config file: put the command in a script and exec that";

/// Can a command go into an nginx.conf or srs.conf directive word for word?
fn conf_safe(command: &str) -> bool {
    !command.contains([';', '{', '}', '#', '"', '\'', '\\'])
}

/// A token nginx reads as one argument.
fn nginx_quote(text: &str) -> String {
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || "\"';{}#$\\".contains(c)) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text.to_string()
    }
}

/// The nginx-rtmp applications for `rules` on a worker whose RTMP port is `rtmp_port`.
pub fn nginx(rules: &[StreamRule], rtmp_port: u16) -> (Vec<NginxApp>, Vec<Unsupported>) {
    let mut apps: Vec<NginxApp> = Vec::new();
    let mut problems = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let mut no = |part: Part, what: String, help: &str| {
            problems.push(Unsupported {
                rule: index,
                part,
                what,
                help: help.into(),
            })
        };
        let Some(app) = app_of(&rule.pattern) else {
            no(
                Part::Pattern,
                format!("the pattern \"{}\"", rule.pattern),
                "nginx-rtmp applies rules per application: write the pattern as `APP/*` or `APP/**`, or run these streams on embedded workers",
            );
            continue;
        };
        if apps.iter().any(|a| a.app == app) {
            no(
                Part::Pattern,
                format!("a second rule for application `{app}`"),
                "nginx-rtmp has one `application` block per app: merge the rules into one",
            );
            continue;
        }
        let out = nginx_app(rule, app, rtmp_port, &mut no);
        apps.push(out);
    }
    (apps, problems)
}

/// The lines of `application APP` for `rule`; what nginx-rtmp cannot do goes to `no`.
fn nginx_app(
    rule: &StreamRule,
    app: &str,
    rtmp_port: u16,
    no: &mut impl FnMut(Part, String, &str),
) -> NginxApp {
    let mut out = NginxApp {
        app: app.to_string(),
        lines: Vec::new(),
        record_dir: None,
    };
    let url = format!("rtmp://127.0.0.1:{rtmp_port}/$app/$name");
    if let Some(record) = &rule.record {
        match nginx_record(&record.path, record.format, app) {
            Ok((dir, suffix)) => {
                out.lines.push("record all;".into());
                out.lines
                    .push(format!("record_path {};", nginx_quote(&dir)));
                out.lines
                    .push(format!("record_suffix {};", nginx_quote(&suffix)));
                if let Some(ms) = record.segment_ms {
                    out.lines.push(format!("record_interval {};", duration(ms)));
                }
                out.record_dir = Some(dir);
            }
            Err(why) => no(Part::Record, why.0, why.1),
        }
    }
    for (i, forward) in rule.forwards.iter().enumerate() {
        match nginx_push(&forward.url, app) {
            Ok(url) => out.lines.push(format!("push {};", nginx_quote(&url))),
            Err(why) => no(Part::Forward(i), why.0, why.1),
        }
    }
    if rule.transcode.is_some() {
        no(
            Part::Transcode,
            "`transcode`".into(),
            "nginx-rtmp has no transcoder of its own: run ffmpeg with `exec`, or transcode on embedded workers",
        );
    }
    for (i, command) in rule.exec.iter().enumerate() {
        let map = [("app", "$app"), ("stream", "$name"), ("url", url.as_str())];
        match translate(command, &map) {
            Ok(command) if !conf_safe(&command) => no(
                Part::Exec(i),
                "this `exec` command in nginx.conf".into(),
                CONF_UNSAFE,
            ),
            Ok(command) => out.lines.push(format!("exec_push {command};")),
            Err(token) => no(
                Part::Exec(i),
                format!("`{token}` in `exec`"),
                "nginx-rtmp's exec knows the app ($app), the stream ($name) and the URL: use `{app}`, `{stream}` or `{url}`",
            ),
        }
    }
    if !rule.on_record.is_empty() {
        no(
            Part::OnRecord,
            "`on-record`".into(),
            "nginx-rtmp's `on_record_done` sends a form, not oryx's JSON: record on embedded workers for `on-record`",
        );
    }
    out
}

type Why = (String, &'static str);

/// `record_path` and `record_suffix` for a path `DIR/{stream}SUFFIX.flv`.
fn nginx_record(path: &str, format: RecordFormat, app: &str) -> Result<(String, String), Why> {
    if format != RecordFormat::Flv {
        return Err((
            format!("recording to `.{}`", ext(format)),
            "nginx-rtmp records FLV only: give the path a `.flv` extension, or record on embedded workers",
        ));
    }
    let (dir, file) = path.rsplit_once('/').unwrap_or((".", path));
    let shape = (
        "this record path",
        "nginx-rtmp names a recording DIR/STREAM+SUFFIX: write it as `DIR/{stream}…flv`, with only `{app}` in DIR and only `{start}` after `{stream}`",
    );
    let dir = translate(dir, &[("app", app)]).map_err(|_| (shape.0.to_string(), shape.1))?;
    let suffix = file
        .strip_prefix("{stream}")
        .ok_or((shape.0.to_string(), shape.1))?;
    let suffix = translate(
        &suffix.replace('%', "%%"),
        &[("start", "%Y-%m-%dT%H-%M-%S")],
    )
    .map_err(|_| (shape.0.to_string(), shape.1))?;
    Ok((dir, suffix))
}

/// A `push` URL: the stream's own name is what nginx appends when the URL has no play path.
fn nginx_push(url: &str, app: &str) -> Result<String, Why> {
    if !url.to_ascii_lowercase().starts_with("rtmp://") {
        return Err((
            format!("forwarding to \"{url}\""),
            "nginx-rtmp pushes plain rtmp:// only: forward rtmps:// from embedded workers",
        ));
    }
    let base = url.strip_suffix("/{stream}").unwrap_or(url);
    translate(base, &[("app", app)]).map_err(|token| {
        (
            format!("`{token}` in a forward URL"),
            "nginx-rtmp pushes under the stream's own name: end the URL with `/{stream}` or a fixed name; `{app}` is the only other placeholder",
        )
    })
}

fn ext(format: RecordFormat) -> &'static str {
    match format {
        RecordFormat::Mp4 => "mp4",
        RecordFormat::Flv => "flv",
        RecordFormat::Ts => "ts",
    }
}

const VHOST_WIDE: &str = "SRS does this for a whole vhost, not per app: move it to a first rule `stream \"**\"`, or use embedded workers";

/// SRS directives for the `__defaultVhost__` block: `dvr`, `forward`, `exec`, `transcode`, and the
/// `on_dvr` hooks (which join the vhost's `http_hooks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrsRules {
    /// Lines of whole sections, indented for inside the vhost block.
    pub lines: Vec<String>,
    pub on_dvr: Vec<String>,
}

/// SRS applies dvr, forward and exec to a whole vhost and transcodes per app: a rule maps when its
/// pattern matches every stream (and it is the first rule, so no other would take precedence), or
/// when it is `APP/*` and only transcodes.
pub fn srs(rules: &[StreamRule], rtmp_port: u16) -> (SrsRules, Vec<Unsupported>) {
    let mut out = SrsRules::default();
    let mut problems = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        if index > 0 && matches_all(&rules[0].pattern) {
            // The first rule takes every stream: this one never applies, on any kind.
            break;
        }
        let mut no = |part: Part, what: String, help: &str| {
            problems.push(Unsupported {
                rule: index,
                part,
                what,
                help: help.into(),
            })
        };
        let whole = matches_all(&rule.pattern) && index == 0;
        let app = app_of(&rule.pattern);
        if !whole && app.is_none() {
            no(
                Part::Pattern,
                format!("the pattern \"{}\"", rule.pattern),
                "SRS records, forwards and runs exec for a whole vhost: make it the first rule, `stream \"**\"`; only `transcode` may be per app (`APP/*`)",
            );
            continue;
        }
        if let Some(record) = &rule.record {
            match srs_dvr(&record.path, record.format, record.segment_ms) {
                _ if !whole => no(Part::Record, "`record` for one app".into(), VHOST_WIDE),
                Ok(lines) => out.lines.extend(lines),
                Err(why) => no(Part::Record, why.0, why.1),
            }
        }
        srs_forward_exec(rule, whole, rtmp_port, &mut out, &mut no);
        if !rule.on_record.is_empty() {
            if whole {
                out.on_dvr.extend(rule.on_record.iter().cloned());
            } else {
                no(Part::OnRecord, "`on-record` for one app".into(), VHOST_WIDE);
            }
        }
        if let Some(transcode) = &rule.transcode {
            out.lines.extend(srs_transcode(transcode, app, rtmp_port));
        }
    }
    (out, problems)
}

/// The `forward` and `exec` sections of a rule (vhost-wide in SRS).
fn srs_forward_exec(
    rule: &StreamRule,
    whole: bool,
    rtmp_port: u16,
    out: &mut SrsRules,
    no: &mut impl FnMut(Part, String, &str),
) {
    let mut destinations = Vec::new();
    for (i, forward) in rule.forwards.iter().enumerate() {
        match srs_destination(&forward.url) {
            _ if !whole => no(Part::Forward(i), "`forward` for one app".into(), VHOST_WIDE),
            Ok(host) => destinations.push(host),
            Err(why) => no(Part::Forward(i), why.0, why.1),
        }
    }
    if !destinations.is_empty() {
        out.lines.push("    forward {".into());
        out.lines.push("        enabled on;".into());
        out.lines
            .push(format!("        destination {};", destinations.join(" ")));
        out.lines.push("    }".into());
    }
    let url = format!("rtmp://127.0.0.1:{rtmp_port}/[app]/[stream]");
    let map = [
        ("vhost", "[vhost]"),
        ("app", "[app]"),
        ("stream", "[stream]"),
        ("url", url.as_str()),
    ];
    let mut publish = Vec::new();
    for (i, command) in rule.exec.iter().enumerate() {
        match translate(command, &map) {
            _ if !whole => no(Part::Exec(i), "`exec` for one app".into(), VHOST_WIDE),
            Ok(command) if !conf_safe(&command) => no(
                Part::Exec(i),
                "this `exec` command in srs.conf".into(),
                CONF_UNSAFE,
            ),
            Ok(command) => publish.push(format!("        publish {command};")),
            Err(token) => no(
                Part::Exec(i),
                format!("`{token}` in `exec`"),
                "SRS's exec knows the vhost, app, stream and URL, not the start time",
            ),
        }
    }
    if !publish.is_empty() {
        out.lines.push("    exec {".into());
        out.lines.push("        enabled on;".into());
        out.lines.extend(publish);
        out.lines.push("    }".into());
    }
}

fn srs_dvr(path: &str, format: RecordFormat, segment_ms: Option<u64>) -> Result<Vec<String>, Why> {
    if format == RecordFormat::Ts {
        return Err((
            "recording to `.ts`".into(),
            "SRS's dvr writes FLV or MP4: use `.flv` or `.mp4`, or record on embedded workers",
        ));
    }
    let map = [
        ("vhost", "[vhost]"),
        ("app", "[app]"),
        ("stream", "[stream]"),
        ("start", "[2006]-[01]-[02]T[15]-[04]-[05]"),
    ];
    let path = translate(path, &map).map_err(|token| {
        (
            format!("`{token}` in a record path"),
            "SRS's dvr_path knows the vhost, app, stream and time: `{url}` means nothing there",
        )
    })?;
    let mut lines = vec![
        "    dvr {".to_string(),
        "        enabled on;".into(),
        "        dvr_apply all;".into(),
    ];
    match segment_ms {
        Some(ms) => {
            lines.push("        dvr_plan segment;".into());
            lines.push(format!("        dvr_duration {};", ms.div_ceil(1000)));
            lines.push("        dvr_wait_keyframe on;".into());
        }
        None => lines.push("        dvr_plan session;".into()),
    }
    lines.push(format!("        dvr_path {path};"));
    lines.push("    }".into());
    Ok(lines)
}

/// SRS forwards to `host:port` under the stream's own app and name.
fn srs_destination(url: &str) -> Result<String, Why> {
    let rest = url
        .strip_prefix("rtmp://")
        .or_else(|| url.strip_prefix("RTMP://"))
        .ok_or((
            format!("forwarding to \"{url}\""),
            "SRS forwards plain rtmp:// only: forward rtmps:// from embedded workers",
        ))?;
    match rest.split_once('/') {
        Some((host, "{app}/{stream}")) if !host.contains('{') => Ok(if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:1935")
        }),
        _ => Err((
            format!("forwarding to \"{url}\""),
            "SRS forwards under the same app and stream name: write the URL as `rtmp://HOST:PORT/{app}/{stream}`",
        )),
    }
}

/// `transcode [APP] { … }`: one engine per rendition, published back as `STREAM_NAME`.
fn srs_transcode(
    transcode: &super::plan::TranscodeRule,
    app: Option<&str>,
    rtmp_port: u16,
) -> Vec<String> {
    let scope = app.map(|a| format!(" {a}")).unwrap_or_default();
    let mut lines = vec![
        format!("    transcode{scope} {{"),
        "        enabled on;".into(),
        format!("        ffmpeg {};", transcode.binary),
    ];
    for r in &transcode.renditions {
        lines.push(format!("        engine {} {{", r.name));
        lines.push("            enabled on;".into());
        lines.push("            vcodec libx264;".into());
        lines.push(format!(
            "            vbitrate {};",
            r.video_bitrate.div_ceil(1000)
        ));
        lines.push(format!("            vwidth {};", r.width));
        lines.push(format!("            vheight {};", r.height));
        lines.push("            vthreads 2;".into());
        lines.push("            vprofile main;".into());
        lines.push("            vpreset veryfast;".into());
        match r.audio_bitrate {
            Some(bits) => {
                lines.push("            acodec aac;".into());
                lines.push(format!("            abitrate {};", bits.div_ceil(1000)));
                lines.push("            asample_rate 44100;".into());
                lines.push("            achannels 2;".into());
            }
            None => lines.push("            acodec copy;".into()),
        }
        lines.push(format!(
            "            output rtmp://127.0.0.1:{rtmp_port}/[app]/[stream]_[engine];"
        ));
        lines.push("        }".into());
    }
    lines.push("    }".into());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::{ForwardTarget, RecordRule};

    fn rule(pattern: &str) -> StreamRule {
        StreamRule {
            pattern: pattern.into(),
            record: None,
            forwards: Vec::new(),
            transcode: None,
            exec: Vec::new(),
            on_record: Vec::new(),
        }
    }

    #[test]
    fn apps_come_from_app_patterns_only() {
        assert_eq!(app_of("live/*"), Some("live"));
        assert_eq!(app_of("live/**"), Some("live"));
        for no in ["live/cam", "*/*", "**", "v/live/*", "l*/*"] {
            assert_eq!(app_of(no), None, "{no}");
        }
    }

    #[test]
    fn nginx_records_flv_with_a_strftime_suffix_and_pushes() {
        let mut r = rule("rec/*");
        r.record = Some(RecordRule {
            path: "/data/{app}/{stream}-{start}.flv".into(),
            format: RecordFormat::Flv,
            segment_ms: Some(600_000),
        });
        r.forwards = vec![ForwardTarget {
            url: "rtmp://backup/{app}/{stream}".into(),
            ca: None,
        }];
        r.exec = vec!["/bin/thumb {url}".into()];
        let (apps, problems) = nginx(&[r], 19350);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            apps[0].lines,
            [
                "record all;",
                "record_path /data/rec;",
                "record_suffix -%Y-%m-%dT%H-%M-%S.flv;",
                "record_interval 10m;",
                "push rtmp://backup/rec;",
                "exec_push /bin/thumb rtmp://127.0.0.1:19350/$app/$name;",
            ]
        );
    }

    #[test]
    fn nginx_refuses_what_it_cannot_do() {
        let mut r = rule("live/*");
        r.record = Some(RecordRule {
            path: "/data/{stream}.mp4".into(),
            format: RecordFormat::Mp4,
            segment_ms: None,
        });
        r.forwards = vec![ForwardTarget {
            url: "rtmps://a/live/{stream}".into(),
            ca: None,
        }];
        r.on_record = vec!["http://h/".into()];
        r.exec = vec!["sh -c 'date; ls'".into()];
        let (_, problems) = nginx(&[r, rule("**")], 1);
        let parts: Vec<Part> = problems.iter().map(|p| p.part).collect();
        assert_eq!(
            parts,
            [
                Part::Record,
                Part::Forward(0),
                Part::Exec(0),
                Part::OnRecord,
                Part::Pattern
            ]
        );
    }

    #[test]
    fn srs_maps_a_first_catch_all_rule() {
        let mut r = rule("**");
        r.record = Some(RecordRule {
            path: "/d/{app}/{stream}/{start}.mp4".into(),
            format: RecordFormat::Mp4,
            segment_ms: Some(10_000),
        });
        r.forwards = vec![ForwardTarget {
            url: "rtmp://b:1936/{app}/{stream}".into(),
            ca: None,
        }];
        r.on_record = vec!["http://h/rec".into()];
        let (_, problems) = srs(&[rule("x/y"), r.clone()], 1);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].rule, 0);
        // First, the catch-all maps; a rule after it never applies, so it is not looked at.
        let (out, problems) = srs(&[r, rule("x/y")], 1);
        assert!(problems.is_empty(), "{problems:?}");
        let text = out.lines.join("\n");
        assert!(text.contains("dvr_path /d/[app]/[stream]/[2006]-[01]-[02]T[15]-[04]-[05].mp4;"));
        assert!(text.contains("dvr_duration 10;"));
        assert!(text.contains("destination b:1936;"));
        assert_eq!(out.on_dvr, ["http://h/rec"]);
    }
}
