//! The plan's text view: a readable, deterministic tree with the digest and every role's addresses.

use super::diff::{ChangeKind, RoleChange};
use super::plan::*;
use std::fmt::Write as _;

/// `2s`, `500ms`, `1m`.
pub fn duration(ms: u64) -> String {
    if ms == 0 {
        "0".into()
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `4MiB`, `64KiB`, `1000B`.
pub fn size(bytes: u64) -> String {
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn stream_lines(s: &StreamSettings, out: &mut String) {
    let _ = writeln!(
        out,
        "    stream    gop-cache {}, chunk-size {}, merge-write {}, merge-read {}, player-queue {}, max-connections {}",
        on_off(s.gop_cache),
        s.chunk_size,
        duration(s.merge_write_ms),
        duration(s.merge_read_ms),
        size(s.player_queue_bytes),
        s.max_connections
    );
    let flv = if s.http_flv.enabled {
        format!("on (wait {})", duration(s.http_flv.wait_ms))
    } else {
        "off".into()
    };
    let hls = if s.hls.enabled {
        let mut hls = format!(
            "on (fragment {}, window {}",
            duration(s.hls.fragment_ms),
            s.hls.window
        );
        if let Some(path) = &s.hls.path {
            let _ = write!(hls, ", path {path}");
        }
        // Shown only when set, so old plans render as before.
        if s.hls.segment_format != super::plan::HlsSegmentFormat::Auto {
            let _ = write!(hls, ", {:?}", s.hls.segment_format);
        }
        if s.hls.low_latency {
            let part = s.hls.part_ms.unwrap_or(super::plan::DEFAULT_HLS_PART_MS);
            let _ = write!(hls, ", low latency part {}", duration(part));
        }
        hls.push(')');
        hls
    } else {
        "off".into()
    };
    let _ = writeln!(out, "    http-flv  {flv}");
    let _ = writeln!(out, "    play-wait {}", duration(s.play_wait_ms));
    let _ = writeln!(out, "    hls       {hls}");
    let hooks = &s.hooks;
    for (name, urls) in [
        ("on-publish", &hooks.on_publish),
        ("on-unpublish", &hooks.on_unpublish),
        ("on-play", &hooks.on_play),
        ("on-stop", &hooks.on_stop),
    ] {
        for url in urls {
            let ca = match &hooks.ca {
                Some(ca) if url.starts_with("https://") => format!(", ca {ca}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "    hook      {name} {} (timeout {}, on-error {}{ca})",
                redact_url(url),
                duration(hooks.timeout_ms),
                hooks.on_error.name()
            );
        }
    }
}

/// A URL as the text view shows it: a password in the user info and every query value are secrets
/// operators put in hook URLs (`?token=…`), so they are masked. The JSON plan keeps them: it is what
/// the roles run from.
pub fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut shown = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => before_query.to_string(),
    };
    if let Some(query) = query {
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _value)) => format!("{key}=***"),
                None => pair.to_string(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&masked.join("&"));
    }
    shown
}

