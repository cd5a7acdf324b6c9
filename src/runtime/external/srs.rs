//! srs.conf for a `kind="srs"` worker.
//!
//! SRS runs in the foreground with console logs (the shell prefixes them), RTMP on the plan's loopback
//! port, its HTTP API on the worker's control port (so the api-lb aggregates SRS like an embedded
//! worker), and its HTTP server on the HTTP port with HTTP-FLV (`/APP/STREAM.flv`) and HLS
//! (`/APP/STREAM.m3u8`, `/APP/STREAM-SEQ.ts`), the URL shapes the http-lb routes.

use crate::compile::plan::WorkerPlan;
use std::fmt::Write;
use std::path::Path;

/// Render the srs.conf for `worker`, whose files live under `dir` (absolute).
pub fn config(worker: &WorkerPlan, dir: &Path) -> String {
    let dir = dir.display();
    let stream = &worker.stream;
    let mut out = super::config_banner(worker);
    let _ = writeln!(out, "listen {};", worker.rtmp);
    if stream.max_connections > 0 {
        let _ = writeln!(out, "max_connections {};", stream.max_connections);
    }
    out.push_str("daemon off;\nsrs_log_tank console;\n");
    let _ = writeln!(out, "pid {dir}/srs.pid;");
    let _ = writeln!(out, "ff_log_dir {dir};");
    out.push_str("http_api {\n    enabled on;\n");
    let _ = writeln!(out, "    listen {};", worker.control);
    out.push_str("}\n");
    out.push_str("http_server {\n    enabled on;\n");
    let _ = writeln!(out, "    listen {};", worker.http);
    let _ = writeln!(out, "    dir {dir}/html;");
    out.push_str("}\n");

    out.push_str("vhost __defaultVhost__ {\n");
    let _ = writeln!(out, "    chunk_size {};", stream.chunk_size);
    out.push_str("    play {\n");
    let _ = writeln!(
        out,
        "        gop_cache {};",
        if stream.gop_cache { "on" } else { "off" }
    );
    if stream.merge_write_ms > 0 {
        out.push_str("        mw_msgs 8;\n");
        let _ = writeln!(out, "        mw_latency {};", stream.merge_write_ms);
    }
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
    out.push_str("        mount [app]/[stream].flv;\n    }\n");
    out.push_str("    hls {\n");
    let _ = writeln!(out, "        enabled {};", on_off(stream.hls.enabled));
    let fragment_s = stream.hls.fragment_ms.max(1) as f64 / 1000.0;
    let _ = writeln!(out, "        hls_fragment {fragment_s};");
    let window_s = fragment_s * f64::from(stream.hls.window.max(1));
    let _ = writeln!(out, "        hls_window {window_s};");
    let hls_path = stream
        .hls
        .path
        .clone()
        .unwrap_or_else(|| format!("{dir}/html"));
    let _ = writeln!(out, "        hls_path {hls_path};");
    out.push_str("        hls_m3u8_file [app]/[stream].m3u8;\n");
    out.push_str("        hls_ts_file [app]/[stream]-[seq].ts;\n");
    out.push_str("        hls_dispose 30;\n    }\n");
    let hooks = &stream.hooks;
    let lists = [
        ("on_publish", &hooks.on_publish),
        ("on_unpublish", &hooks.on_unpublish),
        ("on_play", &hooks.on_play),
        ("on_stop", &hooks.on_stop),
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
    out
}

fn on_off(enabled: bool) -> &'static str {
    if enabled {
        "on"
    } else {
        "off"
    }
}
