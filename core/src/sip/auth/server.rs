//! The server side (registrar or proxy): issue challenges, verify credentials.
//!
//! # Stateless nonces
//!
//! A nonce is `hex(issued_ms, 16 digits) || hex(serial, 8) || hex(mac, 32)` where
//! `mac = HMAC-SHA-256(secret, realm || 0x00 || issued_ms || serial)` truncated to 128 bits
//! ([`NONCE_LEN`] = 56 characters). The server stores nothing per challenge: the MAC proves the nonce
//! is its own and untouched, and `issued_ms` gives its age. HMAC rather than a bare
//! `SHA-256(secret || data)` because HMAC is the construction proven to be a keyed PRF; the bare form
//! is length-extendable, and although the fixed layout here would limit what an attacker gains, a
//! standard construction leaves nothing to argue about. Truncating HMAC output to half its length is
//! allowed by RFC 2104 §5. The serial makes nonces issued in the same millisecond distinct, so the
//! replay tracker never confuses two clients.
//!
//! The secret must be random and fresh whenever the runtime's clock epoch restarts (every boot, as
//! [`Instant`] counts from boot): otherwise a nonce issued before a restart could look new after it.
//!
//! # Verification
//!
//! [`DigestServer::verify`] checks, in this order, and stops at the first failure:
//!
//! | step | failure | suggested answer ([`Verification::suggested_status`]) | test (`core/tests/digest/server.rs`) |
//! |---|---|---|---|
//! | algorithm known | [`Verification::UnknownAlgorithm`] | 401 with fresh challenges | `algorithms_outside_the_policy_are_rejected` |
//! | algorithm offered | [`Verification::AlgorithmNotAllowed`] | 401 with fresh challenges | `algorithms_outside_the_policy_are_rejected` |
//! | realm is ours | [`Verification::RealmMismatch`] | 401 with fresh challenges | `realm_mismatch_is_rejected` |
//! | `uri` equals the Request-URI | [`Verification::UriMismatch`] | 400 | `tampered_uri_is_rejected` |
//! | qop acceptable, `cnonce`/`nc` present with it | [`Verification::QopNotAcceptable`], [`Verification::MalformedHeader`] | 401 / 400 | `credentials_without_qop_need_the_rfc2069_allowance`, `auth_int_is_accepted_only_when_offered`, `malformed_credentials_are_reported_with_the_defect` |
//! | response is hex of the right length | [`Verification::MalformedHeader`] | 400 | `malformed_credentials_are_reported_with_the_defect` |
//! | nonce is ours (MAC) | [`Verification::ForeignNonce`] | 401 with fresh challenges | `nonce_not_issued_by_this_server_is_foreign` |
//! | stored HA1 usable | [`Verification::InvalidStoredHa1`] | 500 | `unusable_stored_ha1_is_a_provisioning_error` |
//! | response digest matches (constant time) | [`Verification::ResponseMismatch`] | 403 | `wrong_password_is_a_response_mismatch` |
//! | nonce within its lifetime | [`Verification::Stale`] | 401 with `stale=true` | `expired_nonce_is_stale_only_for_the_right_password` |
//! | `nc` above the last accepted for the nonce | [`Verification::Replay`] (or `Stale` if forgotten) | 401 with fresh challenges | `replayed_nonce_count_is_rejected`, `nonces_forgotten_by_a_full_tracker_are_answered_stale` |
//!
//! `Stale` is only reported for credentials that are otherwise right, so `stale=true` never lets a
//! client skip re-entering a wrong password. Counts are recorded only for fully verified requests, so
//! forged requests cannot burn a legitimate client's `nc` values. Without a qop (RFC 2069, allowed only
//! by [`ServerConfig::allow_no_qop`]) there is no `nc`, so replays within the nonce lifetime go
//! undetected: that is why it is off by default.
//!
//! The username is not checked here: the caller looked the user up by it (or by the user hash) to
//! find `stored_ha1`, and HA1 binds the username. The `uri` check is an exact string comparison, since
//! a client copies the Request-URI it sends; a caller wanting RFC 3261 URI equivalence (or the RFC 8760
//! §2.6 allowance for forwarded requests) compares itself and passes the credentials' `uri` as the
//! request URI.

