//! The words of every diagnostic: its message and its help line, one arm per kind, so every
//! message reads in one place.

use super::DiagnosticKind;

fn did_you_mean(suggestion: &Option<String>) -> Option<String> {
    suggestion.as_ref().map(|s| format!("did you mean `{s}`?"))
}

fn one_of(items: &[&str]) -> String {
    // A name can be both a setting and a block (`hls`, `http-flv`): list it once.
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .filter(|i| seen.insert(**i))
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl DiagnosticKind {
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
            Http01WithoutListener { owner } => {
                format!("{owner} asks for ACME http-01 but has no plain `listen` to answer it")
            }
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
            UnknownHost { name, .. } => format!("no host is named \"{name}\""),
            BadHostAddress { value } => {
                format!("host address \"{value}\" is not an IP address other hosts can reach")
            }
            MissingSecret { hosts } => {
                format!("the topology spans {hosts} hosts but has no `secret`")
            }
            BadOrigin {
                name, itself: true, ..
            } => format!("worker group \"{name}\" cannot be its own origin"),
            BadOrigin { name, .. } => format!("origin \"{name}\" is not a worker group"),
            EdgeShareWithoutOrigin { group } => {
                format!("`edge-share` on worker group \"{group}\", which is not an edge tier")
            }
            ConflictingPlacement => "a worker has both `host` and `hosts`".into(),
            UnplacedRole { role, .. } => format!("{role} is not placed on any host"),
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
            UnknownHost {
                suggestion, known, ..
            } => did_you_mean(suggestion).or_else(|| {
                if known.is_empty() {
                    Some("declare it with `host \"NAME\" address=\"10.0.0.2\"`".into())
                } else {
                    let known: Vec<&str> = known.iter().map(String::as_str).collect();
                    Some(format!("hosts are {}", one_of(&known)))
                }
            }),
            BadHostAddress { .. } => Some(
                "write the host's own IP address, without a port: \"10.0.0.2\", \"fd00::2\""
                    .into(),
            ),
            MissingSecret { .. } => Some(
                "calls between hosts must be authenticated: add `secret env=\"ORYX_CLUSTER_SECRET\"` or `secret file=\"/etc/oryx/secret\"`"
                    .into(),
            ),
            BadOrigin {
                itself: true,
                ..
            } => Some("an edge pulls from another group: name the origin's group".into()),
            BadOrigin { suggestion, .. } => did_you_mean(suggestion)
                .or_else(|| Some("name a `worker` group of this topology".into())),
            EdgeShareWithoutOrigin { .. } => Some(
                "`edge-share` is how many players of a stream one edge takes before the LBs spread it to the next: add `origin=\"GROUP\"` to make the group edges, or remove it"
                    .into(),
            ),
            ConflictingPlacement => Some(
                "use `host=\"NAME\"` for one host or `hosts \"A\" \"B\"` to spread the instances, not both"
                    .into(),
            ),
            UnplacedRole { hosts, .. } => {
                let known: Vec<&str> = hosts.iter().map(String::as_str).collect();
                Some(format!("add `host=\"…\"`, one of {}", one_of(&known)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_name_that_is_a_setting_and_a_block_is_listed_once() {
        let list = super::one_of(&["count", "hls", "http-flv", "hls", "http-flv", "srt"]);
        assert_eq!(list, "`count`, `hls`, `http-flv`, `srt`");
    }
}
