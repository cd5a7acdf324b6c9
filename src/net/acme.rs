//! ACME v2 (RFC 8555) certificates through rustls-acme: the ACME client's trust (Web PKI roots plus an
//! optional private `directory-ca`), a cache directory whose key-holding files are 0600, the task
//! that obtains, renews and deploys certificates, and the follower that serves what another role's
//! client keeps in a shared cache.

use super::tls_status::TlsStatus;
use crate::compile::plan::{AcmeChallenge, AcmePlan};
use anyhow::Context;
use futures_util::StreamExt;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_acme::{
    AccountCache, AcmeConfig, CertCache, EventOk, ResolvesServerCertAcme, UseChallenge,
};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// What the TLS and plain listeners need from a running ACME client.
pub struct Acme {
    /// Serves the current certificate (and the TLS-ALPN-01 challenge certificate on `acme-tls/1`).
    pub resolver: Arc<ResolvesServerCertAcme>,
    /// Config for TLS-ALPN-01 validation handshakes.
    pub challenge_config: Arc<ServerConfig>,
}

/// Start the ACME client task: it loads a cached certificate or orders one, then renews it when a
/// third of its lifetime remains. Must run inside a tokio runtime.
pub fn start(plan: &AcmePlan, status: TlsStatus) -> anyhow::Result<Acme> {
    if plan.domains.is_empty() {
        anyhow::bail!("acme: no domain given");
    }
    // The parser `oryx check` uses: a directory the check accepts is one the client can use.
    crate::compile::units::parse_http_url(&plan.directory)
        .map_err(|why| anyhow::anyhow!("acme: directory {:?}: {why}", plan.directory))?;
    let client_config = client_config(plan.directory_ca.as_deref())?;
    let cache = SecureDirCache::create(Path::new(&plan.cache))?;
    let contacts: Vec<String> = plan
        .contacts
        .iter()
        .map(|c| {
            if c.contains(':') {
                c.clone()
            } else {
                format!("mailto:{c}")
            }
        })
        .collect();
    let challenge = match plan.challenge {
        AcmeChallenge::TlsAlpn01 => UseChallenge::TlsAlpn01,
        AcmeChallenge::Http01 => UseChallenge::Http01,
    };
    let mut state = AcmeConfig::new_with_client_config(&plan.domains, client_config)
        .directory(&plan.directory)
        .contact(contacts)
        .challenge_type(challenge)
        .cache(cache)
        .state();
    let acme = Acme {
        resolver: state.resolver(),
        challenge_config: state
            .challenge_rustls_config_with_provider(crate::net::tls_provider::provider()),
    };
    let domains = plan.domains.join(",");
    let directory = plan.directory.clone();
    tracing::info!(%domains, %directory, "ACME client starting");
    tokio::spawn(async move {
        while let Some(event) = state.next().await {
            match event {
                Ok(EventOk::DeployedCachedCert) => {
                    status.deployed();
                    tracing::info!(%domains, "ACME certificate loaded from the cache")
                }
                Ok(EventOk::DeployedNewCert) => {
                    status.deployed();
                    tracing::info!(%domains, "ACME certificate obtained and deployed")
                }
                Ok(ok) => tracing::debug!(?ok, "ACME event"),
                Err(err) => {
                    status.failed(err.to_string());
                    tracing::error!(%domains, %directory, %err, "ACME error (will retry)")
                }
            }
        }
    });
    Ok(acme)
}

/// How often a follower looks at the shared cache for a new certificate (renewals come weeks early).
const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