use core::fmt;
use core::time::Duration;

use super::hash::{self, compute_response, constant_time_eq, hmac_sha256, ResponseInputs};
use super::header::{AlgorithmValue, DigestChallenge, DigestCredentials, QopOptions};
use super::nonce_counts::{NonceCountRejection, NonceCounts, NonceKey, DEFAULT_NONCE_SLOTS};
use super::quoted::QuotedStr;
use super::{hex, Algorithm, DigestRequest, Qop};
use crate::log::debug;
use crate::time::Instant;

/// Length of the nonces this server issues.
pub const NONCE_LEN: usize = 16 + 8 + 2 * NONCE_MAC_LEN;
/// Bytes of HMAC output kept in a nonce.
const NONCE_MAC_LEN: usize = 16;
/// The longest realm a server accepts: realms are host names or short descriptions.
pub const MAX_REALM_LEN: usize = 128;
/// How many algorithms a server can offer (one challenge each): every supported one.
pub const MAX_CHALLENGE_ALGORITHMS: usize = 6;
/// Default nonce lifetime: five minutes, long enough for a user to type a password, short enough to
/// bound the use of a captured nonce without qop.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// Server policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// How long a nonce is accepted after being issued.
    pub nonce_lifetime: Duration,
    /// The algorithms challenged with, most preferred first (RFC 8760 §2.3: one challenge per
    /// algorithm, in preference order). Credentials using another algorithm are rejected.
    pub algorithms: heapless::Vec<Algorithm, MAX_CHALLENGE_ALGORITHMS>,
    /// Accept credentials without `qop` (RFC 2069 clients). Off by default: no replay protection.
    pub allow_no_qop: bool,
    /// Offer and accept `qop=auth-int` besides `auth`.
    pub offer_auth_int: bool,
}

impl Default for ServerConfig {
    /// Five-minute nonces; SHA-256 preferred, MD5 for older clients; qop required; `auth` only.
    fn default() -> Self {
        let mut algorithms = heapless::Vec::new();
        // Capacity is MAX_CHALLENGE_ALGORITHMS (6): two pushes cannot fail.
        let _ = algorithms.push(Algorithm::SHA256);
        let _ = algorithms.push(Algorithm::MD5);
        ServerConfig {
            nonce_lifetime: DEFAULT_NONCE_LIFETIME,
            algorithms,
            allow_no_qop: false,
            offer_auth_int: false,
        }
    }
}

/// Why a server cannot be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ServerSetupError {
    /// The realm is longer than [`MAX_REALM_LEN`].
    RealmTooLong,
    /// The realm contains CR or LF, which no header can carry.
    RealmInvalid,
    /// The configuration lists no algorithm to challenge with.
    NoAlgorithms,
    /// The configuration lists an algorithm twice (RFC 8760 §2.3: one challenge per algorithm).
    DuplicateAlgorithm(Algorithm),
}

impl fmt::Display for ServerSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerSetupError::RealmTooLong => "realm longer than MAX_REALM_LEN",
            ServerSetupError::RealmInvalid => "realm contains CR or LF",
            ServerSetupError::NoAlgorithms => "no digest algorithm configured",
            ServerSetupError::DuplicateAlgorithm(_) => "a digest algorithm is configured twice",
        })
    }
}

impl core::error::Error for ServerSetupError {}

/// A nonce issued by a [`DigestServer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nonce {
    text: [u8; NONCE_LEN],
}

impl Nonce {
    /// The nonce text (hex).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.text).unwrap_or("")
    }
}

/// What is missing or malformed in credentials that parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CredentialsDefect {
    /// `qop` is present but `cnonce` is not.
    MissingCnonce,
    /// `qop` is present but `nc` is not.
    MissingNonceCount,
    /// A `-sess` algorithm without `qop` (and so without `cnonce`).
    SessionWithoutQop,
    /// `response` is not hex of the algorithm's digest length.
    InvalidResponse,
}

