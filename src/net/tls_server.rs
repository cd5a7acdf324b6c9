//! TLS listeners (a static site's HTTPS, the rtmp-lb's RTMPS): certificates from PEM files chosen by
//! SNI, self-signed (rcgen) or ACME, and the handshake that sends ACME TLS-ALPN-01 validations (ALPN
//! `acme-tls/1`) to the challenge config.

use super::acme::{self, Acme};
use super::tls_status::TlsStatus;
use crate::compile::plan::{CertPair, CertSource};
use crate::net::tls_provider::provider;
use anyhow::Context;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

/// A client that has not finished its handshake within this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// ALPN of an HTTPS listener: HTTP/2 and HTTP/1.1.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// A server config over certificates from `resolver`, offering `alpn` (empty: no ALPN, so a client
/// that offers some still connects: RTMPS has no registered protocol id).
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Resumption (tickets for TLS 1.3 and 1.2, a session cache for 1.2 clients without tickets)
    // spares returning clients a full handshake.
    config.ticketer = rustls::crypto::ring::Ticketer::new().context("TLS session tickets")?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(16 * 1024);
    Ok(Arc::new(config))
}

/// Certificates chosen by the name the client asks for (SNI); the first pair answers clients that
/// send no name or an unknown one.
#[derive(Debug)]
pub struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` is stored under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.default.clone());
        };
        let name = name.to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return Some(key.clone());
        }
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(key) = self.wildcard.get(parent) {
                return Some(key.clone());
            }
        }
        Some(self.default.clone())
    }
}

/// Load every `cert`/`key` pair and index it by the DNS names of its certificate.
pub fn files_resolver(pairs: &[CertPair]) -> anyhow::Result<SniResolver> {
    let provider = provider();
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    let mut default = None;
    for CertPair {
        cert: cert_path,
        key: key_path,
    } in pairs
    {
        let certs = load_certs(cert_path)?;
        let key = load_key(key_path)?;
        let signing = provider
            .key_provider
            .load_private_key(key)
            .with_context(|| format!("key {key_path}: unsupported private key"))?;
        let names = dns_names(&certs[0])
            .with_context(|| format!("certificate {cert_path}: cannot read its names"))?;
        let certified = Arc::new(CertifiedKey::new(certs, signing));
        certified.keys_match().with_context(|| {
            format!("key {key_path} does not belong to certificate {cert_path}")
        })?;
        for name in names {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(parent) => wildcard.insert(parent.to_string(), certified.clone()),
                None => exact.insert(name, certified.clone()),
            };
        }
        default.get_or_insert(certified);
    }
    let default = default.context("tls: no certificate pairs given")?;
    Ok(SniResolver {
        exact,
        wildcard,
        default,
    })
}

/// A fresh self-signed certificate for `names` (development only: browsers will warn).
pub fn self_signed_resolver(names: &[String]) -> anyhow::Result<SniResolver> {
    let names = if names.is_empty() {
        vec!["localhost".to_string()]
    } else {
        names.to_vec()
    };
    let generated =
        rcgen::generate_simple_self_signed(names.clone()).context("generating a certificate")?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()));
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .context("loading the generated key")?;
    let certified = Arc::new(CertifiedKey::new(
        vec![generated.cert.der().clone()],
        signing,
    ));
    Ok(SniResolver {
        exact: HashMap::new(),
        wildcard: HashMap::new(),
        default: certified,
    })
}

/// What the control API reports about a listener's certificates before any is issued.
pub fn initial_status(certs: Option<&CertSource>) -> TlsStatus {
    match certs {
        None => TlsStatus::new("none", Vec::new(), "none"),
        Some(CertSource::Files { pairs }) => TlsStatus::new(
            "files",
            pairs.iter().map(|p| p.cert.clone()).collect(),
            "ready",
        ),
        Some(CertSource::SelfSigned { names }) => {
            TlsStatus::new("self-signed", names.clone(), "ready")
        }
        Some(CertSource::Acme(acme_plan)) => {
            TlsStatus::new("acme", acme_plan.domains.clone(), "pending")
        }
    }
}

/// Whether a listener with ACME certificates orders them itself or serves the ones another role
/// of the plan orders into the same cache (one account, one order, one renewal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeOwner {
    Orders,
    Follows,
}

/// The TLS side of a listener for `certs` offering `alpn`, and the running ACME client when this
/// listener orders its certificates (it must live as long as the listener).
pub fn acceptor(
    certs: &CertSource,
    status: &TlsStatus,
    alpn: &[&[u8]],
    owner: AcmeOwner,
) -> anyhow::Result<(TlsAcceptor, Option<Acme>)> {
    let (regular, acme_challenge, acme) = match certs {
        CertSource::Files { pairs } => (
            server_config(Arc::new(files_resolver(pairs)?), alpn)?,
            None,
            None,
        ),
        CertSource::SelfSigned { names } => (
            server_config(Arc::new(self_signed_resolver(names)?), alpn)?,
            None,
            None,
        ),
        CertSource::Acme(acme_plan) if owner == AcmeOwner::Follows => {
            let follower = acme::follow(acme_plan, status.clone())?;
            (server_config(follower, alpn)?, None, None)
        }
        CertSource::Acme(acme_plan) => {
            let started = acme::start(acme_plan, status.clone())?;
            let regular = server_config(started.resolver.clone(), alpn)?;
            let challenge = started.challenge_config.clone();
            (regular, Some(challenge), Some(started))
        }
    };
    let acceptor = TlsAcceptor {
        regular,
        acme_challenge,
    };
    Ok((acceptor, acme))
}

pub(crate) fn load_certs(path: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading certificate {path}"))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {path}"))?;
    if certs.is_empty() {
        anyhow::bail!("certificate {path} holds no PEM CERTIFICATE block");
    }
    Ok(certs)
}

pub(crate) fn load_key(path: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("reading key {path}"))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("parsing key {path}"))?
        .with_context(|| format!("key {path} holds no PEM private key"))
}

/// The DNS names of a certificate: its subjectAltName entries, else its common name.
fn dns_names(cert: &CertificateDer<'_>) -> anyhow::Result<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push(dns.to_string());
            }
        }
    }
    if names.is_empty() {
        for cn in parsed.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str() {
                names.push(cn.to_string());
            }
        }
    }
    Ok(names)
}

/// How the TLS listener answers: the regular config, plus the ACME challenge config when ACME runs.
#[derive(Clone)]
pub struct TlsAcceptor {
    pub regular: Arc<ServerConfig>,
    pub acme_challenge: Option<Arc<ServerConfig>>,
}

impl TlsAcceptor {
    /// Complete the handshake. `None` when the connection was an ACME validation (already answered)
    /// or failed; failures are logged at debug level since scanners cause them all the time.
    pub async fn accept(&self, tcp: TcpStream) -> Option<TlsStream<TcpStream>> {
        let handshake = async {
            let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await?;
            if let Some(challenge) = &self.acme_challenge {
                if rustls_acme::is_tls_alpn_challenge(&start.client_hello()) {
                    tracing::info!("answering an ACME TLS-ALPN-01 validation");
                    start.into_stream(challenge.clone()).await?;
                    return Ok::<_, std::io::Error>(None);
                }
            }
            Ok(Some(start.into_stream(self.regular.clone()).await?))
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                tracing::debug!(%err, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                None
            }
        }
    }
}
