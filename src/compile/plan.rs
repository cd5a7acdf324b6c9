//! The Plan: the compiled, fully resolved topology that the runtime executes.
//!
//! A Plan is plain data. Every default is filled in, every `count` expanded, every port allocated and
//! every reference resolved, so the runtime never needs to look back at the KDL. Its canonical JSON
//! (sorted keys, see [`Plan::canonical_json`]) has a sha256 digest that `plan`, `up` and the API print,
//! so a running system can say which configuration it runs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// The whole topology after compilation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Schema version given by the `oryx` node.
    pub version: u32,
    /// The `--env` overlay applied, if any.
    pub env: Option<String>,
    /// The pool workers' loopback ports (and every role's control port) come from.
    pub ports: PortRange,
    /// The shell's own loopback control API (`oryx reload`, status).
    pub shell_control: SocketAddr,
    /// Every worker instance, `count` expanded (`edge-0`, `edge-1`, …), in file order.
    pub workers: Vec<WorkerPlan>,
    pub rtmp_lb: Option<LbPlan>,
    pub http_lb: Option<LbPlan>,
    pub api_lb: Option<LbPlan>,
    /// Static HTTP(S) sites, in file order.
    pub statics: Vec<StaticPlan>,
    /// `ingest` roles: each pulls a source and publishes it through the topology, in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingests: Vec<IngestPlan>,
    /// The srt-lb: routes SRT callers by stream id to the workers' SRT listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srt_lb: Option<LbPlan>,
    /// `host "NAME" address="…"` nodes in file order; empty: one implicit local host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostPlan>,
    /// Where the cluster secret is read (never the value): required when there are several hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretSource>,
}

/// One machine (or pod) of a multi-host topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlan {
    pub name: String,
    /// The address other hosts reach this one at; roles placed here bind it for what other hosts
    /// call.
    pub address: std::net::IpAddr,
}

/// `secret env="ORYX_CLUSTER_SECRET"` or `secret file="…"`: where every role reads the shared secret
/// that authenticates cross-host calls. Serialized as `{"env": "NAME"}` or `{"file": "PATH"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretSource {
    Env(String),
    File(String),
}

/// An inclusive range of TCP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

/// Which program a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerKind {
    /// oryx's own Rust worker (`oryx role worker NAME`).
    Embedded,
    /// SRS, with an `srs.conf` compiled from the plan.
    Srs,
    /// nginx with libnginx-mod-rtmp, with an `nginx.conf` compiled from the plan.
    NginxRtmp,
}

impl WorkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::Embedded => "embedded",
            WorkerKind::Srs => "srs",
            WorkerKind::NginxRtmp => "nginx-rtmp",
        }
    }
}

/// One worker instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerPlan {
    /// Instance name, unique in the plan (`edge-0`; the group name itself when `count` is 1 and absent).
    pub name: String,
    /// The `worker` node's name; LBs select workers by group.
    pub group: String,
    pub kind: WorkerKind,
    /// Program to run for external kinds (`srs`, `nginx-rtmp`); `None` for embedded.
    pub binary: Option<String>,
    /// Loopback RTMP listener.
    pub rtmp: SocketAddr,
    /// Loopback HTTP listener: HTTP-FLV, HLS (and the SRS-compatible API on embedded workers).
    pub http: SocketAddr,
    /// Loopback control API: `/healthz`, `/readyz`, `/metrics`, `/api/v1/*`.
    pub control: SocketAddr,
    /// True when an rtmp-lb fronts this worker: the worker then accepts a PROXY protocol v2 header,
    /// and only from loopback.
    pub proxy_protocol: bool,
    pub stream: StreamSettings,
    /// SRT listener (publish and play MPEG-TS over SRT): `worker { srt … }`, or given to every
    /// embedded worker an srt-lb fronts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srt: Option<SrtListenPlan>,
    /// WebRTC (WHIP/WHEP): the one UDP port every session of this worker is multiplexed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<WebRtcPlan>,
    /// The host this instance runs on (`host=`, or its turn in `hosts …`); `None` without hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `origin="GROUP"`: this worker is an edge that pulls each stream it plays from that group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// `edge-share=N` on an edge group: the players of one stream this edge takes before the LBs
    /// spread the stream to one more edge; `None`: [`crate::route::DEFAULT_EDGE_SHARE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_share: Option<u32>,
}

