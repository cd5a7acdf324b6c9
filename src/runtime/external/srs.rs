//! srs.conf for a `kind="srs"` worker.
//!
//! SRS runs in the foreground with console logs (the shell prefixes them), RTMP on the plan's loopback
//! port, its HTTP API on the worker's control port (so the api-lb aggregates SRS like an embedded
//! worker, and the LBs poll its stream list: `super::srs_api`), and its HTTP server on the HTTP port
//! with HTTP-FLV (`/APP/STREAM.flv`) and HLS (`/APP/STREAM.m3u8`, `/APP/STREAM-SEQ.ts`), the URL shapes
//! the http-lb routes. Settings SRS has no equivalent for (`player-queue`, `http-flv wait`, the hooks'
//! `timeout`) are reported by `oryx check` (`oryx::ignored-on-kind`), not written here. Stream rules
//! become `dvr`, `forward`, `exec` and `transcode` sections and `on_dvr` hooks (`compile::native`).

use crate::compile::native;
use crate::compile::plan::WorkerPlan;
use std::fmt::Write;
use std::path::Path;

/// File descriptors SRS keeps for itself: it refuses to start unless `max_connections` plus this is
/// below its open-files limit (`srs_app_config.cpp`, "exceed max open files").
pub const RESERVED_FILES: u64 = 128;

/// A compiled srs.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrsConfig {
    pub text: String,
    /// `Some(n)` when the plan's `max-connections` did not fit under the open-files limit and SRS
    /// gets `n` instead (the caller warns).
    pub clamped: Option<u64>,
}

/// The most connections SRS accepts to start with under an open-files limit of `open_files`.
pub fn connection_ceiling(open_files: u64) -> u64 {
    open_files.saturating_sub(RESERVED_FILES + 1).max(1)
}

