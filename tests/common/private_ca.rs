//! A private CA made in the test (rcgen) and an HTTPS server whose certificate it signed (tokio-rustls
//! and hyper), for hooks and proxy upstreams that oryx must trust only through a `ca` file.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the handler gets (path with query, body) and answers (status, body).
pub type Handler = Arc<dyn Fn(&str, &[u8]) -> (u16, String) + Send + Sync>;

/// A CA written to `DIR/private-ca.pem` and a server config for `localhost` and `127.0.0.1` signed
/// by it; the server's chain and key are also written (`DIR/server-chain.pem`, `DIR/server-key.pem`)
/// for servers the test runs as other programs (nginx).
pub struct PrivateCa {
    pub ca_pem: PathBuf,
    pub chain_pem: PathBuf,
    pub key_pem: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

impl PrivateCa {
    pub fn new(dir: &Path) -> PrivateCa {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "oryx private test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let ca_pem = dir.join("private-ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();

        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
        let chain_pem = dir.join("server-chain.pem");
        std::fs::write(&chain_pem, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
        let key_pem = dir.join("server-key.pem");
        std::fs::write(&key_pem, key.serialize_pem()).unwrap();
        let chain = vec![
            CertificateDer::from(leaf.der().to_vec()),
            CertificateDer::from(ca.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        PrivateCa {
            ca_pem,
            chain_pem,
            key_pem,
            server: Arc::new(server),
        }
    }

    /// Serve HTTPS on a free loopback port from a thread of its own (it ends with the test process).
    pub fn serve(&self, handler: Handler) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(self.server.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let (acceptor, handler) = (acceptor.clone(), handler.clone());
                    tokio::spawn(async move {
                        // A client that does not trust the CA ends here, as it should.
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let service =
                            service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                let handler = handler.clone();
                                async move {
                                    let path = req
                                        .uri()
                                        .path_and_query()
                                        .map(|p| p.to_string())
                                        .unwrap_or_default();
                                    let body = req.into_body().collect().await?.to_bytes();
                                    let (status, answer) = handler(&path, &body);
                                    let response = hyper::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from(answer)))
                                        .unwrap();
                                    Ok::<_, hyper::Error>(response)
                                }
                            });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
            });
        });
        addr
    }
}
