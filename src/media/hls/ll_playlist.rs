//! fMP4 media playlists (RFC 8216bis): `EXT-X-MAP` for each init segment, `.m4s` segments, and with
//! low latency the parts (`EXT-X-PART`, `EXT-X-PART-INF`), the preload hint, `EXT-X-SERVER-CONTROL`
//! and delta updates (`EXT-X-SKIP`). Also the names of the files and the delivery directives of a
//! blocking reload (`_HLS_msn`, `_HLS_part`, `_HLS_skip`) with when they are satisfied.

use super::Segment;
use bytes::Bytes;
use std::fmt::Write;
use std::sync::Arc;

/// `CAN-SKIP-UNTIL` in target durations (RFC 8216bis: at least six).
const SKIP_TARGETS: u64 = 6;
/// `PART-HOLD-BACK` in part targets (RFC 8216bis: at least two, three recommended).
const PART_HOLD_BACK_PARTS: u64 = 3;

/// `{stream}-{sequence}.m4s`
pub fn segment_name(stream: &str, sequence: u64) -> String {
    format!("{stream}-{sequence}.m4s")
}

/// `{stream}-p{id}.m4s`
pub fn part_name(stream: &str, id: u64) -> String {
    format!("{stream}-p{id}.m4s")
}

/// `{stream}-init.mp4` for the first init segment, `{stream}-init{N}.mp4` after N codec changes or
/// republishes (a new name, so no cache serves the old one).
pub fn init_name(stream: &str, generation: u64) -> String {
    if generation == 0 {
        format!("{stream}-init.mp4")
    } else {
        format!("{stream}-init{generation}.mp4")
    }
}

/// One part: an fMP4 fragment, numbered across segments (so a preload hint names it before anyone
/// knows whether it opens a new segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub id: u64,
    pub duration_ms: u64,
    pub independent: bool,
    pub data: Bytes,
}

/// A completed segment as the playlist lists it.
pub struct Listed<'a> {
    pub segment: &'a Arc<Segment>,
    pub init: u64,
    /// Its parts while it is among the newest; empty after.
    pub parts: &'a [Arc<Part>],
}

/// What a playlist is rendered from.
pub struct PlaylistView<'a> {
    pub stream: &'a str,
    pub min_target_ms: u64,
    pub discontinuity_sequence: u64,
    pub listed: Vec<Listed<'a>>,
    /// The open segment: its init, whether it starts a discontinuity, its parts so far.
    pub open: Option<(u64, bool, &'a [Arc<Part>])>,
    pub next_part: u64,
    pub ended: bool,
}

/// Low-latency rendering: the part target, whether the client asked for a delta update, and
/// whether whoever serves the playlist answers blocking reloads and delta updates (the worker) or
/// serves it as a file (the disk mirror behind a static server or CDN: players poll it).
#[derive(Debug, Clone, Copy)]
pub struct LowLatency {
    pub part_ms: u64,
    pub skip: bool,
    pub server: bool,
}

