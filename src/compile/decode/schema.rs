//! The schema as one table: every node the topology language has, the settings it takes (name and
//! shape), its child blocks and how many arguments it takes. Decoding gathers each node against its
//! [`Spec`] here, and the did-you-mean lists and "expected" lists of diagnostics come from the same
//! entries, so a setting added here is accepted and suggested at once.
//!
//! Where a setting is allowed is the node whose `Spec` lists it. The stream settings are one group,
//! [`STREAM`], shared by `defaults` and `worker`: they are written once.

use super::super::fields::{Shape, Spec};
use Shape::{List, One};

/// The top-level nodes.
pub const TOP_LEVEL: &[&str] = &[
    "oryx", "ports", "defaults", "worker", "rtmp-lb", "http-lb", "api-lb", "srt-lb", "static",
    "stream", "ingest", "env", "host", "secret",
];

/// Stream settings, allowed in `defaults` and in each `worker` (the worker's win).
const STREAM: &[(&str, Shape)] = &[
    ("gop-cache", One),
    ("chunk-size", One),
    ("merge-write", One),
    ("merge-read", One),
    ("play-wait", One),
    ("player-queue", One),
    ("max-connections", One),
    ("http-flv", One),
    ("hls", One),
];
/// Stream settings with their own block, allowed where [`STREAM`] is.
const STREAM_BLOCKS: &[&str] = &["http-flv", "hls", "hooks"];

/// Settings only a `worker` takes, listed before the stream settings.
const WORKER_ONLY: &[(&str, Shape)] = &[
    ("kind", One),
    ("count", One),
    ("binary", One),
    ("host", One),
    ("hosts", List),
    ("origin", One),
    ("edge-share", One),
];

pub const ORYX: Spec = Spec {
    node: "oryx",
    max_args: 1,
    settings: &[],
    blocks: &[],
};

pub const PORTS: Spec = Spec {
    node: "ports",
    max_args: 0,
    settings: &[&[("from", One), ("to", One)]],
    blocks: &[],
};

pub const DEFAULTS: Spec = Spec {
    node: "defaults",
    max_args: 0,
    settings: &[STREAM],
    blocks: STREAM_BLOCKS,
};

pub const WORKER: Spec = Spec {
    node: "worker",
    max_args: 1,
    settings: &[WORKER_ONLY, STREAM],
    blocks: &["http-flv", "hls", "hooks", "webrtc", "srt"],
};

/// A worker's WebRTC (WHIP/WHEP): its UDP socket and the candidates its answers announce.
pub const WEBRTC: Spec = Spec {
    node: "webrtc",
    max_args: 0,
    settings: &[&[("candidate", List)]],
    blocks: &["udp"],
};

/// `webrtc`'s `udp listen="ADDRESS"`.
pub const WEBRTC_UDP: Spec = Spec {
    node: "udp",
    max_args: 0,
    settings: &[&[("listen", One)]],
    blocks: &[],
};

/// The SRT options a worker's `srt` block and the `srt-lb` share.
const SRT_OPTIONS: &[(&str, Shape)] =
    &[("latency", One), ("passphrase-env", One), ("pbkeylen", One)];

/// A worker's SRT listener: `srt listen="0.0.0.0:10080" latency="120ms" …`.
pub const SRT: Spec = Spec {
    node: "srt",
    max_args: 0,
    settings: &[&[("listen", One)], SRT_OPTIONS],
    blocks: &[],
};

/// `http-flv` as a block: an optional on/off argument and its settings.
pub const HTTP_FLV: Spec = Spec {
    node: "http-flv",
    max_args: 1,
    settings: &[&[("wait", One)]],
    blocks: &[],
};

/// `hls` as a block: an optional on/off argument and its settings.
pub const HLS: Spec = Spec {
    node: "hls",
    max_args: 1,
    settings: &[&[
        ("fragment", One),
        ("window", One),
        ("path", One),
        ("segment-format", One),
        ("low-latency", One),
        ("part", One),
    ]],
    blocks: &[],
};

pub const HOOKS: Spec = Spec {
    node: "hooks",
    max_args: 0,
    settings: &[&[
        ("on-publish", List),
        ("on-unpublish", List),
        ("on-play", List),
        ("on-stop", List),
        ("timeout", One),
        ("on-error", One),
        ("ca", One),
    ]],
    blocks: &[],
};

/// Settings every LB takes.
const LB: &[(&str, Shape)] = &[("listen", One), ("workers", List), ("host", One)];

pub const RTMP_LB: Spec = Spec {
    node: "rtmp-lb",
    max_args: 0,
    settings: &[LB],
    blocks: &["tls"],
};

pub const HTTP_LB: Spec = Spec {
    node: "http-lb",
    max_args: 0,
    settings: &[LB],
    blocks: &[],
};

/// The srt-lb: its options go to the SRT listeners it gives the workers.
pub const SRT_LB: Spec = Spec {
    node: "srt-lb",
    max_args: 0,
    settings: &[LB, SRT_OPTIONS],
    blocks: &[],
};

pub const API_LB: Spec = Spec {
    node: "api-lb",
    max_args: 0,
    settings: &[LB, &[("cors-origins", List)]],
    blocks: &["auth"],
};

