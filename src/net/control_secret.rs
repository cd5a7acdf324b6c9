//! The control-plane secret: a bearer token per `oryx up` run that every control call carries.
//!
//! The control APIs listen on loopback, where every local user can reach them, so a port is no
//! credential. The shell takes `ORYX_CONTROL_SECRET` from its environment or generates 32 random
//! bytes (hex), writes them 0600 to `RUN_DIR/control-secret` (what `oryx reload` reads) and hands them
//! to each role in the same environment variable, never on a command line, where `ps` shows it. A
//! role started alone takes the variable too, or generates a secret of its own (then nobody else can
//! call its protected routes, which is safe). Every control route but `/healthz` and `/readyz` (and
//! the shell's `/status`), which say nothing secret, answers 401 without `Authorization: Bearer …`.
//!
//! Across hosts the roles of one topology run under several `oryx up`, so a random secret per run
//! would lock them out of each other: when the plan names a cluster secret (`secret env=|file=`),
//! every shell and every role derives the control secret from it ([`Secret::derive`], an
//! HMAC-SHA256 under a fixed label), so each host arrives at the same credential without the
//! cluster secret itself ever travelling in a header.

use crate::compile::plan::SecretSource;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The environment variable that carries the secret from the shell to its roles.
pub const ENV: &str = "ORYX_CONTROL_SECRET";
/// The file in the run directory that holds the secret of the running `oryx up`.
pub const FILE: &str = "control-secret";
/// Bounds on a secret given from outside (a generated one is 64 hex digits).
const MIN_LEN: usize = 16;
const MAX_LEN: usize = 512;

