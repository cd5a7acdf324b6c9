//! The catalogue of compile diagnostics: one [`DiagnosticKind`] per `oryx::` code, rendered in one place.
//!
//! Each variant carries just the data its message needs. Positions are byte spans into the topology
//! source; [`super::report`] turns them into miette, JSON, GitHub and SARIF output.

pub use super::suggest::suggest;
use std::fmt::Write as _;

/// A byte range in the topology source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub offset: usize,
    pub length: usize,
}

impl Span {
    pub fn new(offset: usize, length: usize) -> Self {
        Span { offset, length }
    }
}

impl From<miette::SourceSpan> for Span {
    fn from(span: miette::SourceSpan) -> Self {
        Span::new(span.offset(), span.len())
    }
}

/// A labelled place in the source a diagnostic points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

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
        name: String,
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
];

fn did_you_mean(suggestion: &Option<String>) -> Option<String> {
    suggestion.as_ref().map(|s| format!("did you mean `{s}`?"))
}

fn one_of(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

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

    /// One arm per kind, kept together (long, but a table) so every message reads in one place.
    pub fn message(&self) -> String {
        use DiagnosticKind::*;
        match self {
            Syntax { message, .. } => format!("invalid KDL: {message}"),
            MissingVersion => "the topology does not declare its schema version".into(),
            VersionNotFirst => "`oryx` must be the first node of the topology".into(),
            UnsupportedVersion { found } => format!("unsupported schema version {found}"),
            UnknownNode { name, parent, .. } => format!("unknown node `{name}` in {parent}"),
            UnknownProperty { name, node, .. } => format!("unknown property `{name}` on `{node}`"),
            UnexpectedArgument { node, takes } => match takes {
                0 => format!("`{node}` takes no arguments"),
                1 => format!("`{node}` takes one argument"),
                n => format!("`{node}` takes at most {n} arguments"),
            },
            MissingSetting { node, setting, .. } => format!("`{node}` needs `{setting}`"),
            WrongType {
                setting,
                expected,
                found,
            } => {
                format!("`{setting}` must be {expected}, found {found}")
            }
            OutOfRange {
                setting,
                value,
                range,
            } => {
                format!("`{setting}` is {value}, outside {range}")
            }
            BadDuration { setting, value } => format!("`{setting}`: \"{value}\" is not a duration"),
            BadSize { setting, value } => format!("`{setting}`: \"{value}\" is not a size"),
            BadAddress { setting, value } => {
                format!("`{setting}`: \"{value}\" is not a host:port address")
            }
            BadUrl { setting, value } => format!("`{setting}`: \"{value}\" is not an http(s) URL"),
            BadBitrate { setting, value } => format!("`{setting}`: \"{value}\" is not a bitrate"),
            BadFrameSize { value } => format!("`size`: \"{value}\" is not WIDTHxHEIGHT"),
            BadValue { setting, value, .. } => format!("`{setting}` cannot be \"{value}\""),
            DuplicateName {
                what: "ingest",
                name,
            } => format!("two ingests publish \"{name}\""),
            DuplicateName { what, name } => format!("two {what}s are named \"{name}\""),
            DuplicateNode { node } => format!("`{node}` is given more than once"),
            DuplicateSetting { setting } => format!("`{setting}` is set twice"),
            UnknownWorkerGroup { name, .. } => format!("no worker group is named \"{name}\""),
            NoWorkers { lb } => format!("`{lb}` has no worker to route to"),
            PortConflict { port, .. } => format!("two listeners use port {port}"),
            BadPortRange { from, to } => format!("port pool {from}..{to} is empty"),
            PortPoolTooSmall { needed, available } => format!(
                "the port pool has {available} usable ports but the topology needs {needed}"
            ),
            PoolOverlapsListener { port } => {
                format!("listener port {port} lies inside the worker port pool")
            }
            AcmeWithoutDomain => "`acme` has no `domain`".into(),
            TlsWithoutCertificates => "`tls` says nowhere where its certificates come from".into(),
            ConflictingCertificates => "`tls` has more than one certificate source".into(),
            StaticWithoutListener { name } => format!("static site \"{name}\" listens nowhere"),
            RedirectWithoutTls { name } => {
                format!("static site \"{name}\" redirects to HTTPS but has no `tls`")
            }
            Http01WithoutListener { name } => format!(
                "static site \"{name}\" asks for ACME http-01 but has no plain `listen` to answer it"
            ),
            CertificateUnreadable { path, reason } => {
                format!("certificate file \"{path}\" cannot be read: {reason}")
            }
            UnknownProxyTarget { target, .. } => {
                format!("proxy target \"{target}\" is neither a load balancer of this topology nor an http(s) URL")
            }
            BinaryOnEmbedded => "`binary` is only for external workers".into(),
            MissingBinary { binary, kind } => {
                format!("{kind} binary \"{binary}\" was not found")
            }
            StaticRootMissing { root } => format!("static root \"{root}\" does not exist"),
            UnknownEnv { name, .. } => format!("no environment is named \"{name}\""),
            NotAllowedInEnv { node } => format!("`{node}` cannot appear inside `env`"),
            IgnoredOnKind { setting, kind, .. } => {
                format!("`{setting}` has no effect on {kind} workers")
            }
            UnsupportedOnKind { what, kind, .. } => {
                format!("{what}: not possible on {kind} workers")
            }
        }
    }

    /// One arm per kind, kept together (long, but a table) so every help line reads in one place.
    pub fn help(&self) -> Option<String> {
        use DiagnosticKind::*;
        match self {
            Syntax { help, .. } => help.clone(),
            MissingVersion => Some("start the file with `oryx 1`".into()),
            VersionNotFirst => Some("move `oryx 1` to the top of the file".into()),
            UnsupportedVersion { .. } => Some("this oryx understands `oryx 1`".into()),
            UnknownNode {
                suggestion,
                expected,
                ..
            }
            | UnknownProperty {
                suggestion,
                expected,
                ..
            } => did_you_mean(suggestion).or_else(|| {
                if expected.is_empty() {
                    Some("this node takes no settings".into())
                } else {
                    Some(format!("expected one of {}", one_of(expected)))
                }
            }),
            UnexpectedArgument { .. } => {
                Some("settings are written as `name=value` or as a child node".into())
            }
            MissingSetting { example, .. } => Some(format!("for example: {example}")),
            WrongType { setting, expected, .. } => Some(match *expected {
                "a boolean" => format!("write `{setting} #true` or `{setting} #false`"),
                "a string" => format!("quote the value: `{setting} \"…\"`"),
                _ => format!("write `{setting}` as {expected}"),
            }),
            OutOfRange { range, .. } => Some(format!("use a value in {range}")),
            BadDuration { .. } => {
                Some("write a whole number with a unit: \"500ms\", \"2s\", \"1m\", \"1h\"".into())
            }
            BadSize { .. } => Some(
                "write a whole number of bytes with an optional unit: \"4096\", \"64KiB\", \"8MiB\", \"1GiB\""
                    .into(),
            ),
            BadAddress { .. } => {
                Some("write host:port, e.g. \"0.0.0.0:1935\", \"127.0.0.1:8080\", \"[::]:443\"".into())
            }
            BadUrl { .. } => Some("write a full URL, e.g. \"http://127.0.0.1:8085/auth\"".into()),
            BadBitrate { .. } => Some(
                "write bits per second with an optional unit: \"800k\", \"2.5M\", \"2500000\"".into(),
            ),
            BadFrameSize { .. } => {
                Some("write width x height in pixels (16..=8192 each), e.g. \"1280x720\"".into())
            }
            BadValue {
                allowed,
                suggestion,
                ..
            } => did_you_mean(suggestion)
                .or_else(|| Some(format!("expected one of {}", one_of(allowed)))),
            DuplicateName {
                what: "stream rule",
                ..
            } => Some("only the first rule for a pattern applies: merge them into one".into()),
            DuplicateName { what: "ingest", .. } => {
                Some("a stream has one publisher: keep one ingest for it".into())
            }
            DuplicateName { .. } => Some("give each one its own name".into()),
            DuplicateNode { .. } => Some("keep one and merge the settings into it".into()),
            DuplicateSetting { .. } => {
                Some("a setting is either a property or a child node; keep one".into())
            }
            UnknownWorkerGroup {
                suggestion, known, ..
            } => did_you_mean(suggestion).or_else(|| {
                if known.is_empty() {
                    Some("declare it with `worker \"NAME\"`".into())
                } else {
                    let known: Vec<&str> = known.iter().map(String::as_str).collect();
                    Some(format!("worker groups are {}", one_of(&known)))
                }
            }),
            NoWorkers { .. } => Some("add a worker: `worker \"live\"`".into()),
            PortConflict { wildcard: true, .. } => Some(
                "0.0.0.0 and [::] include every address, so they collide with any host on that port; pick another port"
                    .into(),
            ),
            PortConflict { wildcard: false, .. } => {
                Some("only one listener can bind an address; pick another port".into())
            }
            BadPortRange { .. } => Some("`from` must not be greater than `to`".into()),
            PortPoolTooSmall { .. } => Some(
                "each worker needs 3 ports and each other role 1; widen `ports from=… to=…`".into(),
            ),
            PoolOverlapsListener { .. } => Some(
                "the port is skipped when allocating; move the pool or the listener to silence this"
                    .into(),
            ),
            AcmeWithoutDomain => {
                Some("add the names to certify: `domain \"live.example.com\"`".into())
            }
            TlsWithoutCertificates => Some(
                "add `acme { domain \"…\" }`, `cert \"cert.pem\" key=\"key.pem\"` or `self-signed`"
                    .into(),
            ),
            ConflictingCertificates => {
                Some("use one of `acme`, `cert` (several allowed) or `self-signed`".into())
            }
            StaticWithoutListener { .. } => {
                Some("add `listen \"0.0.0.0:80\"` or `tls listen=\"0.0.0.0:443\" { … }`".into())
            }
            RedirectWithoutTls { .. } => {
                Some("add a `tls` listener or remove `redirect-https`".into())
            }
            Http01WithoutListener { .. } => Some(
                "add `listen \"0.0.0.0:80\"` (the CA validates http-01 on port 80) or use `challenge \"tls-alpn-01\"`"
                    .into(),
            ),
            CertificateUnreadable { .. } => Some(
                "the site cannot start until the file exists and is readable; relative paths start at the topology file's directory"
                    .into(),
            ),
            UnknownProxyTarget { suggestion, .. } => did_you_mean(suggestion).or_else(|| {
                Some("name a load balancer declared in this file (`rtmp-lb`, `http-lb`, `api-lb`) or a URL like \"http://127.0.0.1:9000\"".into())
            }),
            BinaryOnEmbedded => {
                Some("remove `binary`, or set `kind=\"srs\"` or `kind=\"nginx-rtmp\"`".into())
            }
            MissingBinary { .. } => {
                Some("install it or give its full path with `binary=\"/path/to/program\"`".into())
            }
            StaticRootMissing { .. } => Some(
                "create the directory; relative paths start at the topology file's directory"
                    .into(),
            ),
            UnknownEnv {
                suggestion, known, ..
            } => did_you_mean(suggestion).or_else(|| {
                if known.is_empty() {
                    Some("this file declares no `env` blocks".into())
                } else {
                    let known: Vec<&str> = known.iter().map(String::as_str).collect();
                    Some(format!("environments are {}", one_of(&known)))
                }
            }),
            NotAllowedInEnv { .. } => Some("move it out of the `env` block".into()),
            IgnoredOnKind { help, .. } => Some((*help).into()),
            UnsupportedOnKind { help, .. } => Some(help.clone()),
        }
    }
}

/// One reported problem: what it is and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    /// The first label is the primary location; more labels mark the other side of a collision.
    pub labels: Vec<Label>,
}

impl Diagnostic {
    pub fn new(kind: DiagnosticKind) -> Self {
        Diagnostic {
            kind,
            labels: Vec::new(),
        }
    }

    /// `oryx::duplicate-name`: a `what` (worker, static site, environment) named `name` twice, with
    /// labels on the second name and the first.
    pub fn duplicate_name(what: &'static str, name: &str, again: Span, first: Span) -> Self {
        Diagnostic::new(DiagnosticKind::DuplicateName {
            what,
            name: name.to_string(),
        })
        .label(again, "named again here")
        .label(first, "first named here")
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn message(&self) -> String {
        self.kind.message()
    }

    pub fn help(&self) -> Option<String> {
        self.kind.help()
    }

    /// A one-line summary for logs: `error[oryx::code]: message`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{}[{}]: {}",
            self.severity().as_str(),
            self.code(),
            self.message()
        );
        out
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
