//! The TLS crypto provider: one for every TLS config a role builds, server and client alike.

use rustls::crypto::CryptoProvider;
use std::sync::Arc;

/// The one crypto provider every TLS config of this role uses (ring, chosen explicitly so that no
/// process-wide default is needed).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