/// A bearer secret: visible ASCII only, so it fits an HTTP header as is.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// 32 random bytes from the OS generator, as 64 hex digits.
    pub fn generate() -> Secret {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        Secret(hex::encode(bytes))
    }

    /// A secret given by an operator or read from a file (surrounding whitespace ignored).
    pub fn parse(text: &str) -> anyhow::Result<Secret> {
        let text = text.trim();
        if !(MIN_LEN..=MAX_LEN).contains(&text.len()) {
            anyhow::bail!(
                "a control secret has {MIN_LEN} to {MAX_LEN} characters, this one {}",
                text.len()
            );
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            anyhow::bail!(
                "a control secret is visible ASCII only (no spaces or control characters)"
            );
        }
        Ok(Secret(text.to_string()))
    }

    /// The control secret of every role of a topology whose cluster secret is `cluster`:
    /// HMAC-SHA256(cluster, "oryx control v1"), hex. The label versions the derivation; the cluster
    /// secret stays where it was read.
    pub fn derive(cluster: &[u8]) -> Secret {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(cluster)
            .expect("HMAC takes keys of any length");
        mac.update(DERIVATION_LABEL);
        Secret(hex::encode(mac.finalize().into_bytes()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header value that carries this secret.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether an `Authorization` header value carries this secret. Compares every byte whatever
    /// the first mismatch, so the answer time does not tell how much of a guess was right.
    pub fn accepts(&self, authorization: &[u8]) -> bool {
        let Some(token) = authorization.strip_prefix(b"Bearer ") else {
            return false;
        };
        let expected = self.0.as_bytes();
        if token.len() != expected.len() {
            return false;
        }
        token
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

/// What [`Secret::derive`] signs: a new derivation gets a new label.
const DERIVATION_LABEL: &[u8] = b"oryx control v1";

/// Read the cluster secret from where the plan says (`secret env="VAR"` or `file="PATH"`) and
/// derive the control secret from it. Missing or empty is an error naming the source; the value is
/// never part of a message.
pub fn from_cluster_source(source: &SecretSource) -> anyhow::Result<Secret> {
    let text = match source {
        SecretSource::Env(var) => std::env::var(var).map_err(|_| {
            anyhow::anyhow!(
                "the cluster secret: {var} is not set (the topology's `secret env=\"{var}\"`, or a pod's default when it names none); every host and pod needs the same one"
            )
        })?,
        SecretSource::File(path) => std::fs::read_to_string(path).map_err(|err| {
            anyhow::anyhow!("the topology's `secret file=\"{path}\"`: cannot read it: {err}")
        })?,
    };
    let text = text.trim();
    if text.is_empty() {
        let place = match source {
            SecretSource::Env(var) => format!("{var} is empty"),
            SecretSource::File(path) => format!("{path} is empty"),
        };
        anyhow::bail!("the topology's cluster secret: {place}");
    }
    super::log_text::add_secret(text);
    Ok(Secret::derive(text.as_bytes()))
}

/// The control secret of a shell or role of `plan`: derived from the cluster secret when the plan
/// names one (the same on every host), else `ORYX_CONTROL_SECRET` or a generated one, as
/// [`init_from_env`] does. Returns the secret in force.
pub fn init_for_plan(source: Option<&SecretSource>) -> anyhow::Result<&'static Secret> {
    match source {
        Some(source) => {
            init(from_cluster_source(source)?);
            Ok(process())
        }
        None => init_from_env().map(|(secret, _)| secret),
    }
}

/// A role's secret: `ORYX_CONTROL_SECRET` when set (what its shell hands it), else derived from
/// the plan's cluster secret when it names one, else generated.
pub fn init_for_role(source: Option<&SecretSource>) -> anyhow::Result<&'static Secret> {
    match (from_env()?, source) {
        (Some(given), _) => init(given),
        (None, Some(source)) => init(from_cluster_source(source)?),
        (None, None) => init(Secret::generate()),
    };
    Ok(process())
}

static PROCESS: OnceLock<Secret> = OnceLock::new();

/// The secret of this process: the one [`init`] set, else `ORYX_CONTROL_SECRET` if it holds a valid
/// one, else a generated one.
pub fn process() -> &'static Secret {
    PROCESS.get_or_init(|| match from_env() {
        Ok(Some(secret)) => secret,
        _ => Secret::generate(),
    })
}

/// Make `secret` this process's secret; false when one was already in use (the first one stays).
pub fn init(secret: Secret) -> bool {
    // Lines forwarded from children (external workers, ffmpeg) never show it.
    super::log_text::add_secret(secret.as_str());
    PROCESS.set(secret).is_ok()
}

/// Take the secret from `ORYX_CONTROL_SECRET` (a bad one is an error, not silently replaced), or
/// generate one when the variable is unset; returns it and whether it came from the environment.
pub fn init_from_env() -> anyhow::Result<(&'static Secret, bool)> {
    let given = from_env()?;
    let from_env = given.is_some();
    init(given.unwrap_or_else(Secret::generate));
    Ok((process(), from_env))
}

fn from_env() -> anyhow::Result<Option<Secret>> {
    match std::env::var(ENV) {
        Ok(text) if !text.trim().is_empty() => Secret::parse(&text)
            .map(Some)
            .map_err(|err| anyhow::anyhow!("{ENV}: {err}")),
        _ => Ok(None),
    }
}

/// Create the run directory (0700) or check that an existing one is ours: a directory another user
/// owns could have its files swapped under us (a planted `shell.json` or secret).
pub fn prepare_run_dir(run_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if !run_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(run_dir)
            .map_err(|err| anyhow::anyhow!("cannot create run dir {}: {err}", run_dir.display()))?;
    }
    let meta = std::fs::metadata(run_dir)
        .map_err(|err| anyhow::anyhow!("cannot read run dir {}: {err}", run_dir.display()))?;
    let uid = super::handoff::own_uid();
    if meta.uid() != uid {
        anyhow::bail!(
            "run dir {} belongs to uid {}, not to us (uid {uid}); pick another --run-dir",
            run_dir.display(),
            meta.uid()
        );
    }
    Ok(())
}

/// Write `secret` to `RUN_DIR/control-secret`, readable by its owner only. An existing file is
/// replaced, not reused: its mode or owner may be someone else's.
pub fn write_file(run_dir: &Path, secret: &Secret) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = run_dir.join(FILE);
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(file, "{}", secret.as_str())
}

/// The secret of the `oryx up` running from `run_dir`.
pub fn read_file(run_dir: &Path) -> anyhow::Result<Secret> {
    let path = run_dir.join(FILE);
    let text = std::fs::read_to_string(&path).map_err(|err| {
        anyhow::anyhow!("cannot read the control secret {}: {err}", path.display())
    })?;
    Secret::parse(&text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))
}

