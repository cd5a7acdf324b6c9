//! nginx.conf for a `kind="nginx-rtmp"` worker (Debian's nginx + libnginx-mod-rtmp).
//!
//! One process (`master_process off`) so the parent-death signal the shell sets reaches everything that
//! holds the worker's ports, and so the RTMP module needs no cross-process push. RTMP on the plan's
//! loopback port with an application for `live` and for each stream rule's app (`APP/*`), the rule's
//! record, push and exec directives in it (`compile::native` translates them); HLS written under the worker's directory and served
//! by an HTTP server on the plan's HTTP port as `/APP/STREAM.m3u8` and `/APP/STREAM-N.ts`, the URL
//! shape the http-lb routes.

use crate::compile::native::{self, NginxApp};
use crate::compile::plan::WorkerPlan;
use std::fmt::Write;
use std::path::Path;

/// Where Debian installs the RTMP module.
pub const MODULE_PATH: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// The applications every worker serves, besides those its stream rules name: `live` is the app
/// every URL the shell prints uses.
pub const APPS: &[&str] = &["live"];

/// The rule applications for `worker`: what [`config`] writes and the directories recording needs.
pub fn rule_apps(worker: &WorkerPlan) -> Vec<NginxApp> {
    // nginx resolves a relative path against its prefix (the worker's directory), and the plan's
    // are relative to where oryx runs: make them absolute first.
    let mut stream = worker.stream.clone();
    for rule in &mut stream.rules {
        if let Some(record) = &mut rule.record {
            record.path = super::absolute(&record.path);
        }
    }
    // `oryx check` refused every rule nginx-rtmp cannot carry out; a hand-written plan's are left out.
    native::nginx(&stream.rules, worker.rtmp.port()).0
}

/// Render the nginx.conf for `worker`, whose files live under `dir` (absolute).
pub fn config(worker: &WorkerPlan, dir: &Path) -> String {
    let dir = dir.display();
    let stream = &worker.stream;
    let mut out = super::config_banner(worker);
    let _ = writeln!(out, "load_module {MODULE_PATH};");
    out.push_str("daemon off;\nmaster_process off;\nworker_processes 1;\n");
    let _ = writeln!(out, "pid {dir}/logs/nginx.pid;");
    out.push_str("error_log stderr warn;\n");
    out.push_str("events { worker_connections 16384; }\n\n");

    out.push_str("rtmp {\n    server {\n");
    let _ = writeln!(out, "        listen {};", worker.rtmp);
    let _ = writeln!(out, "        chunk_size {};", stream.chunk_size);
    if stream.max_connections > 0 {
        let _ = writeln!(out, "        max_connections {};", stream.max_connections);
    }
    let rules = rule_apps(worker);
    let mut apps: Vec<&str> = APPS.to_vec();
    apps.extend(
        rules
            .iter()
            .map(|r| r.app.as_str())
            .filter(|a| !APPS.contains(a)),
    );
    for app in apps {
        let _ = writeln!(out, "        application {app} {{");
        out.push_str("            live on;\n");
        match rules.iter().find(|r| r.app == app) {
            Some(rule) if rule.lines.iter().any(|l| l.starts_with("record ")) => {}
            _ => out.push_str("            record off;\n"),
        }
        for line in rules.iter().filter(|r| r.app == app).flat_map(|r| &r.lines) {
            let _ = writeln!(out, "            {line}");
        }
        if stream.hls.enabled {
            let fragment = stream.hls.fragment_ms.max(1);
            let playlist = fragment.saturating_mul(u64::from(stream.hls.window.max(1)));
            out.push_str("            hls on;\n");
            let _ = writeln!(out, "            hls_path {dir}/hls/{app};");
            let _ = writeln!(out, "            hls_fragment {fragment}ms;");
            let _ = writeln!(out, "            hls_playlist_length {playlist}ms;");
            out.push_str("            hls_cleanup on;\n");
        }
        out.push_str("        }\n");
    }
    out.push_str("    }\n}\n\n");

    out.push_str("http {\n    access_log off;\n    log_not_found off;\n");
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let _ = writeln!(out, "    {temp}_temp_path {dir}/tmp/{temp};");
    }
    out.push_str("    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }\n");
    out.push_str("    server {\n");
    let _ = writeln!(out, "        listen {};", worker.http);
    let _ = writeln!(out, "        root {dir}/hls;");
    out.push_str("        location ~ \\.m3u8$ { add_header Cache-Control no-cache; }\n");
    out.push_str("        location ~ \\.ts$ { add_header Cache-Control max-age=60; }\n");
    out.push_str("        location / { return 404; }\n");
    out.push_str("    }\n}\n");
    out
}