impl PlaylistView<'_> {
    pub fn target_duration_secs(&self) -> u64 {
        self.listed
            .iter()
            .map(|l| l.segment.duration_ms)
            .chain(std::iter::once(self.min_target_ms))
            .map(|ms| ms.div_ceil(1000))
            .max()
            .unwrap_or(1)
            .max(1)
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Renders the playlist; `low_latency` adds the parts and the LL-HLS tags.
pub fn render(view: &PlaylistView<'_>, low_latency: Option<LowLatency>) -> String {
    let mut text = String::with_capacity(512 + view.listed.len() * 64);
    let target = view.target_duration_secs();
    // 6: EXT-X-MAP in a media playlist; 9: EXT-X-SKIP (sent on request) and the LL-HLS tags.
    let version = if low_latency.is_some() { 9 } else { 6 };
    let _ = write!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n"
    );
    let skip_until_ms = target * 1000 * SKIP_TARGETS;
    if let Some(ll) = low_latency {
        let hold_back = seconds(ll.part_ms * PART_HOLD_BACK_PARTS);
        if ll.server {
            let _ = writeln!(
                text,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={},PART-HOLD-BACK={hold_back}",
                seconds(skip_until_ms),
            );
        } else {
            // PART-HOLD-BACK is required with parts; a file cannot block nor skip.
            let _ = writeln!(text, "#EXT-X-SERVER-CONTROL:PART-HOLD-BACK={hold_back}");
        }
        let _ = writeln!(text, "#EXT-X-PART-INF:PART-TARGET={}", seconds(ll.part_ms));
    }
    let media_sequence = view.listed.first().map_or(0, |l| l.segment.sequence);
    let _ = writeln!(text, "#EXT-X-MEDIA-SEQUENCE:{media_sequence}");
    if view.discontinuity_sequence > 0 {
        let _ = writeln!(
            text,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            view.discontinuity_sequence
        );
    }
    let skipped = match low_latency {
        Some(ll) if ll.skip => skippable(view, skip_until_ms),
        _ => 0,
    };
    if skipped > 0 {
        let _ = writeln!(text, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
    }
    let mut current_init = None;
    for listed in &view.listed[skipped..] {
        let segment = listed.segment;
        if segment.discontinuity {
            text.push_str("#EXT-X-DISCONTINUITY\n");
        }
        map(&mut text, view.stream, listed.init, &mut current_init);
        if low_latency.is_some() {
            parts(&mut text, view.stream, listed.parts);
        }
        let _ = writeln!(
            text,
            "#EXTINF:{},\n{}",
            seconds(segment.duration_ms),
            segment_name(view.stream, segment.sequence)
        );
    }
    if low_latency.is_some() && !view.ended {
        if let Some((init, discontinuity, open_parts)) = view.open {
            if discontinuity {
                text.push_str("#EXT-X-DISCONTINUITY\n");
            }
            map(&mut text, view.stream, init, &mut current_init);
            parts(&mut text, view.stream, open_parts);
        }
        let _ = writeln!(
            text,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
            part_name(view.stream, view.next_part)
        );
    }
    if view.ended {
        text.push_str("#EXT-X-ENDLIST\n");
    }
    text
}

/// `EXT-X-MAP` where the init segment changes (and before the first segment).
fn map(text: &mut String, stream: &str, init: u64, current: &mut Option<u64>) {
    if *current != Some(init) {
        let _ = writeln!(text, "#EXT-X-MAP:URI=\"{}\"", init_name(stream, init));
        *current = Some(init);
    }
}

fn parts(text: &mut String, stream: &str, parts: &[Arc<Part>]) {
    for part in parts {
        let _ = write!(
            text,
            "#EXT-X-PART:DURATION={},URI=\"{}\"",
            seconds(part.duration_ms),
            part_name(stream, part.id)
        );
        text.push_str(if part.independent {
            ",INDEPENDENT=YES\n"
        } else {
            "\n"
        });
    }
}

/// How many of the oldest listed segments a delta update leaves out: those ending at least
/// `skip_until_ms` before the end of the playlist.
fn skippable(view: &PlaylistView<'_>, skip_until_ms: u64) -> usize {
    let open_ms: u64 = view
        .open
        .map_or(0, |(_, _, parts)| parts.iter().map(|p| p.duration_ms).sum());
    let total: u64 = view
        .listed
        .iter()
        .map(|l| l.segment.duration_ms)
        .sum::<u64>()
        + open_ms;
    let mut ended_at = 0;
    let mut count = 0;
    for listed in &view.listed {
        ended_at += listed.segment.duration_ms;
        if total - ended_at < skip_until_ms {
            break;
        }
        count += 1;
    }
    // A delta update still lists one segment at least.
    count.min(view.listed.len().saturating_sub(1))
}

/// Where a stream's live edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Sequence number of the open segment (the next one when none is open).
    pub msn: u64,
    /// Complete parts of the open segment.
    pub parts: u64,
    /// Id the next part gets (the preload hint's).
    pub next_part: u64,
    /// The publisher left: nothing more comes for now.
    pub ended: bool,
    /// A playlist exists (a segment completed).
    pub started: bool,
}

/// A playlist request's delivery directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Directives {
    /// `_HLS_msn` and `_HLS_part`: block until that segment (or part of it) is in the playlist.
    pub block: Option<(u64, Option<u64>)>,
    /// `_HLS_skip=YES` (or `v2`): a delta update.
    pub skip: bool,
}

/// A malformed delivery directive (`_HLS_part` without `_HLS_msn`, a number that is not): the
/// RFC's 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadDirective;

/// Reads the directives from a query (`a=1&b=2`).
pub fn directives(query: &str) -> Result<Directives, BadDirective> {
    let mut msn = None;
    let mut part = None;
    let mut skip = false;
    for pair in query.trim_start_matches('?').split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "_HLS_msn" => msn = Some(value.parse::<u64>().map_err(|_| BadDirective)?),
            "_HLS_part" => part = Some(value.parse::<u64>().map_err(|_| BadDirective)?),
            "_HLS_skip" => skip = matches!(value, "YES" | "v2"),
            _ => {}
        }
    }
    if part.is_some() && msn.is_none() {
        return Err(BadDirective);
    }
    Ok(Directives {
        block: msn.map(|msn| (msn, part)),
        skip,
    })
}

/// What a blocking request gets now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// The playlist holds what was asked for (or nothing more is coming): answer.
    Ready,
    /// Hold the request until the edge moves (bounded by the caller).
    Wait,
    /// Asked for more than two segments past the playlist's last: 400 at once (RFC 8216bis 6.2.5.2).
    TooFar,
}

/// Whether a playlist with its edge at `at` satisfies `_HLS_msn=msn` (`_HLS_part=part`).
pub fn readiness(at: Position, msn: u64, part: Option<u64>) -> Readiness {
    if at.ended && at.started {
        return Readiness::Ready;
    }
    let last = if at.parts > 0 {
        at.msn
    } else {
        at.msn.saturating_sub(1)
    };
    if msn > last + 2 {
        return Readiness::TooFar;
    }
    let done = msn < at.msn || (msn == at.msn && part.is_some_and(|p| p < at.parts));
    if done && at.started {
        Readiness::Ready
    } else {
        Readiness::Wait
    }
}

/// What a request for part `id` gets now: the hinted (next) part waits for it, a past one is
/// served or gone, a later one was never announced.
pub fn part_readiness(at: Position, id: u64) -> Readiness {
    if id < at.next_part {
        Readiness::Ready
    } else if id == at.next_part && !at.ended {
        Readiness::Wait
    } else {
        Readiness::TooFar
    }
}