/// The outcome of verifying credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verification {
    /// The credentials are valid: the request is authenticated.
    Ok,
    /// The credentials are right but the nonce has expired (or is no longer tracked): challenge again
    /// with `stale=true`.
    Stale,
    /// The response digest does not match: wrong password (or username).
    ResponseMismatch,
    /// The algorithm is not one this implementation computes.
    UnknownAlgorithm,
    /// The algorithm is supported but not among those this server offers.
    AlgorithmNotAllowed(Algorithm),
    /// `nc` is not above the last one accepted for this nonce (which is carried).
    Replay(u32),
    /// Required parts are missing or malformed.
    MalformedHeader(CredentialsDefect),
    /// The credentials are for another realm.
    RealmMismatch,
    /// `uri` differs from the Request-URI.
    UriMismatch,
    /// The qop is missing (and [`ServerConfig::allow_no_qop`] is off) or not one offered.
    QopNotAcceptable,
    /// The nonce was not issued by this server (or was issued under another secret).
    ForeignNonce,
    /// The HA1 the caller supplied is not hex of the algorithm's digest length: a provisioning error.
    InvalidStoredHa1,
}

impl Verification {
    /// The SIP status this outcome suggests (`None` for [`Verification::Ok`]); 401 means a fresh
    /// challenge (407 from a proxy), with `stale=true` for [`Verification::Stale`].
    pub fn suggested_status(&self) -> Option<u16> {
        match self {
            Verification::Ok => None,
            Verification::ResponseMismatch => Some(403),
            Verification::MalformedHeader(_) | Verification::UriMismatch => Some(400),
            Verification::InvalidStoredHa1 => Some(500),
            _ => Some(401),
        }
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::Ok => f.write_str("credentials valid"),
            Verification::Stale => f.write_str("nonce expired; credentials otherwise valid"),
            Verification::ResponseMismatch => f.write_str("response digest mismatch: wrong password or user"),
            Verification::UnknownAlgorithm => f.write_str("unknown digest algorithm"),
            Verification::AlgorithmNotAllowed(a) => {
                write!(f, "algorithm {} not offered by this server", a)
            }
            Verification::Replay(nc) => write!(f, "nonce count {:08x} replayed", nc),
            Verification::MalformedHeader(defect) => {
                write!(f, "malformed credentials: {:?}", defect)
            }
            Verification::RealmMismatch => f.write_str("credentials are for another realm"),
            Verification::UriMismatch => f.write_str("digest uri differs from the Request-URI"),
            Verification::QopNotAcceptable => f.write_str("qop missing or not offered"),
            Verification::ForeignNonce => f.write_str("nonce not issued by this server"),
            Verification::InvalidStoredHa1 => f.write_str("stored HA1 is not hex of the algorithm's length"),
        }
    }
}

/// Issues challenges and verifies credentials for one realm, tracking nonce counts in `N` slots.
#[derive(Clone, Debug)]
pub struct DigestServer<const N: usize = DEFAULT_NONCE_SLOTS> {
    realm: heapless::String<MAX_REALM_LEN>,
    secret: [u8; 32],
    config: ServerConfig,
    next_serial: u32,
    counts: NonceCounts<N>,
}