/// `router` with every route (and its fallback) behind this process's secret.
pub fn protect<S: Clone + Send + Sync + 'static>(router: axum::Router<S>) -> axum::Router<S> {
    protect_with(router, process().clone())
}

/// `router` with every route (and its fallback) behind `secret`.
pub fn protect_with<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    secret: Secret,
) -> axum::Router<S> {
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(secret),
        require,
    ))
}

async fn require(State(secret): State<Arc<Secret>>, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION);
    if given.is_some_and(|value| secret.accepts(value.as_bytes())) {
        return next.run(request).await;
    }
    let error = if given.is_some() {
        "wrong control secret"
    } else {
        "this control route needs `Authorization: Bearer SECRET` (the secret is in RUN_DIR/control-secret)"
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({ "code": 401, "error": error })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_64_hex_digits_and_new_each_time() {
        let (a, b) = (Secret::generate(), Secret::generate());
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn only_the_exact_bearer_is_accepted() {
        let secret = Secret::parse(" 0123456789abcdef0123\n").unwrap();
        assert!(secret.accepts(b"Bearer 0123456789abcdef0123"));
        for wrong in [
            &b"Bearer 0123456789abcdef012"[..],
            b"Bearer 0123456789abcdef01234",
            b"Bearer 0123456789abcdef0124",
            b"bearer 0123456789abcdef0123",
            b"0123456789abcdef0123",
            b"Basic 0123456789abcdef0123",
            b"",
        ] {
            assert!(!secret.accepts(wrong), "{}", String::from_utf8_lossy(wrong));
        }
    }

    const KNOWN_DERIVATION: &str =
        "ddb5d9c750eeba3946f2edc1b06ca9c9f8ad82fd0b867a00a6ae4da22fd631ea";

    #[test]
    fn the_derived_secret_is_stable_hex_and_depends_on_the_cluster_secret() {
        let a = Secret::derive(b"cluster secret one");
        assert_eq!(a, Secret::derive(b"cluster secret one"));
        assert_ne!(a, Secret::derive(b"cluster secret two"));
        assert_eq!(a.as_str().len(), 64);
        assert!(
            Secret::parse(a.as_str()).is_ok(),
            "fits ORYX_CONTROL_SECRET as is"
        );
        // HMAC-SHA256(key, "oryx control v1"), checked against an independent implementation
        // (python3 -c 'import hmac,hashlib;print(hmac.new(b"k",b"oryx control v1",hashlib.sha256).hexdigest())').
        assert_eq!(Secret::derive(b"k").as_str(), KNOWN_DERIVATION);
    }

    #[test]
    fn a_missing_or_empty_cluster_secret_is_a_clear_error() {
        let var = "ORYX_TEST_CLUSTER_SECRET_UNSET_7d1";
        let err = from_cluster_source(&SecretSource::Env(var.into())).unwrap_err();
        assert!(err.to_string().contains(var), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "  \n").unwrap();
        let file = SecretSource::File(path.display().to_string());
        assert!(from_cluster_source(&file)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        std::fs::write(&path, "s3cret-cluster-value\n").unwrap();
        assert_eq!(
            from_cluster_source(&file).unwrap(),
            Secret::derive(b"s3cret-cluster-value")
        );
        let gone = SecretSource::File(dir.path().join("nope").display().to_string());
        assert!(from_cluster_source(&gone).is_err());
    }

    #[test]
    fn bad_secrets_are_refused_clearly() {
        assert!(Secret::parse("short").is_err());
        assert!(Secret::parse("with a space in the middle").is_err());
        assert!(Secret::parse("control\x1bcharacters-inside").is_err());
        assert!(Secret::parse(&"x".repeat(MAX_LEN + 1)).is_err());
    }

    #[test]
    fn the_file_is_private_and_replaces_an_existing_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, "planted by someone else").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let secret = Secret::generate();
        write_file(dir.path(), &secret).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_file(dir.path()).unwrap(), secret);
    }
}
