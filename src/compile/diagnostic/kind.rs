//! The catalogue: every problem the compiler can report, its stable `oryx::` code and its severity.

use super::Severity;

/// Every problem the compiler can report. The code of each is stable (`oryx::` + kebab-case name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// The text is not valid KDL v2.
    Syntax {
        message: String,
        help: Option<String>,
    },
    /// No `oryx 1` node.
    MissingVersion,
    /// `oryx` is present but not the first node.
    VersionNotFirst,
    /// `oryx N` with a schema this build does not know.
    UnsupportedVersion {
        found: String,
    },
    UnknownNode {
        name: String,
        parent: String,
        suggestion: Option<String>,
        expected: Vec<&'static str>,
    },
    UnknownProperty {
        name: String,
        node: String,
        suggestion: Option<String>,
        expected: Vec<&'static str>,
    },
    /// A node was given more positional arguments than it takes.
    UnexpectedArgument {
        node: String,
        takes: usize,
    },
    /// A required argument or setting is absent.
    MissingSetting {
        node: String,
        setting: String,
        example: String,
    },
    WrongType {
        setting: String,
        expected: &'static str,
        found: &'static str,
    },
    OutOfRange {
        setting: String,
        value: String,
        range: String,
    },
    BadDuration {
        setting: String,
        value: String,
    },
    BadSize {
        setting: String,
        value: String,
    },
    BadAddress {
        setting: String,
        value: String,
    },
    /// A bitrate that is not `800k`, `2.5M` or a number of bits per second.
    BadBitrate {
        setting: String,
        value: String,
    },
    /// A rendition `size` that is not `WIDTHxHEIGHT`.
    BadFrameSize {
        value: String,
    },
    BadUrl {
        setting: String,
        value: String,
    },
    /// A string setting outside its set of allowed values (`kind`, `challenge`).
    BadValue {
        setting: String,
        value: String,
        allowed: Vec<&'static str>,
        suggestion: Option<String>,
    },
    /// Two workers, sites or environments with the same name.
    DuplicateName {
        what: &'static str,
        name: String,
    },
    /// A node that may appear once appears twice (`rtmp-lb`, `ports`).
    DuplicateNode {
        node: String,
    },
    /// The same setting given twice (e.g. as a property and as a child node).
    DuplicateSetting {
        setting: String,
    },
    UnknownWorkerGroup {
        name: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    /// A load balancer exists but there is no worker to route to.
    NoWorkers {
        lb: String,
    },
    /// `wildcard`: one side listens on 0.0.0.0 or [::].
    PortConflict {
        port: u16,
        wildcard: bool,
    },
    BadPortRange {
        from: u16,
        to: u16,
    },
    PortPoolTooSmall {
        needed: usize,
        available: usize,
    },
    PoolOverlapsListener {
        port: u16,
    },
    AcmeWithoutDomain,
    TlsWithoutCertificates,
    ConflictingCertificates,
    StaticWithoutListener {
        name: String,
    },
    RedirectWithoutTls {
        name: String,
    },
    Http01WithoutListener {
        /// `static site "NAME"` or `rtmp-lb`.
        owner: String,
    },
    CertificateUnreadable {
        path: String,
        reason: String,
    },
    UnknownProxyTarget {
        target: String,
        suggestion: Option<String>,
    },
    BinaryOnEmbedded,
    MissingBinary {
        binary: String,
        kind: &'static str,
    },
    StaticRootMissing {
        root: String,
    },
    UnknownEnv {
        name: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    NotAllowedInEnv {
        node: String,
    },
    /// A stream setting the worker's kind has no equivalent for (`player-queue` on SRS…).
    IgnoredOnKind {
        setting: &'static str,
        kind: &'static str,
        /// Why, and what to do instead.
        help: &'static str,
    },
    /// A stream rule (or one of its settings) an external worker kind cannot carry out.
    UnsupportedOnKind {
        what: String,
        kind: &'static str,
        /// Why, and what to do instead.
        help: String,
    },
    /// `host="NAME"` (or `hosts`) naming no `host` node.
    UnknownHost {
        name: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    /// A `host` address that is not an IP address other hosts can reach.
    BadHostAddress {
        value: String,
    },
    /// More than one host and no `secret` for the calls between them.
    MissingSecret {
        hosts: usize,
    },
    /// `origin="GROUP"` naming no worker group, or the worker's own.
    BadOrigin {
        name: String,
        itself: bool,
        suggestion: Option<String>,
    },
    /// `edge-share=` on a worker group that is not an edge (no `origin=`).
    EdgeShareWithoutOrigin {
        group: String,
    },
    /// `host=` and `hosts` on one worker.
    ConflictingPlacement,
    /// A role without `host=` in a topology with several hosts.
    UnplacedRole {
        role: String,
        hosts: Vec<String>,
    },
}

/// Every code, for the test that checks each has an example file in `tests/diagnostics/`.
pub const ALL_CODES: &[&str] = &[
    "oryx::syntax",
    "oryx::missing-version",
    "oryx::version-not-first",
    "oryx::unsupported-version",
    "oryx::unknown-node",
    "oryx::unknown-property",
    "oryx::unexpected-argument",
    "oryx::missing-setting",
    "oryx::wrong-type",
    "oryx::out-of-range",
    "oryx::bad-duration",
    "oryx::bad-size",
    "oryx::bad-address",
    "oryx::bad-bitrate",
    "oryx::bad-frame-size",
    "oryx::bad-url",
    "oryx::bad-value",
    "oryx::duplicate-name",
    "oryx::duplicate-node",
    "oryx::duplicate-setting",
    "oryx::unknown-worker-group",
    "oryx::no-workers",
    "oryx::port-conflict",
    "oryx::bad-port-range",
    "oryx::port-pool-too-small",
    "oryx::pool-overlaps-listener",
    "oryx::acme-without-domain",
    "oryx::tls-without-certificates",
    "oryx::conflicting-certificates",
    "oryx::static-without-listener",
    "oryx::redirect-without-tls",
    "oryx::http01-without-listener",
    "oryx::certificate-unreadable",
    "oryx::unknown-proxy-target",
    "oryx::binary-on-embedded",
    "oryx::missing-binary",
    "oryx::static-root-missing",
    "oryx::unknown-env",
    "oryx::not-allowed-in-env",
    "oryx::ignored-on-kind",
    "oryx::unsupported-on-kind",
    "oryx::unknown-host",
    "oryx::bad-host-address",
    "oryx::missing-secret",
    "oryx::bad-origin",
    "oryx::edge-share-without-origin",
    "oryx::conflicting-placement",
    "oryx::unplaced-role",
];

impl DiagnosticKind {
    pub fn code(&self) -> &'static str {
        use DiagnosticKind::*;
        match self {
            Syntax { .. } => "oryx::syntax",
            MissingVersion => "oryx::missing-version",
            VersionNotFirst => "oryx::version-not-first",
            UnsupportedVersion { .. } => "oryx::unsupported-version",
            UnknownNode { .. } => "oryx::unknown-node",
            UnknownProperty { .. } => "oryx::unknown-property",
            UnexpectedArgument { .. } => "oryx::unexpected-argument",
            MissingSetting { .. } => "oryx::missing-setting",
            WrongType { .. } => "oryx::wrong-type",
            OutOfRange { .. } => "oryx::out-of-range",
            BadDuration { .. } => "oryx::bad-duration",
            BadSize { .. } => "oryx::bad-size",
            BadAddress { .. } => "oryx::bad-address",
            BadBitrate { .. } => "oryx::bad-bitrate",
            BadFrameSize { .. } => "oryx::bad-frame-size",
            BadUrl { .. } => "oryx::bad-url",
            BadValue { .. } => "oryx::bad-value",
            DuplicateName { .. } => "oryx::duplicate-name",
            DuplicateNode { .. } => "oryx::duplicate-node",
            DuplicateSetting { .. } => "oryx::duplicate-setting",
            UnknownWorkerGroup { .. } => "oryx::unknown-worker-group",
            NoWorkers { .. } => "oryx::no-workers",
            PortConflict { .. } => "oryx::port-conflict",
            BadPortRange { .. } => "oryx::bad-port-range",
            PortPoolTooSmall { .. } => "oryx::port-pool-too-small",
            PoolOverlapsListener { .. } => "oryx::pool-overlaps-listener",
            AcmeWithoutDomain => "oryx::acme-without-domain",
            TlsWithoutCertificates => "oryx::tls-without-certificates",
            ConflictingCertificates => "oryx::conflicting-certificates",
            StaticWithoutListener { .. } => "oryx::static-without-listener",
            RedirectWithoutTls { .. } => "oryx::redirect-without-tls",
            Http01WithoutListener { .. } => "oryx::http01-without-listener",
            CertificateUnreadable { .. } => "oryx::certificate-unreadable",
            UnknownProxyTarget { .. } => "oryx::unknown-proxy-target",
            BinaryOnEmbedded => "oryx::binary-on-embedded",
            MissingBinary { .. } => "oryx::missing-binary",
            StaticRootMissing { .. } => "oryx::static-root-missing",
            UnknownEnv { .. } => "oryx::unknown-env",
            NotAllowedInEnv { .. } => "oryx::not-allowed-in-env",
            IgnoredOnKind { .. } => "oryx::ignored-on-kind",
            UnsupportedOnKind { .. } => "oryx::unsupported-on-kind",
            UnknownHost { .. } => "oryx::unknown-host",
            BadHostAddress { .. } => "oryx::bad-host-address",
            MissingSecret { .. } => "oryx::missing-secret",
            BadOrigin { .. } => "oryx::bad-origin",
            EdgeShareWithoutOrigin { .. } => "oryx::edge-share-without-origin",
            ConflictingPlacement => "oryx::conflicting-placement",
            UnplacedRole { .. } => "oryx::unplaced-role",
        }
    }

    pub fn severity(&self) -> Severity {
        use DiagnosticKind::*;
        match self {
            MissingBinary { .. }
            | StaticRootMissing { .. }
            | PoolOverlapsListener { .. }
            | CertificateUnreadable { .. }
            | IgnoredOnKind { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let mut codes = ALL_CODES.to_vec();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), ALL_CODES.len());
        assert!(codes.iter().all(|c| c.starts_with("oryx::")));
    }
}