/// An SRT listener. Only the passphrase's environment variable name is kept: the plan is written to
/// disk and printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrtListenPlan {
    /// UDP address.
    pub listen: SocketAddr,
    /// Receiver latency budget (ms); SRT's default is 120.
    pub latency_ms: u32,
    /// Environment variable holding the passphrase (10–79 characters); `None`: unencrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_env: Option<String>,
    /// AES key length in bytes (16, 24 or 32) when a passphrase is set.
    pub pbkeylen: u8,
}

/// A worker's WebRTC transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebRtcPlan {
    /// The UDP socket all sessions share (demultiplexed by ICE ufrag).
    pub udp: SocketAddr,
    /// Addresses announced as ICE host candidates (NAT, Docker); empty: the worker's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

/// Stream settings: `defaults` merged with the worker's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSettings {
    /// Keep metadata, sequence headers and the last GOP for instant start of new players.
    pub gop_cache: bool,
    /// Outgoing RTMP chunk size (128..=65536).
    pub chunk_size: u32,
    /// How long a player's writes are merged (0 = write at once). New players get the GOP cache
    /// without waiting.
    pub merge_write_ms: u64,
    /// How long a publisher's reads are merged: after a read the worker waits this long before the
    /// next; 0 = read at once.
    pub merge_read_ms: u64,
    /// How long an RTMP player waits for a publisher: one that has not come yet, or one that left
    /// (a republish within it goes on in the same play). Past it the player is told and closed;
    /// 0 = no wait. Plans written before the setting existed get the default.
    #[serde(default = "default_play_wait_ms")]
    pub play_wait_ms: u64,
    /// Per-player queue bound in bytes before the player skips to the next keyframe.
    pub player_queue_bytes: u64,
    /// Refuse new connections past this many (0 = unlimited).
    pub max_connections: u32,
    pub http_flv: HttpFlvSettings,
    pub hls: HlsSettings,
    pub hooks: HookSettings,
    /// `stream "PATTERN" { … }` rules in file order; the first whose pattern matches a published
    /// stream applies (record, forward, transcode, exec). Every embedded worker gets them all, so a
    /// rule change is a `hot` settings change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<StreamRule>,
}

/// One `stream "PATTERN" { … }` rule: what to do with every stream the pattern matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRule {
    /// A glob over `app/stream` (or `vhost/app/stream`): `*` within one segment, `**` across them
    /// ([`crate::compile::pattern`]).
    pub pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordRule>,
    /// `forward "rtmp(s)://…"` targets, in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<ForwardTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcode: Option<TranscodeRule>,
    /// `exec "COMMAND …"` command lines (split like a shell's words), placeholders unexpanded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<String>,
    /// `hooks { on-record URL }`: told (JSON POST) after each recorded file is closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_record: Vec<String>,
}

/// `forward "rtmps://…" ca="private-ca.pem"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardTarget {
    /// `rtmp://` or `rtmps://` URL, placeholders unexpanded.
    pub url: String,
    /// PEM file of a private CA trusted for `rtmps://`, besides the Web PKI roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

/// `record path="…" segment="10m"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRule {
    /// File path template with placeholders; its extension chose `format`.
    pub path: String,
    pub format: RecordFormat,
    /// Start a new file at the first keyframe after this long; `None`: one file per publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_ms: Option<u64>,
}

/// The container a recording is written in, from the path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordFormat {
    /// Fragmented MP4: a crash loses at most the last fragment.
    Mp4,
    Flv,
    Ts,
}

impl RecordFormat {
    pub const EXTENSIONS: &'static [&'static str] = &["mp4", "flv", "ts"];

    pub fn from_extension(ext: &str) -> Option<RecordFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "mp4" => Some(RecordFormat::Mp4),
            "flv" => Some(RecordFormat::Flv),
            "ts" => Some(RecordFormat::Ts),
            _ => None,
        }
    }
}

/// `transcode binary="ffmpeg" { rendition … }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscodeRule {
    /// The ffmpeg to run (a path, or a name looked up in PATH).
    pub binary: String,
    /// In file order; never empty (check refuses a transcode without renditions).
    pub renditions: Vec<Rendition>,
}