impl<const N: usize> DigestServer<N> {
    /// A server for `realm`, keyed by `secret` (32 random bytes, fresh at every start: see the module
    /// docs).
    pub fn new(realm: &str, secret: [u8; 32], config: ServerConfig) -> Result<Self, ServerSetupError> {
        if realm.contains(['\r', '\n']) {
            return Err(ServerSetupError::RealmInvalid);
        }
        if config.algorithms.is_empty() {
            return Err(ServerSetupError::NoAlgorithms);
        }
        for (index, algorithm) in config.algorithms.iter().enumerate() {
            if config.algorithms.iter().skip(index + 1).any(|a| a == algorithm) {
                return Err(ServerSetupError::DuplicateAlgorithm(*algorithm));
            }
        }
        let realm = heapless::String::try_from(realm).map_err(|_| ServerSetupError::RealmTooLong)?;
        Ok(DigestServer {
            realm,
            secret,
            config,
            next_serial: 0,
            counts: NonceCounts::new(),
        })
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The policy.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The nonce-count tracker (for inspection).
    pub fn nonce_counts(&self) -> &NonceCounts<N> {
        &self.counts
    }

    /// Issues a fresh nonce at `now`.
    pub fn issue_nonce(&mut self, now: Instant) -> Nonce {
        let key = NonceKey {
            issued_ms: now.as_millis(),
            serial: self.next_serial,
        };
        self.next_serial = self.next_serial.wrapping_add(1);
        let mut text = [b'0'; NONCE_LEN];
        let (time_hex, rest) = text.split_at_mut(16);
        let (serial_hex, mac_hex) = rest.split_at_mut(8);
        // The three buffers are exactly twice the byte lengths encoded: these cannot fail.
        let _ = hex::encode(&key.issued_ms.to_be_bytes(), time_hex);
        let _ = hex::encode(&key.serial.to_be_bytes(), serial_hex);
        let _ = hex::encode(&self.mac(key), mac_hex);
        Nonce { text }
    }

    /// The challenge for `nonce` with `algorithm` (RFC 8760 §2.6: always with a `qop`).
    pub fn challenge<'s>(
        &'s self,
        nonce: &'s Nonce,
        algorithm: Algorithm,
        stale: bool,
    ) -> DigestChallenge<'s> {
        let mut challenge = DigestChallenge::new(QuotedStr::new(&self.realm), QuotedStr::new(nonce.as_str()));
        challenge.algorithm = Some(AlgorithmValue::Known(algorithm));
        let qop = if self.config.offer_auth_int {
            "auth,auth-int"
        } else {
            "auth"
        };
        challenge.qop = Some(QopOptions::new(QuotedStr::new(qop)));
        challenge.stale = stale.then_some(true);
        challenge
    }

    /// One challenge per configured algorithm, most preferred first, all with the same nonce: emit each
    /// as its own `WWW-Authenticate`/`Proxy-Authenticate` header, in this order.
    pub fn challenges<'s>(
        &'s self,
        nonce: &'s Nonce,
        stale: bool,
    ) -> impl Iterator<Item = DigestChallenge<'s>> + 's {
        self.config
            .algorithms
            .iter()
            .map(move |a| self.challenge(nonce, *a, stale))
    }

    /// Verifies `credentials` sent with `request`, against `stored_ha1` (hex of
    /// H(username:realm:password) for the credentials' hash function, found by the caller from the
    /// credentials' username). Records the `nc` when the credentials are valid.
    pub fn verify(
        &mut self,
        credentials: &DigestCredentials<'_>,
        request: &DigestRequest<'_>,
        stored_ha1: &str,
        now: Instant,
    ) -> Verification {
        let outcome = self
            .check(credentials, request, stored_ha1, now)
            .err()
            .unwrap_or(Verification::Ok);
        debug!("digest verification: {:?}", outcome);
        outcome
    }

    fn check(
        &mut self,
        credentials: &DigestCredentials<'_>,
        request: &DigestRequest<'_>,
        stored_ha1: &str,
        now: Instant,
    ) -> Result<(), Verification> {
        let algorithm = credentials
            .effective_algorithm()
            .map_err(|_| Verification::UnknownAlgorithm)?;
        if !self.config.algorithms.contains(&algorithm) {
            return Err(Verification::AlgorithmNotAllowed(algorithm));
        }
        if !credentials.realm.eq_str(&self.realm) {
            return Err(Verification::RealmMismatch);
        }
        if !credentials.uri.eq_str(request.uri) {
            return Err(Verification::UriMismatch);
        }
        let (cnonce, nonce_count) = self.check_qop(credentials, algorithm)?;

        let mut claimed = [0u8; hash::MAX_DIGEST_LEN];
        let claimed = credentials
            .response
            .as_plain()
            .and_then(|text| hex::decode(text, &mut claimed).ok())
            .filter(|bytes| bytes.len() == algorithm.hash.output_len())
            .ok_or(Verification::MalformedHeader(CredentialsDefect::InvalidResponse))?;

        let key = self
            .check_nonce(credentials.nonce)
            .ok_or(Verification::ForeignNonce)?;
        let expected = compute_response(&ResponseInputs {
            algorithm,
            ha1: stored_ha1,
            nonce: credentials.nonce,
            cnonce,
            nonce_count,
            qop: credentials.qop,
            method: request.method,
            uri: credentials.uri,
            body: request.body,
        })
        .map_err(|_| Verification::InvalidStoredHa1)?;
        if !constant_time_eq(expected.as_bytes(), claimed) {
            return Err(Verification::ResponseMismatch);
        }

        let lifetime_ms = u64::try_from(self.config.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        let now_ms = now.as_millis();
        if key.issued_ms > now_ms || now_ms - key.issued_ms > lifetime_ms {
            return Err(Verification::Stale);
        }
        if credentials.qop.is_some() {
            self.counts
                .forget_issued_before(now_ms.saturating_sub(lifetime_ms));
            self.counts
                .accept(key, nonce_count)
                .map_err(|rejection| match rejection {
                    NonceCountRejection::Replay { .. } => Verification::Replay(nonce_count),
                    NonceCountRejection::Forgotten => Verification::Stale,
                })?;
        }
        Ok(())
    }

    /// The cnonce and nc to compute with, after checking the qop against the policy.
    fn check_qop<'c>(
        &self,
        credentials: &DigestCredentials<'c>,
        algorithm: Algorithm,
    ) -> Result<(QuotedStr<'c>, u32), Verification> {
        match credentials.qop {
            None if !self.config.allow_no_qop => Err(Verification::QopNotAcceptable),
            None if algorithm.session => Err(Verification::MalformedHeader(
                CredentialsDefect::SessionWithoutQop,
            )),
            None => Ok((QuotedStr::new(""), 0)),
            Some(Qop::Auth) => Self::cnonce_and_count(credentials),
            Some(Qop::AuthInt) if self.config.offer_auth_int => Self::cnonce_and_count(credentials),
            Some(_) => Err(Verification::QopNotAcceptable),
        }
    }

    fn cnonce_and_count<'c>(
        credentials: &DigestCredentials<'c>,
    ) -> Result<(QuotedStr<'c>, u32), Verification> {
        let cnonce = credentials
            .cnonce
            .ok_or(Verification::MalformedHeader(CredentialsDefect::MissingCnonce))?;
        let count = credentials.nonce_count.ok_or(Verification::MalformedHeader(
            CredentialsDefect::MissingNonceCount,
        ))?;
        Ok((cnonce, count))
    }

    /// The key of a nonce this server issued, or `None` when the text or its MAC is wrong.
    fn check_nonce(&self, nonce: QuotedStr<'_>) -> Option<NonceKey> {
        let text = nonce.as_plain().filter(|t| t.len() == NONCE_LEN)?;
        let issued_ms = hex::parse_fixed_u64(text.get(..16)?, 16)?;
        let serial = u32::try_from(hex::parse_fixed_u64(text.get(16..24)?, 8)?).ok()?;
        let mut claimed = [0u8; NONCE_MAC_LEN];
        let claimed = hex::decode(text.get(24..)?, &mut claimed).ok()?;
        let key = NonceKey { issued_ms, serial };
        constant_time_eq(&self.mac(key), claimed).then_some(key)
    }

    fn mac(&self, key: NonceKey) -> [u8; NONCE_MAC_LEN] {
        let full = hmac_sha256(
            &self.secret,
            &[
                self.realm.as_bytes(),
                &[0],
                &key.issued_ms.to_be_bytes(),
                &key.serial.to_be_bytes(),
            ],
        );
        let mut mac = [0u8; NONCE_MAC_LEN];
        mac.copy_from_slice(full.get(..NONCE_MAC_LEN).unwrap_or(&[0; NONCE_MAC_LEN]));
        mac
    }
}
