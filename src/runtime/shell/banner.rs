//! What `oryx up` prints when it starts: the plan digest and the URLs and commands users need.

use crate::compile::plan::Plan;
use std::net::SocketAddr;
use std::path::Path;

/// The address users type for a listener: wildcard binds are shown as 127.0.0.1.
fn public(addr: SocketAddr) -> SocketAddr {
    let mut shown = addr;
    if addr.ip().is_unspecified() {
        shown.set_ip([127, 0, 0, 1].into());
    }
    shown
}

/// The lines `oryx up` prints: the digest and the URLs users need.
pub fn banner(plan: &Plan) -> String {
    let mut lines = vec![format!("oryx up: plan {}", plan.digest())];
    let first = plan.workers.first();
    let rtmp = plan
        .rtmp_lb
        .as_ref()
        .map(|lb| public(lb.listen))
        .or(first.map(|w| w.rtmp));
    let http = plan
        .http_lb
        .as_ref()
        .map(|lb| public(lb.listen))
        .or(first.map(|w| w.http));
    if let Some(rtmp) = rtmp {
        lines.push(format!("  publish  rtmp://{rtmp}/live/STREAM"));
        lines.push(format!("  play     rtmp://{rtmp}/live/STREAM"));
    }
    if let Some(http) = http {
        if plan.workers.iter().any(|w| w.stream.http_flv.enabled) {
            lines.push(format!("  flv      http://{http}/live/STREAM.flv"));
        }
        if plan.workers.iter().any(|w| w.stream.hls.enabled) {
            lines.push(format!("  hls      http://{http}/live/STREAM.m3u8"));
        }
    }
    if let Some(srt) = &plan.srt_lb {
        let srt = public(srt.listen);
        lines.push(format!(
            "  srt      srt://{srt}?streamid=#!::r=live/STREAM,m=publish (m=request plays)"
        ));
    }
    if let Some(api) = &plan.api_lb {
        lines.push(format!(
            "  api      http://{}/api/v1/streams",
            public(api.listen)
        ));
    }
    for site in &plan.statics {
        if let Some(listen) = site.listen {
            lines.push(format!(
                "  static   http://{}/ ({})",
                public(listen),
                site.name
            ));
        }
        if let Some(tls) = &site.tls {
            lines.push(format!(
                "  static   https://{}/ ({})",
                public(tls.listen),
                site.name
            ));
        }
    }
    for w in &plan.workers {
        lines.push(format!(
            "  worker   {} ({}) rtmp {} http {} control {}",
            w.name,
            w.kind.as_str(),
            w.rtmp,
            w.http,
            w.control
        ));
    }
    for ingest in &plan.ingests {
        lines.push(format!(
            "  ingest   {} <- {} (control {})",
            ingest.stream,
            crate::compile::render::redact_url(&ingest.from),
            ingest.control
        ));
    }
    lines.join("\n")
}

/// The lines after the banner: how to reload this shell (`run_dir` as the user gave it) and where
/// its merged metrics are.
pub fn operator_lines(plan: &Plan, run_dir: &Path) -> String {
    format!(
        "  reload   oryx reload --run-dir {} (or SIGHUP to pid {})\n  metrics  http://{}/metrics (every role, with a role label)",
        run_dir.display(),
        std::process::id(),
        plan.shell_control
    )
}