/// `rendition "360p" size="640x360" video-bitrate="800k" audio-bitrate="96k"`: published back as
/// `STREAM_NAME` (`live/cam_360p`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Bits per second.
    pub video_bitrate: u64,
    /// Bits per second; `None` keeps the source's audio as it is (`-c:a copy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_bitrate: Option<u64>,
}

/// An `ingest "APP/STREAM" from="…"` role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestPlan {
    /// Role name, unique in the plan: the target stream name with `/` replaced by `-`
    /// (`live-lobby`), or the node's `name=` property.
    pub name: String,
    /// Where it publishes: `app/stream` or `vhost/app/stream`.
    pub stream: String,
    /// The source: `rtmp://`, `http(s)://…` (FLV natively, others through ffmpeg), `srt://`, `rtsp://`
    /// or a file path.
    pub from: String,
    /// Play a file source in a loop (`loop=#true`).
    #[serde(default)]
    pub looping: bool,
    /// The ffmpeg for sources not pulled natively.
    pub binary: String,
    /// Loopback control API: `/healthz`, `/readyz`, `/metrics`.
    pub control: SocketAddr,
    /// The host this ingest runs on; `None` without hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `play-wait`'s default: long enough for a player started before its encoder, or an encoder that
/// reconnects, short enough that players of a stream that never comes free their slot.
pub const DEFAULT_PLAY_WAIT_MS: u64 = 30_000;

fn default_play_wait_ms() -> u64 {
    DEFAULT_PLAY_WAIT_MS
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpFlvSettings {
    pub enabled: bool,
    /// How long a `.flv` request for a stream not yet published waits for its publisher (0 = 404 at once).
    pub wait_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HlsSettings {
    pub enabled: bool,
    /// Target segment duration; segments are cut at the first keyframe past it.
    pub fragment_ms: u64,
    /// Segments kept in the playlist.
    pub window: u32,
    /// Directory segments are also written to (for a CDN), with cleanup; `None` keeps them in memory only.
    pub path: Option<String>,
    /// `segment-format`: TS, fMP4, or `auto` (TS for H.264/AAC, fMP4 for anything else).
    #[serde(default, skip_serializing_if = "HlsSegmentFormat::is_auto")]
    pub segment_format: HlsSegmentFormat,
    /// `low-latency`: LL-HLS (fMP4 parts, blocking playlist reload).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub low_latency: bool,
    /// `part`: the LL-HLS part target (default 200 ms; only with `low-latency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_ms: Option<u64>,
}

/// The default LL-HLS part target.
pub const DEFAULT_HLS_PART_MS: u64 = 200;

/// `hls segment-format="auto"|"ts"|"fmp4"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HlsSegmentFormat {
    #[default]
    Auto,
    Ts,
    Fmp4,
}

impl HlsSegmentFormat {
    pub const NAMES: [&'static str; 3] = ["auto", "ts", "fmp4"];

    fn is_auto(&self) -> bool {
        *self == HlsSegmentFormat::Auto
    }
}

/// SRS-style HTTP callbacks; each list is tried in order and every URL must allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HookSettings {
    pub on_publish: Vec<String>,
    pub on_unpublish: Vec<String>,
    pub on_play: Vec<String>,
    pub on_stop: Vec<String>,
    pub timeout_ms: u64,
    /// What a hook that gives no decision (unreachable, TLS failure, timeout, HTTP 5xx) means.
    #[serde(default)]
    pub on_error: HookOnError,
    /// PEM file of a private CA trusted for `https://` hooks, besides the Web PKI roots.
    #[serde(default)]
    pub ca: Option<String>,
}

/// `hooks { on-error "deny" | "allow" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HookOnError {
    /// Refuse the client, like SRS: a hook that cannot be asked must not let anyone in.
    #[default]
    Deny,
    /// Let the client in (availability over authentication), with a WARN in the log.
    Allow,
}

impl HookOnError {
    pub const NAMES: &'static [&'static str] = &["deny", "allow"];

    pub fn name(self) -> &'static str {
        match self {
            HookOnError::Deny => "deny",
            HookOnError::Allow => "allow",
        }
    }
}

