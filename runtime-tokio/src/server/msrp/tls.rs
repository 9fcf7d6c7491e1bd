//! MSRP over TLS (`msrps`, RFC 4975 §14) for the relay's legs, with rustls.
//!
//! When `[msrp] tls_listen` is set, the relay also accepts TLS connections there. A caller whose own
//! `a=path` starts with an `msrps:` URI gets a leg URI `msrps://HOST:TLS_PORT/SID;tcp` and an answer
//! with `TCP/TLS/MSRP`; everything else stays on TCP.
//!
//! ## Design: TLS ends in front of the relay
//!
//! A TLS connection is decrypted here and its plaintext handed to the relay's own TCP listener over
//! loopback, so the relay's connection code (framing, binding, forwarding, reports) is one code path for
//! both transports and knows nothing of TLS. Binding is unchanged: a connection is bound to a leg by the
//! session-id and From-Path of its first request, never by its address. The cost is one loopback hop
//! and two socket buffers per TLS leg.
//!
//! | step | on failure |
//! |---|---|
//! | TCP accept on `tls_listen` | retried after 50 ms (descriptor exhaustion) |
//! | TLS handshake, within [`super::BIND_TIMEOUT`] | connection dropped |
//! | connect to the relay's TCP listener | TLS connection closed |
//! | copy both ways until either side closes | both closed |

use super::{MsrpRelay, BIND_TIMEOUT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A TLS server configuration from a PEM certificate chain (leaf first) and its PEM private key.
pub fn acceptor(certificate: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("msrp.tls_certificate {}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "msrp.tls_certificate {}: no certificate in it",
            certificate.display()
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("msrp.tls_key {}: {e}", key.display()))?;
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("msrp TLS certificate and key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl MsrpRelay {
    /// Binds `listen` for MSRP over TLS and starts accepting there; returns the bound address. Legs
    /// opened after this call may be TLS legs.
    pub async fn start_tls(
        self: &Arc<Self>,
        listen: SocketAddr,
        acceptor: TlsAcceptor,
    ) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let _ = self.tls_port.set(local.port());
        tokio::spawn(accept_loop(Arc::downgrade(self), listener, acceptor));
        Ok(local)
    }

    /// The TLS listener's port, when TLS is on.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port.get().copied()
    }

    /// Where a TLS front hands plaintext: the relay's TCP listener (loopback when it listens on all).
    fn plain_addr(&self) -> SocketAddr {
        let ip = match self.local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.local.port())
    }
}

async fn accept_loop(relay: Weak<MsrpRelay>, listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(strong) = relay.upgrade() else { return };
        let plain = strong.plain_addr();
        drop(strong);
        tokio::spawn(front(stream, acceptor.clone(), plain));
    }
}

/// One TLS connection: handshake, then plaintext both ways with the relay.
async fn front(stream: TcpStream, acceptor: TlsAcceptor, plain: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let Ok(Ok(mut tls)) = tokio::time::timeout(BIND_TIMEOUT, acceptor.accept(stream)).await else {
        return;
    };
    let Ok(mut relay) = TcpStream::connect(plain).await else {
        return;
    };
    let _ = relay.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut relay).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_file(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("tls")
            .join(name)
    }

    #[test]
    fn loads_the_test_certificate_and_names_what_is_wrong() {
        assert!(acceptor(&test_file("msrp-server.pem"), &test_file("msrp-server.key")).is_ok());
        let missing = acceptor(&test_file("absent.pem"), &test_file("msrp-server.key"))
            .err()
            .unwrap();
        assert!(
            missing.starts_with("msrp.tls_certificate ") && missing.contains("absent.pem"),
            "{missing}"
        );
        // A certificate where the key should be: no private key in that file.
        let swapped = acceptor(&test_file("msrp-server.pem"), &test_file("msrp-server.pem"))
            .err()
            .unwrap();
        assert!(swapped.starts_with("msrp.tls_key "), "{swapped}");
        // A key that does not match the certificate.
        let other = acceptor(&test_file("test-ca.pem"), &test_file("msrp-server.key"))
            .err()
            .unwrap();
        assert!(other.contains("certificate and key"), "{other}");
    }
}