/// Render the srs.conf for `worker`, whose files live under `dir` (absolute), for an SRS whose
/// open-files limit is `open_files`.
///
/// Long, but a template: the file's lines in the order SRS reads them, each next to why it is set.
pub fn config(worker: &WorkerPlan, dir: &Path, open_files: u64) -> SrsConfig {
    let dir = dir.display();
    let stream = &worker.stream;
    let mut out = super::config_banner(worker);
    let _ = writeln!(out, "listen {};", worker.rtmp);
    // SRS has no "unlimited": without the line it means 1000. 0 becomes as many as the open-files
    // limit allows, and a larger number is clamped to that rather than SRS refusing to start.
    let ceiling = connection_ceiling(open_files);
    let wanted = u64::from(stream.max_connections);
    let (max_connections, clamped) = match wanted {
        0 => (ceiling, None),
        n if n > ceiling => (ceiling, Some(ceiling)),
        n => (n, None),
    };
    let _ = writeln!(out, "max_connections {max_connections};");
    out.push_str("daemon off;\nsrs_log_tank console;\n");
    let _ = writeln!(out, "pid {dir}/srs.pid;");
    let _ = writeln!(out, "ff_log_dir {dir};");
    let hls_path = stream
        .hls
        .path
        .clone()
        .unwrap_or_else(|| format!("{dir}/html"));
    out.push_str("http_api {\n    enabled on;\n");
    let _ = writeln!(out, "    listen {};", worker.control);
    out.push_str("}\n");
    // The HTTP server serves HLS from where SRS writes it: `hls path` moves both.
    out.push_str("http_server {\n    enabled on;\n");
    let _ = writeln!(out, "    listen {};", worker.http);
    let _ = writeln!(out, "    dir {hls_path};");
    out.push_str("}\n");

    if let Some(srt) = &worker.srt {
        srt_server(&mut out, srt);
    }
    out.push_str("vhost __defaultVhost__ {\n");
    let _ = writeln!(out, "    chunk_size {};", stream.chunk_size);
    if worker.srt.is_some() {
        // SRS 5/6: SRT publishers become RTMP sources, so every protocol plays them.
        out.push_str("    srt {\n        enabled on;\n        srt_to_rtmp on;\n    }\n");
    }
    out.push_str("    play {\n");
    let _ = writeln!(
        out,
        "        gop_cache {};",
        if stream.gop_cache { "on" } else { "off" }
    );
    // Both are needed for "write at once": SRS's own defaults are 350 ms and 8 messages.
    let _ = writeln!(out, "        mw_latency {};", stream.merge_write_ms);
    let mw_msgs = if stream.merge_write_ms > 0 { 8 } else { 0 };
    let _ = writeln!(out, "        mw_msgs {mw_msgs};");
    out.push_str("    }\n");
    // SRS's merged read (off by default there) is the same trade as ours: fewer reads per publisher
    // for at most `mr_latency` more latency.
    if stream.merge_read_ms > 0 {
        out.push_str("    publish {\n        mr on;\n");
        let _ = writeln!(out, "        mr_latency {};", stream.merge_read_ms);
        out.push_str("    }\n");
    }
    out.push_str("    http_remux {\n");
    let _ = writeln!(out, "        enabled {};", on_off(stream.http_flv.enabled));
    // A mount without a leading `/` is `HOST/PATH` to SRS (a virtual host named after the app).
    out.push_str("        mount /[app]/[stream].flv;\n    }\n");
    out.push_str("    hls {\n");
    let _ = writeln!(out, "        enabled {};", on_off(stream.hls.enabled));
    let fragment_s = stream.hls.fragment_ms.max(1) as f64 / 1000.0;
    let _ = writeln!(out, "        hls_fragment {fragment_s};");
    let window_s = fragment_s * f64::from(stream.hls.window.max(1));
    let _ = writeln!(out, "        hls_window {window_s};");
    let _ = writeln!(out, "        hls_path {hls_path};");
    out.push_str("        hls_m3u8_file [app]/[stream].m3u8;\n");
    out.push_str("        hls_ts_file [app]/[stream]-[seq].ts;\n");
    out.push_str("        hls_dispose 30;\n    }\n");
    // `oryx check` refused every rule SRS cannot carry out; a hand-written plan's are left out.
    // SRS resolves a relative dvr_path against its own working directory: make it absolute first.
    let mut rules = stream.rules.clone();
    for rule in &mut rules {
        if let Some(record) = &mut rule.record {
            record.path = super::absolute(&record.path);
        }
    }
    let rules = native::srs(&rules, worker.rtmp.port()).0;
    for line in &rules.lines {
        let _ = writeln!(out, "{line}");
    }
    let hooks = &stream.hooks;
    let lists = [
        ("on_publish", &hooks.on_publish),
        ("on_unpublish", &hooks.on_unpublish),
        ("on_play", &hooks.on_play),
        ("on_stop", &hooks.on_stop),
        ("on_dvr", &rules.on_dvr),
    ];
    if lists.iter().any(|(_, urls)| !urls.is_empty()) {
        out.push_str("    http_hooks {\n        enabled on;\n");
        for (name, urls) in lists {
            if !urls.is_empty() {
                let _ = writeln!(out, "        {name} {};", urls.join(" "));
            }
        }
        out.push_str("    }\n");
    }
    out.push_str("}\n");
    SrsConfig { text: out, clamped }
}

/// SRS's `srt_server` from the plan's listener. The passphrase is read from its environment
/// variable here, at start: SRS only takes it in its configuration file, which lives in the
/// worker's run directory (the plan itself names only the variable).
fn srt_server(out: &mut String, srt: &crate::compile::plan::SrtListenPlan) {
    out.push_str("srt_server {\n    enabled on;\n");
    let _ = writeln!(out, "    listen {};", srt.listen.port());
    let _ = writeln!(out, "    latency {};", srt.latency_ms);
    let _ = writeln!(out, "    recvlatency {};", srt.latency_ms);
    let _ = writeln!(out, "    peerlatency {};", srt.latency_ms);
    let _ = writeln!(out, "    default_app live;");
    if let Some(pass) = srt
        .passphrase_env
        .as_deref()
        .and_then(|var| std::env::var(var).ok())
        .filter(|p| (10..=79).contains(&p.len()) && !p.contains([';', '\n', '"', '\'']))
    {
        let _ = writeln!(out, "    passphrase {pass};");
        let _ = writeln!(out, "    pbkeylen {};", srt.pbkeylen);
    }
    out.push_str("}\n");
}

