//! MSRP over TLS for the client (`--msrp-tls CA_FILE`): a rustls connector trusting only the CA
//! certificates of the given PEM file, and the server name checked against the certificate (the
//! host of the first URI of the peer's path: an IP address or a DNS name).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;

/// A client configuration trusting the CA certificates in the PEM file `ca`.
pub fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let shown = ca.display();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("--msrp-tls {shown}: {e}"))? {
        let cert = cert.map_err(|e| format!("--msrp-tls {shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("--msrp-tls {shown}: unusable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("--msrp-tls {shown}: no CA certificate in it"));
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name to check the peer's certificate against, from the `host:port` we connect to.
pub fn server_name(authority: &str) -> Result<ServerName<'static>, String> {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| format!("{host} is not a TLS server name: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_host_of_the_authority() {
        assert_eq!(server_name("127.0.0.1:2856").unwrap().to_str(), "127.0.0.1");
        assert_eq!(server_name("[::1]:2856").unwrap().to_str(), "::1");
        assert_eq!(
            server_name("relay.example.com:443").unwrap().to_str(),
            "relay.example.com"
        );
        assert!(server_name("bad host:1").is_err());
    }
}