fn lb_line(name: &str, lb: &LbPlan, out: &mut String) {
    let _ = writeln!(
        out,
        "{name:<8} listen {}  control {}{}",
        lb.listen,
        lb.control,
        lb.host
            .as_ref()
            .map(|h| format!("  on {h}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "    routes to {}", lb.workers.join(", "));
    if let Some(tls) = &lb.tls {
        let source = cert_source_text(&tls.certs);
        let _ = writeln!(out, "    tls       {}  {source}", tls.listen);
    }
    if name == "api-lb" {
        // Only variable names: the secret itself never reaches the plan.
        let auth = match &lb.auth {
            None => "none (writes refused)".to_string(),
            Some(auth) => {
                let scope = if auth.reads { "every call" } else { "writes" };
                match &auth.scheme {
                    ApiAuthScheme::Bearer { token_env } => {
                        format!("bearer token from ${token_env}, for {scope}")
                    }
                    ApiAuthScheme::Basic { user, password_env } => {
                        format!("basic user {user}, password from ${password_env}, for {scope}")
                    }
                }
            }
        };
        let _ = writeln!(out, "    auth      {auth}");
        let origins = lb
            .cors_origins
            .as_ref()
            .map_or("*".to_string(), |list| list.join(", "));
        let _ = writeln!(out, "    cors      {origins}");
    }
}

/// The plan as a text tree.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "plan {}", plan.digest());
    let _ = writeln!(out, "env {}", plan.env.as_deref().unwrap_or("(none)"));
    let _ = writeln!(
        out,
        "ports {}..={}, shell control {}",
        plan.ports.from, plan.ports.to, plan.shell_control
    );
    let _ = writeln!(out);
    let placement = super::placement::placement_text(plan);
    if !placement.is_empty() {
        let _ = writeln!(out, "{placement}");
    }
    let _ = writeln!(out, "workers ({})", plan.workers.len());
    for w in &plan.workers {
        let _ = write!(out, "  {} [{}, group {}]", w.name, w.kind.as_str(), w.group);
        if let Some(host) = &w.host {
            let _ = write!(out, " on {host}");
        }
        if let Some(origin) = &w.origin {
            let _ = write!(out, " edge of {origin}");
        }
        if let Some(share) = w.edge_share {
            let _ = write!(out, " share {share}");
        }
        if let Some(binary) = &w.binary {
            let _ = write!(out, " binary {binary}");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "    listen    rtmp {}  http {}  control {}{}",
            w.rtmp,
            w.http,
            w.control,
            if w.proxy_protocol {
                "  (PROXY v2 from rtmp-lb)"
            } else {
                ""
            }
        );
        stream_lines(&w.stream, &mut out);
    }
    if let Some(rules) = plan.workers.first().map(|w| &w.stream.rules) {
        if !rules.is_empty() {
            let _ = writeln!(out);
            rule_lines(rules, &mut out);
        }
    }
    for (name, lb) in [
        ("rtmp-lb", &plan.rtmp_lb),
        ("http-lb", &plan.http_lb),
        ("api-lb", &plan.api_lb),
        ("srt-lb", &plan.srt_lb),
    ] {
        if let Some(lb) = lb {
            let _ = writeln!(out);
            lb_line(name, lb, &mut out);
        }
    }
    for site in &plan.statics {
        let _ = writeln!(out);
        static_lines(site, &mut out);
    }
    for ingest in &plan.ingests {
        let _ = writeln!(out);
        ingest_lines(ingest, &mut out);
    }
    out
}

/// `800k`, `2.5M`: bitrates as the language writes them.
pub fn bitrate(bits: u64) -> String {
    if bits >= 1_000_000 && bits.is_multiple_of(100_000) {
        format!("{}M", bits as f64 / 1e6)
    } else if bits >= 1000 && bits.is_multiple_of(1000) {
        format!("{}k", bits / 1000)
    } else {
        bits.to_string()
    }
}

/// The stream rules every worker carries, once (they are the same on each).
fn rule_lines(rules: &[StreamRule], out: &mut String) {
    let _ = writeln!(
        out,
        "stream rules ({}, on every worker; the first match applies)",
        rules.len()
    );
    for rule in rules {
        let _ = writeln!(out, "  {}", rule.pattern);
        if let Some(record) = &rule.record {
            let segment = record
                .segment_ms
                .map_or("one file per publish".to_string(), |ms| {
                    format!("segment {}", duration(ms))
                });
            let _ = writeln!(out, "    record    {} ({segment})", record.path);
        }
        for forward in &rule.forwards {
            let ca = forward
                .ca
                .as_ref()
                .map(|ca| format!(" (ca {ca})"))
                .unwrap_or_default();
            let _ = writeln!(out, "    forward   {}{ca}", redact_url(&forward.url));
        }
        if let Some(transcode) = &rule.transcode {
            let _ = writeln!(out, "    transcode {}", transcode.binary);
            for r in &transcode.renditions {
                let audio = r.audio_bitrate.map_or("audio copied".to_string(), |a| {
                    format!("audio {}", bitrate(a))
                });
                let _ = writeln!(
                    out,
                    "      {} {}x{} video {}, {audio}",
                    r.name,
                    r.width,
                    r.height,
                    bitrate(r.video_bitrate)
                );
            }
        }
        for command in &rule.exec {
            let _ = writeln!(out, "    exec      {command}");
        }
        for url in &rule.on_record {
            let _ = writeln!(out, "    on-record {}", redact_url(url));
        }
    }
}

/// One ingest role: what it pulls, where it publishes, how.
fn ingest_lines(ingest: &IngestPlan, out: &mut String) {
    let _ = writeln!(out, "ingest {}", ingest.name);
    let _ = writeln!(
        out,
        "    from      {}{}",
        redact_url(&ingest.from),
        if ingest.looping { " (loop)" } else { "" }
    );
    let _ = writeln!(out, "    publishes {}", ingest.stream);
    let _ = writeln!(out, "    binary    {}", ingest.binary);
    let _ = writeln!(out, "    control   {}", ingest.control);
}

/// One static site: root, listeners, certificate source, proxy routes.
fn static_lines(site: &StaticPlan, out: &mut String) {
    let _ = writeln!(out, "static {}", site.name);
    let _ = writeln!(out, "    root      {}", site.root);
    if let Some(listen) = site.listen {
        let _ = writeln!(
            out,
            "    listen    {listen}{}",
            if site.redirect_https {
                " (redirects to https)"
            } else {
                ""
            }
        );
    }
    if let Some(tls) = &site.tls {
        let source = cert_source_text(&tls.certs);
        let _ = writeln!(out, "    tls       {}  {source}", tls.listen);
    }
    if site.directory_listing {
        let _ = writeln!(out, "    directory listing on");
    }
    for proxy in &site.proxies {
        let mut notes = Vec::new();
        if proxy.strip_prefix {
            notes.push("prefix stripped".to_string());
        }
        if !proxy.writes {
            notes.push("reads only".to_string());
        }
        if let Some(ca) = &proxy.ca {
            notes.push(format!("ca {ca}"));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        let _ = writeln!(out, "    proxy     {} -> {}{notes}", proxy.prefix, proxy.to);
    }
    let _ = writeln!(out, "    control   {}", site.control);
}

/// Where a site's certificates come from, in one line.
fn cert_source_text(certs: &CertSource) -> String {
    match certs {
        CertSource::Acme(acme) => format!(
            "acme {} for {} via {}, cache {}{}{}",
            match acme.challenge {
                AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
                AcmeChallenge::Http01 => "http-01",
            },
            acme.domains.join(", "),
            acme.directory,
            acme.cache,
            if acme.contacts.is_empty() {
                String::new()
            } else {
                format!(", contact {}", acme.contacts.join(", "))
            },
            acme.directory_ca
                .as_ref()
                .map(|ca| format!(", directory CA {ca}"))
                .unwrap_or_default()
        ),
        CertSource::Files { pairs } => format!(
            "files {}",
            pairs
                .iter()
                .map(|p| format!("{} + {}", p.cert, p.key))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        CertSource::SelfSigned { names } => {
            format!("self-signed for {}", names.join(", "))
        }
    }
}

/// `oryx plan --diff` text: one line per role, with the changed fields under it.
pub fn diff_text(old: &Plan, new: &Plan, changes: &[RoleChange]) -> String {
    let text = changes_text(&old.digest(), &new.digest(), changes);
    if old.hosts.is_empty() && new.hosts.is_empty() {
        return text;
    }
    // With hosts, each change line says where the role runs (where it ran, when removed).
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        let role = changes
            .iter()
            .find(|c| line.split_whitespace().nth(1) == Some(c.role.as_str()));
        if let Some(change) = role.filter(|_| !line.starts_with(' ')) {
            let host = match change.kind {
                ChangeKind::Removed => old.host_of(&change.role),
                _ => new.host_of(&change.role),
            };
            if let Some(host) = host {
                let _ = write!(out, "  on {host}");
            }
        }
        out.push('\n');
    }
    out
}

/// [`diff_text`] from the digests alone (`oryx reload --dry-run` gets the changes from the shell).
pub fn changes_text(old_digest: &str, new_digest: &str, changes: &[RoleChange]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "old {old_digest}");
    let _ = writeln!(out, "new {new_digest}");
    if changes.is_empty() {
        let _ = writeln!(out, "no changes");
        return out;
    }
    for change in changes {
        let sign = match change.kind {
            ChangeKind::Added => '+',
            ChangeKind::Removed => '-',
            ChangeKind::Changed => '~',
        };
        let kind = match change.kind {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        };
        let _ = writeln!(
            out,
            "{sign} {:<20} {kind:<8} {}",
            change.role,
            change.class.as_str()
        );
        for field in &change.fields {
            let _ = writeln!(out, "    {}: {} -> {}", field.path, field.old, field.new);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_naturally() {
        assert_eq!(duration(2000), "2s");
        assert_eq!(duration(500), "500ms");
        assert_eq!(duration(120_000), "2m");
        assert_eq!(size(4 << 20), "4MiB");
        assert_eq!(size(1000), "1000B");
        assert_eq!(bitrate(2_500_000), "2.5M");
        assert_eq!(bitrate(800_000), "800k");
        assert_eq!(bitrate(1_250), "1250");
    }
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn secrets_in_hook_urls_are_masked() {
        assert_eq!(
            redact_url("http://127.0.0.1:8085/auth?token=s3cret&x=1"),
            "http://127.0.0.1:8085/auth?token=***&x=***"
        );
        assert_eq!(
            redact_url("http://ops:pw@hooks.example/a"),
            "http://ops:***@hooks.example/a"
        );
        assert_eq!(redact_url("http://h/a"), "http://h/a");
        assert_eq!(redact_url("http://u@h/?flag"), "http://u@h/?flag");
    }
}