fn on_off(enabled: bool) -> &'static str {
    if enabled {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::plan::Plan;

    fn srs_worker() -> WorkerPlan {
        let text = "oryx 1\nworker \"s\" kind=\"srs\" binary=\"/bin/sh\"\n";
        let plan: Plan =
            crate::compile::compile_source("t.kdl", text, None).unwrap_or_else(|f| panic!("{f}"));
        plan.workers[0].clone()
    }

    fn conf(worker: &WorkerPlan) -> String {
        config(worker, Path::new("/run/w"), 1 << 20).text
    }

    #[test]
    fn an_srt_lb_gives_srs_its_srt_server_on_the_rtmp_port_number() {
        let text = "oryx 1\nworker \"s\" kind=\"srs\" binary=\"/bin/sh\"\nsrt-lb listen=\"0.0.0.0:10080\" latency=\"300ms\"\n";
        let plan: Plan =
            crate::compile::compile_source("t.kdl", text, None).unwrap_or_else(|f| panic!("{f}"));
        let worker = &plan.workers[0];
        let srt = worker.srt.as_ref().expect("an SRT listener");
        assert_eq!(srt.listen.port(), worker.rtmp.port());
        let text = conf(worker);
        let server = format!(
            "srt_server {{\n    enabled on;\n    listen {};\n    latency 300;\n",
            worker.rtmp.port()
        );
        assert!(text.contains(&server), "{text}");
        assert!(text.contains("srt_to_rtmp on;"), "{text}");
        assert!(!conf(&srs_worker()).contains("srt"));
    }

    #[test]
    fn flv_mount_starts_with_a_slash() {
        // SRS takes a mount without a leading `/` as `HOST/PATH`: `[app]/[stream].flv` would belong
        // to a virtual host named after the app, and every `/live/cam.flv` would be a 404.
        assert!(conf(&srs_worker()).contains("        mount /[app]/[stream].flv;\n"));
    }

    #[test]
    fn merge_write_zero_writes_at_once() {
        let mut worker = srs_worker();
        worker.stream.merge_write_ms = 0;
        let text = conf(&worker);
        // Leaving them out would mean SRS's defaults: 350 ms and 8 messages.
        assert!(
            text.contains("        mw_latency 0;\n        mw_msgs 0;\n"),
            "{text}"
        );
        worker.stream.merge_write_ms = 120;
        let text = conf(&worker);
        assert!(
            text.contains("        mw_latency 120;\n        mw_msgs 8;\n"),
            "{text}"
        );
    }

    #[test]
    fn unlimited_connections_are_as_many_as_open_files_allow() {
        let mut worker = srs_worker();
        worker.stream.max_connections = 0;
        let srs = config(&worker, Path::new("/run/w"), 65536);
        // SRS refuses max_connections + 128 >= its open-files limit; without the line it means 1000.
        assert!(
            srs.text.contains("\nmax_connections 65407;\n"),
            "{}",
            srs.text
        );
        assert_eq!(srs.clamped, None);
    }

    #[test]
    fn max_connections_past_the_open_files_limit_are_clamped() {
        let mut worker = srs_worker();
        worker.stream.max_connections = 10000;
        let srs = config(&worker, Path::new("/run/w"), 1024);
        assert!(
            srs.text.contains("\nmax_connections 895;\n"),
            "{}",
            srs.text
        );
        assert_eq!(srs.clamped, Some(895));
        let srs = config(&worker, Path::new("/run/w"), 1 << 20);
        assert!(srs.text.contains("\nmax_connections 10000;\n"));
        assert_eq!(srs.clamped, None);
    }

    #[test]
    fn hls_is_served_from_where_it_is_written() {
        let mut worker = srs_worker();
        let text = conf(&worker);
        assert!(text.contains("    dir /run/w/html;\n"));
        assert!(text.contains("        hls_path /run/w/html;\n"));
        worker.stream.hls.path = Some("/var/hls".into());
        let text = conf(&worker);
        assert!(text.contains("    dir /var/hls;\n"), "{text}");
        assert!(text.contains("        hls_path /var/hls;\n"), "{text}");
    }
}