/// The certificate another role's ACME client orders and renews into the cache `plan` names: the
/// static site and the rtmp-lb share one account and one order this way instead of racing two.
#[derive(Debug, Default)]
pub struct CacheFollower {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for CacheFollower {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // None until the owner has one: the handshake fails, as the owner's own does meanwhile.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Serve the certificate of `plan` from its cache, re-read whenever the file changes. Must run
/// inside a tokio runtime.
pub fn follow(plan: &AcmePlan, status: TlsStatus) -> anyhow::Result<Arc<CacheFollower>> {
    let path = Path::new(&plan.cache).join(SecureDirCache::file_name(
        "cert",
        &plan.domains,
        &plan.directory,
    ));
    let follower = Arc::new(CacheFollower::default());
    let serving = follower.clone();
    let domains = plan.domains.join(",");
    tracing::info!(%domains, cache = %path.display(), "serving the ACME certificate another role orders");
    tokio::spawn(async move {
        let mut seen: Option<(SystemTime, u64)> = None;
        loop {
            if let Ok(meta) = tokio::fs::metadata(&path).await {
                let stamp = (
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                );
                if seen != Some(stamp) {
                    seen = Some(stamp);
                    match tokio::fs::read(&path)
                        .await
                        .map_err(anyhow::Error::from)
                        .and_then(|pem| cached_certificate(&pem))
                    {
                        Ok(key) => {
                            *serving.current.write().unwrap_or_else(|e| e.into_inner()) =
                                Some(Arc::new(key));
                            status.deployed();
                            tracing::info!(%domains, "ACME certificate loaded from the shared cache");
                        }
                        Err(err) => {
                            status.failed(format!("{err:#}"));
                            tracing::warn!(%domains, "shared ACME cache: {err:#}");
                        }
                    }
                }
            }
            tokio::time::sleep(FOLLOW_INTERVAL).await;
        }
    });
    Ok(follower)
}

/// A cache file as rustls-acme writes it: the PKCS#8 key, then the chain.
fn cached_certificate(pem: &[u8]) -> anyhow::Result<CertifiedKey> {
    let key = rustls_pemfile::private_key(&mut &pem[..])
        .context("parsing the cached key")?
        .context("the cache file holds no key")?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .context("parsing the cached certificates")?;
    if certs.is_empty() {
        anyhow::bail!("the cache file holds no certificate");
    }
    let signing = crate::net::tls_provider::provider()
        .key_provider
        .load_private_key(key)
        .context("unsupported cached key")?;
    Ok(CertifiedKey::new(certs, signing))
}

/// The ACME client's TLS trust: Web PKI roots, plus the PEM `directory_ca` of a private ACME server.
fn client_config(directory_ca: Option<&str>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = directory_ca {
        let pem =
            std::fs::read(path).with_context(|| format!("acme: reading directory-ca {path}"))?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .with_context(|| format!("acme: parsing directory-ca {path}"))?;
        if certs.is_empty() {
            anyhow::bail!("acme: directory-ca {path} holds no PEM certificate");
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("acme: directory-ca {path} is not a usable CA"))?;
        }
    }
    let config = ClientConfig::builder_with_provider(crate::net::tls_provider::provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Like rustls-acme's `DirCache`, but the directory is 0700 and every file (account key, certificate
/// with its private key) is written 0600, atomically (temp file + rename).
pub struct SecureDirCache {
    dir: PathBuf,
}

impl SecureDirCache {
    pub fn create(dir: &Path) -> anyhow::Result<SecureDirCache> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("acme: creating cache {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("acme: securing cache {}", dir.display()))?;
        // Files left by older versions or copied in by hand get the same protection.
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("acme: reading cache {}", dir.display()))?
            .flatten()
        {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("acme: securing {}", entry.path().display()))?;
            }
        }
        Ok(SecureDirCache {
            dir: dir.to_path_buf(),
        })
    }

    /// `KIND-HASH.pem`, the hash covering the names and the directory so that switching from
    /// staging to production (or to another CA) never reuses the wrong certificate.
    fn file_name(kind: &str, names: &[String], directory_url: &str) -> String {
        let mut hash = Sha256::new();
        for name in names {
            hash.update(name.as_bytes());
            hash.update([0]);
        }
        hash.update(directory_url.as_bytes());
        format!("{kind}-{}.pem", &hex::encode(hash.finalize())[..32])
    }