/// The api-lb's `auth` block.
pub const AUTH: Spec = Spec {
    node: "auth",
    max_args: 0,
    settings: &[&[
        ("token-env", One),
        ("user", One),
        ("password-env", One),
        ("reads", One),
    ]],
    blocks: &[],
};

pub const STATIC: Spec = Spec {
    node: "static",
    max_args: 1,
    settings: &[&[
        ("root", One),
        ("listen", One),
        ("redirect-https", One),
        ("directory-listing", One),
        ("host", One),
    ]],
    blocks: &["tls", "proxy"],
};

pub const TLS: Spec = Spec {
    node: "tls",
    max_args: 0,
    settings: &[&[("listen", One)]],
    blocks: &["acme", "cert", "self-signed"],
};

pub const CERT: Spec = Spec {
    node: "cert",
    max_args: 1,
    settings: &[&[("key", One)]],
    blocks: &[],
};

/// `self-signed "NAME" …`: the names only.
pub const SELF_SIGNED: Spec = Spec {
    node: "self-signed",
    max_args: 64,
    settings: &[],
    blocks: &[],
};

pub const ACME: Spec = Spec {
    node: "acme",
    max_args: 0,
    settings: &[&[
        ("domain", List),
        ("contact", List),
        ("directory", One),
        ("staging", One),
        ("directory-ca", One),
        ("challenge", One),
        ("cache", One),
    ]],
    blocks: &[],
};

pub const PROXY: Spec = Spec {
    node: "proxy",
    max_args: 1,
    settings: &[&[
        ("to", One),
        ("strip-prefix", One),
        ("writes", One),
        ("ca", One),
    ]],
    blocks: &[],
};

/// `stream "PATTERN" { … }`: a rule for every stream the pattern matches. `exec` is a list setting
/// (one command per `exec` node); `record`, `forward`, `transcode` and `hooks` are blocks.
pub const STREAM_RULE: Spec = Spec {
    node: "stream",
    max_args: 1,
    settings: &[&[("exec", List)]],
    blocks: &["record", "forward", "transcode", "hooks"],
};

pub const RECORD: Spec = Spec {
    node: "record",
    max_args: 0,
    settings: &[&[("path", One), ("segment", One)]],
    blocks: &[],
};

/// `forward "rtmp://…" [ca="…"]`, repeatable.
pub const FORWARD: Spec = Spec {
    node: "forward",
    max_args: 1,
    settings: &[&[("ca", One)]],
    blocks: &[],
};

pub const TRANSCODE: Spec = Spec {
    node: "transcode",
    max_args: 0,
    settings: &[&[("binary", One)]],
    blocks: &["rendition"],
};

pub const RENDITION: Spec = Spec {
    node: "rendition",
    max_args: 1,
    settings: &[&[
        ("size", One),
        ("video-bitrate", One),
        ("audio-bitrate", One),
    ]],
    blocks: &[],
};

/// A stream rule's `hooks`: only what happens to that rule's streams.
pub const RULE_HOOKS: Spec = Spec {
    node: "hooks",
    max_args: 0,
    settings: &[&[("on-record", List)]],
    blocks: &[],
};

/// `ingest "APP/STREAM" from="…" [loop=#true] [binary="ffmpeg"] [name="…"]`.
pub const INGEST: Spec = Spec {
    node: "ingest",
    max_args: 1,
    settings: &[&[
        ("from", One),
        ("loop", One),
        ("binary", One),
        ("name", One),
        ("host", One),
    ]],
    blocks: &[],
};

/// `host "NAME" address="10.0.0.2"`: one machine of a multi-host topology.
pub const HOST: Spec = Spec {
    node: "host",
    max_args: 1,
    settings: &[&[("address", One)]],
    blocks: &[],
};

/// `secret env="ORYX_CLUSTER_SECRET"` or `secret file="…"`.
pub const SECRET: Spec = Spec {
    node: "secret",
    max_args: 0,
    settings: &[&[("env", One), ("file", One)]],
    blocks: &[],
};

/// Values `worker kind=` takes.
pub const WORKER_KINDS: &[&str] = &["embedded", "srs", "nginx-rtmp"];
/// Values `acme challenge=` takes.
pub const CHALLENGES: &[&str] = &["tls-alpn-01", "http-01"];

#[cfg(test)]
mod tests {
    use super::*;

    /// A setting name given twice in one node's groups would make the second entry dead.
    #[test]
    fn no_node_lists_a_setting_twice() {
        for spec in [
            ORYX,
            PORTS,
            DEFAULTS,
            WORKER,
            HTTP_FLV,
            HLS,
            HOOKS,
            RTMP_LB,
            HTTP_LB,
            API_LB,
            SRT,
            SRT_LB,
            AUTH,
            STATIC,
            TLS,
            CERT,
            SELF_SIGNED,
            ACME,
            PROXY,
            STREAM_RULE,
            RECORD,
            FORWARD,
            TRANSCODE,
            RENDITION,
            RULE_HOOKS,
            INGEST,
            HOST,
            SECRET,
        ] {
            let names: Vec<&str> = spec.setting_names().collect();
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(names.len(), unique.len(), "{}: {names:?}", spec.node);
        }
    }
}
