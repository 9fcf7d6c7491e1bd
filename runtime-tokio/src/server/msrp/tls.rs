//! MSRP over TLS (`msrps`, RFC 4975 §14) for the relay's legs, with rustls.
//!
//! When `[msrp] tls_listen` is set, the relay also accepts TLS connections there. A caller whose own
//! `a=path` starts with an `msrps:` URI gets a leg URI `msrps://HOST:TLS_PORT/SID;tcp` and an answer
//! with `TCP/TLS/MSRP`. The callee is offered:
//!
//! | caller's path | `tls_to_callee` | offer to the callee | a clear-text answer |
//! |---|---|---|---|
//! | `msrp:` | either | `TCP/MSRP`, `msrp:` leg | accepted |
//! | `msrps:` | false (default) | `TCP/MSRP`, `msrp:` leg (the relay cannot know whether the callee has TLS; a plain callee still gets the chat) | accepted |
//! | `msrps:` | true | `TCP/TLS/MSRP`, `msrps:` leg on the TLS port | refused: the line's relay session ends, the caller gets the line rejected (port 0, no path) |
//!
//! With `tls_to_callee` a caller that asked for msrps gets it on both hops or not at all: there is no
//! fall-back to TCP, neither in the answer nor by a second offer.
//!
//! When the relay is the side that connects (an endpoint that answered or offered `a=setup:passive`)
//! and that endpoint's path starts with `msrps:`, the relay dials it over TLS ([`MsrpRelay::dial_endpoint`]),
//! checking its certificate against the CA certificates of `[msrp] tls_ca` and the host named in the
//! URI. Without `tls_ca` such an endpoint cannot be reached (no certificate could be checked) and the
//! session ends as when any dial fails; the relay never falls back to clear text for an `msrps:` hop.
//!
//! ## Design: TLS ends in front of the relay
//!
//! A TLS connection is decrypted here and its plaintext handed to the relay's own TCP listener over
//! loopback, so the relay's connection code (framing, binding, forwarding, reports) is one code path for
//! both transports and knows almost nothing of TLS. Binding is unchanged: a connection is bound to a
//! leg by the session-id and From-Path of its first request, never by its address. The one fact that
//! crosses: the front binds its loopback socket first and notes its address, so the relay's accept
//! knows the connection came over TLS, and a TLS leg (`msrps:`) refuses one that did not (403: no
//! clear-text way into a TLS leg). The cost is one loopback hop and two socket buffers per TLS leg.
//!
//! | step | on failure |
//! |---|---|
//! | TCP accept on `tls_listen` | retried after 50 ms (descriptor exhaustion) |
//! | TLS handshake, within [`super::BIND_TIMEOUT`] | connection dropped |
//! | connect to the relay's TCP listener | TLS connection closed |
//! | copy both ways until either side closes | both closed |
//!
//! Dialing is the mirror image: TLS to the endpoint, then the plaintext side is a loopback TCP
//! connection whose other end the relay's connection code gets as if it had dialed plain TCP.
//!
//! | step (dial) | on failure |
//! |---|---|
//! | TCP connect and TLS handshake (certificate checked), within [`super::BIND_TIMEOUT`] | no connection: the leg stays unbound |
//! | loopback pair (listener on 127.0.0.1:0, connect, accept) | TLS connection closed |
//! | copy both ways until either side closes | both closed |

use super::{MsrpRelay, BIND_TIMEOUT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

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

/// The connector the relay dials `msrps:` endpoints with, trusting only the CA certificates of
/// `ca` (`[msrp] tls_ca`).
pub fn connector(ca: &Path) -> Result<TlsConnector, String> {
    // The client's trust set-up is the same; only the option named in its errors differs.
    let config =
        crate::client::tls::client_config(ca).map_err(|e| e.replacen("--msrp-tls", "msrp.tls_ca", 1))?;
    Ok(TlsConnector::from(config))
}

impl MsrpRelay {
    /// Lets the relay dial `msrps:` endpoints, trusting what `connector` trusts (set once).
    pub fn set_tls_connector(&self, connector: TlsConnector) {
        let _ = self.tls_connector.set(connector);
    }

    /// A connection to an endpoint the relay dials: plain TCP, or for an `msrps:` hop a TLS
    /// connection whose plaintext is handed back as a loopback TCP stream (see the module docs).
    pub(super) async fn dial_endpoint(&self, host: &str, port: u16, tls: bool) -> std::io::Result<TcpStream> {
        let connect = TcpStream::connect((host, port));
        let stream = tokio::time::timeout(BIND_TIMEOUT, connect).await??;
        let _ = stream.set_nodelay(true);
        if !tls {
            return Ok(stream);
        }
        let unusable = |what: &str| std::io::Error::other(what.to_owned());
        let connector = self
            .tls_connector
            .get()
            .ok_or_else(|| unusable("an msrps: endpoint but no msrp.tls_ca to check it with"))?;
        let name = crate::client::tls::server_name(host).map_err(|e| unusable(&e))?;
        let tls = tokio::time::timeout(BIND_TIMEOUT, connector.connect(name, stream)).await??;
        let pair = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let relay_side = TcpStream::connect(pair.local_addr()?).await?;
        let (tls_side, _) = pair.accept().await?;
        let _ = relay_side.set_nodelay(true);
        let _ = tls_side.set_nodelay(true);
        tokio::spawn(bridge(tls, tls_side));
        Ok(relay_side)
    }

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

    /// Whether a callee is offered TLS when the caller asked for msrps (`[msrp] tls_to_callee`).
    pub fn set_tls_to_callee(&self, on: bool) {
        self.tls_to_callee.store(on, std::sync::atomic::Ordering::Relaxed);
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
        if relay.strong_count() == 0 {
            return;
        }
        tokio::spawn(front(stream, acceptor.clone(), relay.clone()));
    }
}

/// One TLS connection: handshake, then plaintext both ways with the relay.
async fn front(stream: TcpStream, acceptor: TlsAcceptor, relay: Weak<MsrpRelay>) {
    let _ = stream.set_nodelay(true);
    let Ok(Ok(mut tls)) = tokio::time::timeout(BIND_TIMEOUT, acceptor.accept(stream)).await else {
        return;
    };
    let Some(mut relay) = connect_plaintext(&relay).await else {
        return;
    };
    let _ = relay.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut relay).await;
}

/// The loopback connection a TLS front hands its plaintext to, its address noted (before it
/// connects, so the relay's accept always finds it) as one that came in over TLS.
async fn connect_plaintext(relay: &Weak<MsrpRelay>) -> Option<TcpStream> {
    let plain = relay.upgrade()?.plain_addr();
    let socket = match plain {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .ok()?;
    socket.bind(SocketAddr::new(plain.ip(), 0)).ok()?;
    let local = socket.local_addr().ok()?;
    relay.upgrade()?.note_tls_front(local);
    let connected = socket.connect(plain).await;
    if connected.is_err() {
        relay.upgrade()?.came_over_tls(local);
    }
    connected.ok()
}

impl MsrpRelay {
    fn note_tls_front(&self, local: SocketAddr) {
        super::lock(&self.tls_fronted).insert(local);
    }

    /// Whether the connection accepted from `peer` is a TLS front's plaintext (asked once per
    /// connection: the note is taken).
    pub(super) fn came_over_tls(&self, peer: SocketAddr) -> bool {
        super::lock(&self.tls_fronted).remove(&peer)
    }
}

/// Copies between a dialed TLS connection and the loopback stream the relay reads and writes.
async fn bridge(mut tls: tokio_rustls::client::TlsStream<TcpStream>, mut plain: TcpStream) {
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
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