    async fn read(&self, name: String) -> std::io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.dir.join(name)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn write(&self, name: String, contents: &[u8]) -> std::io::Result<()> {
        let dir = self.dir.clone();
        let contents = contents.to_vec();
        tokio::task::spawn_blocking(move || write_private(&dir, &name, &contents))
            .await
            .map_err(std::io::Error::other)?
    }
}

fn write_private(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temp, dir.join(name))
}

#[async_trait::async_trait]
impl CertCache for SecureDirCache {
    type EC = std::io::Error;
    async fn load_cert(
        &self,
        domains: &[String],
        directory_url: &str,
    ) -> Result<Option<Vec<u8>>, Self::EC> {
        self.read(Self::file_name("cert", domains, directory_url))
            .await
    }
    async fn store_cert(
        &self,
        domains: &[String],
        directory_url: &str,
        cert: &[u8],
    ) -> Result<(), Self::EC> {
        self.write(Self::file_name("cert", domains, directory_url), cert)
            .await
    }
}

#[async_trait::async_trait]
impl AccountCache for SecureDirCache {
    type EA = std::io::Error;
    async fn load_account(
        &self,
        contact: &[String],
        directory_url: &str,
    ) -> Result<Option<Vec<u8>>, Self::EA> {
        self.read(Self::file_name("account", contact, directory_url))
            .await
    }
    async fn store_account(
        &self,
        contact: &[String],
        directory_url: &str,
        account: &[u8],
    ) -> Result<(), Self::EA> {
        self.write(Self::file_name("account", contact, directory_url), account)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn cache_files_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("acme");
        let cache = SecureDirCache::create(&cache_dir).unwrap();
        let names = vec!["oryx.test".to_string()];
        assert!(cache
            .load_cert(&names, "https://ca/dir")
            .await
            .unwrap()
            .is_none());
        cache
            .store_cert(&names, "https://ca/dir", b"KEY AND CHAIN")
            .await
            .unwrap();
        cache
            .store_account(&[], "https://ca/dir", b"ACCOUNT KEY")
            .await
            .unwrap();
        assert_eq!(
            cache
                .load_cert(&names, "https://ca/dir")
                .await
                .unwrap()
                .unwrap(),
            b"KEY AND CHAIN"
        );
        assert!(cache
            .load_cert(&names, "https://other/dir")
            .await
            .unwrap()
            .is_none());
        assert_eq!(std::fs::metadata(&cache_dir).unwrap().mode() & 0o777, 0o700);
        let mut files = 0;
        for entry in std::fs::read_dir(&cache_dir).unwrap() {
            let meta = entry.unwrap().metadata().unwrap();
            assert_eq!(meta.mode() & 0o777, 0o600);
            files += 1;
        }
        assert_eq!(files, 2);
        // A file made readable by hand is locked down again when the cache is opened.
        let stray = cache_dir.join("stray.pem");
        std::fs::write(&stray, "x").unwrap();
        std::fs::set_permissions(&stray, std::fs::Permissions::from_mode(0o644)).unwrap();
        SecureDirCache::create(&cache_dir).unwrap();
        assert_eq!(std::fs::metadata(&stray).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_cache_file_as_rustls_acme_writes_it_is_served() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["oryx.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem = format!("{}{}", key.serialize_pem(), cert.pem());
        let served = cached_certificate(pem.as_bytes()).unwrap();
        assert_eq!(served.cert.len(), 1);
        assert!(cached_certificate(cert.pem().as_bytes()).is_err());
        assert!(cached_certificate(b"").is_err());
    }

    #[test]
    fn a_missing_directory_ca_is_a_clear_error() {
        let err = client_config(Some("/nonexistent/ca.pem")).unwrap_err();
        assert!(format!("{err:#}").contains("directory-ca"));
    }
}