/// A load balancer (rtmp-lb, http-lb, api-lb).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbPlan {
    pub listen: SocketAddr,
    /// Worker instance names this LB routes to (resolved from group names; all workers by default).
    pub workers: Vec<String>,
    /// Loopback control API: `/healthz`, `/readyz`, `/metrics`, `/api/v1/backends`.
    pub control: SocketAddr,
    /// api-lb only: the credential API writes (and, with `reads`, every call) need. Without it the
    /// api-lb refuses every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ApiAuth>,
    /// api-lb only: the origins CORS allows; `None` allows any (`*`), like SRS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_origins: Option<Vec<String>>,
    /// rtmp-lb only: the RTMPS listener (TLS terminated in the LB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsPlan>,
    /// The host this LB runs on; `None` without hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// How API callers prove who they are. Only environment variable names are kept: the plan is written
/// to disk and printed, so the secret itself is read by the api-lb when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiAuth {
    pub scheme: ApiAuthScheme,
    /// Reads need the credential too (by default only writes do).
    pub reads: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ApiAuthScheme {
    /// `Authorization: Bearer TOKEN`.
    Bearer { token_env: String },
    /// `Authorization: Basic base64(user:password)`.
    Basic { user: String, password_env: String },
}

/// A static HTTP/HTTPS site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticPlan {
    pub name: String,
    /// Directory served.
    pub root: String,
    /// Plain HTTP listener, if any.
    pub listen: Option<SocketAddr>,
    pub tls: Option<TlsPlan>,
    /// Plain listener answers with a redirect to HTTPS (ACME HTTP-01 answers still served).
    pub redirect_https: bool,
    pub directory_listing: bool,
    /// Prefix reverse-proxy routes, longest prefix wins.
    pub proxies: Vec<ProxyRoute>,
    pub control: SocketAddr,
    /// The host this site runs on; `None` without hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsPlan {
    pub listen: SocketAddr,
    pub certs: CertSource,
}

/// Where a TLS listener's certificates come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum CertSource {
    Acme(AcmePlan),
    /// PEM files, chosen by SNI.
    Files {
        pairs: Vec<CertPair>,
    },
    /// A certificate generated at start for these names (development).
    SelfSigned {
        names: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertPair {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmePlan {
    pub domains: Vec<String>,
    pub contacts: Vec<String>,
    /// ACME directory URL.
    pub directory: String,
    /// PEM file of a CA to trust for the ACME server itself (pebble, step-ca).
    pub directory_ca: Option<String>,
    pub challenge: AcmeChallenge,
    /// Directory holding the account key and certificates (files 0600).
    pub cache: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcmeChallenge {
    TlsAlpn01,
    Http01,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyRoute {
    pub prefix: String,
    /// Upstream base URL (`http://127.0.0.1:1985`); role names are resolved to their listen address.
    pub to: String,
    /// Remove the prefix before forwarding.
    pub strip_prefix: bool,
    /// Forward methods other than GET/HEAD/OPTIONS. Off by default for a proxy to the api-lb, so a
    /// public site never exposes API writes (client kicks) unless told to.
    #[serde(default = "yes")]
    pub writes: bool,
    /// PEM file of a private CA trusted for an `https://` upstream, besides the Web PKI roots.
    #[serde(default)]
    pub ca: Option<String>,
}

fn yes() -> bool {
    true
}

/// Well-known ACME directories.
pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

impl Plan {
    /// Canonical JSON: keys sorted, no insignificant whitespace. The digest is computed over this.
    pub fn canonical_json(&self) -> String {
        // serde_json::Value's map is a BTreeMap (no `preserve_order` feature), so this sorts keys.
        let value = serde_json::to_value(self).expect("plan serializes");
        serde_json::to_string(&value).expect("json value serializes")
    }

    /// `sha256:<hex>` of the canonical JSON.
    pub fn digest(&self) -> String {
        let hash = Sha256::digest(self.canonical_json().as_bytes());
        format!("sha256:{}", hex::encode(hash))
    }

    pub fn worker(&self, name: &str) -> Option<&WorkerPlan> {
        self.workers.iter().find(|w| w.name == name)
    }
}
