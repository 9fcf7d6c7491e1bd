//! Digest authentication of requests (RFC 3261 §22, RFC 8760): the registrar's 401 challenges and the
//! proxy's 407 challenges, verified against the HA1 hashes in the store.
//!
//! Nonces are the core's stateless HMAC nonces under a secret drawn at start-up: after a restart old
//! nonces are foreign and the client is simply challenged again. The user is looked up in the store on
//! every verification, so accounts added or removed while the server runs take effect at once.

use super::rng::OsRng;
use super::sip::SipMessage;
use crate::store::Store;
use simple_im_core::rng::Rng;
use simple_im_core::sip::auth::{
    Algorithm, Credentials, DigestRequest, DigestServer, HashFunction, ServerConfig, Verification,
};
use simple_im_core::sip::HeaderName;
use simple_im_core::time::Instant;
use std::sync::Mutex;

/// Which pair of headers: the registrar's (401, WWW-Authenticate/Authorization) or a proxy's
/// (407, Proxy-Authenticate/Proxy-Authorization).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Realm {
    /// RFC 3261 §22.2: user-agent-to-registrar.
    Registrar,
    /// RFC 3261 §22.3: user-agent-to-proxy.
    Proxy,
}

impl Realm {
    /// The status code of a challenge.
    pub fn challenge_code(self) -> u16 {
        match self {
            Realm::Registrar => 401,
            Realm::Proxy => 407,
        }
    }

    /// The challenge header.
    pub fn challenge_header(self) -> HeaderName<'static> {
        match self {
            Realm::Registrar => HeaderName::WwwAuthenticate,
            Realm::Proxy => HeaderName::ProxyAuthenticate,
        }
    }

    fn credentials_header(self) -> HeaderName<'static> {
        match self {
            Realm::Registrar => HeaderName::Authorization,
            Realm::Proxy => HeaderName::ProxyAuthorization,
        }
    }
}

/// The outcome of checking a request's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticated as this user name.
    Authenticated(String),
    /// No (usable) credentials, or a stale nonce: challenge.
    Challenge { stale: bool },
    /// Credentials that are wrong: answer 403 with this reason.
    Forbidden(String),
}

/// The server's digest authenticator.
pub struct Authenticator {
    digest: Mutex<DigestServer>,
}

impl Authenticator {
    /// An authenticator for `realm` (the server's domain) with a fresh random secret.
    pub fn new(realm: &str) -> Result<Self, String> {
        let mut secret = [0u8; 32];
        OsRng.fill(&mut secret);
        let digest = DigestServer::new(realm, secret, ServerConfig::default()).map_err(|e| e.to_string())?;
        Ok(Authenticator {
            digest: Mutex::new(digest),
        })
    }

    /// The challenge header values (one per algorithm, most preferred first) for a fresh nonce.
    pub fn challenges(&self, now: Instant, stale: bool) -> Vec<String> {
        let mut digest = self.digest.lock().unwrap_or_else(|e| e.into_inner());
        let nonce = digest.issue_nonce(now);
        let mut out = Vec::new();
        for challenge in digest.challenges(&nonce, stale) {
            let mut buf = [0u8; 512];
            if let Ok(len) = challenge.emit(&mut buf) {
                out.push(String::from_utf8_lossy(buf.get(..len).unwrap_or(&[])).into_owned());
            }
        }
        out
    }

    /// Checks the request's credentials for `realm` against the store.
    pub async fn check(
        &self,
        request: &SipMessage,
        realm: Realm,
        store: &dyn Store,
        now: Instant,
    ) -> AuthOutcome {
        let server_realm = self
            .digest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .realm()
            .to_owned();
        // The credentials for our realm (a request through several proxies may carry several).
        let mut found = None;
        for value in request.values(realm.credentials_header()) {
            if let Ok(Credentials::Digest(credentials)) = Credentials::parse(value) {
                if credentials.realm.eq_str(&server_realm) {
                    found = Some(value);
                    break;
                }
            }
        }
        let Some(value) = found else {
            return AuthOutcome::Challenge { stale: false };
        };
        let Ok(Credentials::Digest(credentials)) = Credentials::parse(value) else {
            return AuthOutcome::Challenge { stale: false };
        };
        let mut name_buf = [0u8; 256];
        let Ok(name) = credentials.username.decode_into(&mut name_buf) else {
            return AuthOutcome::Forbidden("unreadable username in credentials".into());
        };
        let name = name.to_owned();
        let user = match store.user(&name).await {
            Ok(Some(user)) => user,
            Ok(None) => return AuthOutcome::Forbidden(format!("no account named {name}")),
            Err(_) => return AuthOutcome::Forbidden("account store unavailable".into()),
        };
        let stored = match credentials.effective_algorithm() {
            Ok(Algorithm {
                hash: HashFunction::Md5,
                ..
            }) => user.credentials.ha1_md5,
            Ok(Algorithm {
                hash: HashFunction::Sha256,
                ..
            }) => user.credentials.ha1_sha256,
            _ => return AuthOutcome::Challenge { stale: false },
        };
        let digest_request = DigestRequest {
            method: request.method().unwrap_or(""),
            uri: request.request_uri().unwrap_or(""),
            body: request.body(),
        };
        let outcome = self.digest.lock().unwrap_or_else(|e| e.into_inner()).verify(
            &credentials,
            &digest_request,
            &stored,
            now,
        );
        match outcome {
            Verification::Ok => AuthOutcome::Authenticated(name),
            Verification::Stale => AuthOutcome::Challenge { stale: true },
            other if other.suggested_status() == Some(403) => AuthOutcome::Forbidden(other.to_string()),
            Verification::MalformedHeader(_) | Verification::UriMismatch => {
                AuthOutcome::Forbidden(outcome.to_string())
            }
            _ => AuthOutcome::Challenge { stale: false },
        }
    }
}
