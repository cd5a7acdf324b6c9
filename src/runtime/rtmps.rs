//! The rtmp-lb's RTMPS side: its certificates (the sources a static site has, through the same
//! `net::tls_server`) and the TLS handshake in front of the RTMP routing.
//!
//! TLS ends in the LB, which then relays the plaintext to the worker like it relays to an external
//! one (PROXY v2 header first, so the worker sees the client's address). Kernel TLS would let the
//! LB hand the socket itself off instead, but only on kernels built with `CONFIG_TLS`: see
//! docs/DESIGN.md §2 "RTMPS" for the figures and why the relay stays.

use crate::compile::plan::{CertSource, Plan, TlsPlan};
use crate::net::acme::Acme;
use crate::net::tls_server::{self, AcmeOwner, TlsAcceptor};
use crate::net::tls_status::TlsStatus;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// The RTMPS listener's TLS state; the ACME client (when the LB orders its own certificates) runs
/// as long as this lives.
pub struct Rtmps {
    acceptor: TlsAcceptor,
    _acme: Option<Acme>,
}

impl Rtmps {
    /// Load or start the certificates of `tls`. Must run inside a tokio runtime (ACME's task).
    pub fn start(plan: &Plan, tls: &TlsPlan, status: &TlsStatus) -> anyhow::Result<Rtmps> {
        let owner = acme_owner(plan, &tls.certs);
        // RTMPS has no ALPN id of its own: offering none lets every client in.
        let (acceptor, acme) = tls_server::acceptor(&tls.certs, status, &[], owner)?;
        Ok(Rtmps {
            acceptor,
            _acme: acme,
        })
    }

    /// The client's TLS session once its handshake is done (bounded by the handshake deadline);
    /// `None` for a failed handshake, a late one, or an ACME validation (answered here).
    pub async fn handshake(&self, client: TcpStream) -> Option<TlsStream<TcpStream>> {
        let stream = self.acceptor.accept(client).await;
        let result = if stream.is_some() { "ok" } else { "failed" };
        metrics::counter!("oryx_rtmp_lb_tls_handshakes_total", "result" => result).increment(1);
        stream
    }
}

/// A static site that orders the same certificate (same names, CA and cache) owns the order; the
/// rtmp-lb serves what it puts in the cache rather than race it with a second account's order.
fn acme_owner(plan: &Plan, certs: &CertSource) -> AcmeOwner {
    let CertSource::Acme(mine) = certs else {
        return AcmeOwner::Orders;
    };
    let shared = plan.statics.iter().any(|site| {
        matches!(site.tls.as_ref().map(|t| &t.certs), Some(CertSource::Acme(theirs))
            if theirs.domains == mine.domains
                && theirs.directory == mine.directory
                && theirs.cache == mine.cache)
    });
    if shared {
        AcmeOwner::Follows
    } else {
        AcmeOwner::Orders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(source: &str) -> Plan {
        let mut options = crate::compile::Options::for_file("<test>", None);
        options.check_files = false;
        let compiled = crate::compile::compile("<test>", source, &options);
        let text = compiled.render_plain();
        compiled.plan.unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn the_rtmp_lb_follows_a_static_site_that_orders_the_same_certificate() {
        let shared = plan(
            r#"oryx 1
worker "w"
rtmp-lb listen="127.0.0.1:1935" {
    tls listen="127.0.0.1:1936" { acme { domain "live.example.com"; challenge "http-01"; }; }
}
static "site" {
    root "/"
    listen "127.0.0.1:8080"
    tls listen="127.0.0.1:8443" { acme { domain "live.example.com"; challenge "http-01"; }; }
}
"#,
        );
        let tls = shared.rtmp_lb.as_ref().unwrap().tls.as_ref().unwrap();
        assert_eq!(acme_owner(&shared, &tls.certs), AcmeOwner::Follows);

        let alone = plan(
            r#"oryx 1
worker "w"
rtmp-lb listen="127.0.0.1:1935" {
    tls listen="127.0.0.1:1936" { acme { domain "rtmp.example.com"; }; }
}
"#,
        );
        let tls = alone.rtmp_lb.as_ref().unwrap().tls.as_ref().unwrap();
        assert_eq!(acme_owner(&alone, &tls.certs), AcmeOwner::Orders);
    }
}
