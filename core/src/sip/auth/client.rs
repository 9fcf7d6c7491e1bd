//! The client side: choose a challenge, answer it.
//!
//! A UAC that receives 401/407 passes the `WWW-Authenticate`/`Proxy-Authenticate` values to
//! [`select_challenge`], then asks a [`DigestClient`] for credentials and emits them as
//! `Authorization`/`Proxy-Authorization` on the retried request.
//!
//! Choices made here:
//!
//! | offered by the challenge | answered with | test (`core/tests/digest/client.rs`) |
//! |---|---|---|
//! | several challenges | the strongest supported algorithm (SHA-512-256 > SHA-256 > MD5), ties to the topmost; or the topmost supported with [`ChallengePreference::Topmost`] (RFC 8760 §2.4's default) | `the_strongest_supported_challenge_is_chosen` |
//! | `qop` absent | the RFC 2069 computation: no `qop`, `cnonce` or `nc` (not possible with `-sess`) | `rfc2069_challenge_without_qop_gets_the_old_computation` |
//! | `qop` lists `auth` | `qop=auth` | `rfc7616_3_9_1_md5_response_matches_the_rfc` |
//! | `qop` lists `auth-int` but not `auth` | `qop=auth-int`, hashing the request body | `auth_int_hashes_the_body_when_auth_is_not_offered` |
//! | `qop` lists neither | no answer ([`ClientError::UnsupportedQop`]) | `unanswerable_challenges_are_typed_errors` |
//! | unknown `algorithm` | no answer (RFC 8760 §2.4: ignore challenges not understood) | `unanswerable_challenges_are_typed_errors` |
//! | `userhash=true` | `username` = H(username ":" realm), `userhash=true` (RFC 7616 §3.4.4) | `userhash_replaces_the_username_when_the_server_asks` |
//! | the same nonce as last time | `nc` one higher; a new nonce restarts at `00000001` | `nonce_count_increments_per_nonce_and_restarts_with_a_new_one` |
//!
//! One [`DigestClient`] tracks one nonce: use one per protection space (e.g. one for the registrar's
//! `WWW-Authenticate`, one for an outbound proxy's `Proxy-Authenticate`).

use crate::rng::Rng;
use core::fmt;

use super::block_hash::{BlockFunction, BlockHash};

use super::emit::EmitError;
use super::hash::{self, compute_response, HexDigest, ResponseError, ResponseInputs};
use super::header::{AlgorithmValue, Challenge, DigestChallenge, DigestCredentials};
use super::params::OtherParams;
use super::quoted::QuotedStr;
use super::username::Username;
use super::{hex, Algorithm, DigestRequest, Qop};

/// Random bytes in a generated `cnonce` (sent as twice as many hex digits). 128 bits make a collision
/// between two clients' cnonces negligible.
pub const CNONCE_RANDOM_BYTES: usize = 16;

/// The longest `cnonce` [`DigestClient::respond_with_cnonce`] accepts: room for the 44-character base64
/// cnonces of the RFC 7616 examples and for generated ones.
pub const MAX_CNONCE_LEN: usize = 64;

/// What the client knows about the user's secret.
#[derive(Clone, Copy, Debug)]
pub enum Secret<'a> {
    /// The password.
    Password(&'a str),
    /// A precomputed base HA1 in hex (as [`super::ha1`] computes it) for the challenge's hash function.
    Ha1(&'a str),
}

/// How to pick among several supported challenges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChallengePreference {
    /// The strongest hash function; among equals, the topmost.
    #[default]
    Strongest,
    /// The topmost challenge this client supports, as RFC 8760 §2.4 recommends absent a local policy.
    Topmost,
}

/// Why a challenge cannot be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientError {
    /// The challenge's `algorithm` is not one this implementation computes.
    UnsupportedAlgorithm,
    /// The challenge's `qop` list offers neither `auth` nor `auth-int`.
    UnsupportedQop,
    /// A `-sess` algorithm needs a `cnonce`, which RFC 2617 forbids when the challenge has no `qop`.
    SessionWithoutQop,
    /// The precomputed HA1 is not hex of the algorithm's digest length.
    InvalidHa1,
    /// The given cnonce is longer than [`MAX_CNONCE_LEN`].
    CnonceTooLong,
    /// `nc` would exceed `ffffffff` for this nonce; the server must issue a new one.
    NonceCountExhausted,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientError::UnsupportedAlgorithm => "the challenge's digest algorithm is not supported",
            ClientError::UnsupportedQop => "the challenge offers no supported qop (auth or auth-int)",
            ClientError::SessionWithoutQop => {
                "a -sess algorithm was offered without qop: cannot send a cnonce"
            }
            ClientError::InvalidHa1 => "the stored HA1 is not hex of the algorithm's digest length",
            ClientError::CnonceTooLong => "the cnonce is longer than MAX_CNONCE_LEN",
            ClientError::NonceCountExhausted => {
                "nonce count exhausted for this nonce: request a new challenge"
            }
        })
    }
}

impl core::error::Error for ClientError {}

/// The algorithm and qop this client would use to answer `challenge`.
fn answer_plan(challenge: &DigestChallenge<'_>) -> Result<(Algorithm, Option<Qop<'static>>), ClientError> {
    let algorithm = challenge
        .effective_algorithm()
        .map_err(|_| ClientError::UnsupportedAlgorithm)?;
    let qop = match challenge.qop {
        None => None,
        Some(options) if options.offers("auth") => Some(Qop::Auth),
        Some(options) if options.offers("auth-int") => Some(Qop::AuthInt),
        Some(_) => return Err(ClientError::UnsupportedQop),
    };
    if algorithm.session && qop.is_none() {
        return Err(ClientError::SessionWithoutQop);
    }
    Ok((algorithm, qop))
}

/// Picks the `Digest` challenge to answer among header values (one challenge per value, as SIP sends
/// them). Values that do not parse, other schemes and challenges this client cannot answer are skipped.
/// Realms are not grouped: a caller facing several realms calls this once per realm's values.
pub fn select_challenge<'a>(
    values: impl IntoIterator<Item = &'a str>,
    preference: ChallengePreference,
) -> Option<DigestChallenge<'a>> {
    let mut best: Option<(u8, DigestChallenge<'a>)> = None;
    for value in values {
        let Ok(Challenge::Digest(challenge)) = Challenge::parse(value) else {
            continue;
        };
        let Ok((algorithm, _)) = answer_plan(&challenge) else {
            continue;
        };
        if preference == ChallengePreference::Topmost {
            return Some(challenge);
        }
        let strength = algorithm.hash.strength();
        if best
            .as_ref()
            .is_none_or(|(best_strength, _)| strength > *best_strength)
        {
            best = Some((strength, challenge));
        }
    }
    best.map(|(_, challenge)| challenge)
}

/// Answers digest challenges, counting `nc` for the current nonce.
#[derive(Clone, Debug, Default)]
pub struct DigestClient {
    /// A fingerprint of the realm and nonce answered last (the nonce itself can be long).
    nonce_fingerprint: Option<[u8; 16]>,
    nonce_count: u32,
}

impl DigestClient {
    /// A client that has answered nothing yet.
    pub const fn new() -> Self {
        DigestClient {
            nonce_fingerprint: None,
            nonce_count: 0,
        }
    }

    /// The `nc` of the last answer (0 before any).
    pub fn nonce_count(&self) -> u32 {
        self.nonce_count
    }

    /// Forgets the nonce, so the next answer starts at `nc=00000001`.
    pub fn reset(&mut self) {
        *self = DigestClient::new();
    }

    /// Answers `challenge` for `request` with a fresh random cnonce.
    pub fn respond<'a, R: Rng + ?Sized>(
        &mut self,
        challenge: &DigestChallenge<'a>,
        username: &'a str,
        secret: Secret<'_>,
        request: &DigestRequest<'a>,
        cnonce_source: &mut R,
    ) -> Result<ClientCredentials<'a>, ClientError> {
        let mut random = [0u8; CNONCE_RANDOM_BYTES];
        cnonce_source.fill(&mut random);
        let mut text = [0u8; 2 * CNONCE_RANDOM_BYTES];
        let cnonce = hex::encode(&random, &mut text).map_err(|_| ClientError::CnonceTooLong)?;
        self.respond_with_cnonce(challenge, username, secret, request, cnonce)
    }

    /// Answers `challenge` for `request` with the given `cnonce` (ignored when the challenge has no
    /// `qop`). For tests against published vectors, or a caller with its own cnonce scheme.
    // Not inlined into `respond` (one caller, but a long body): 44 B smaller on a device (measured).
    #[inline(never)]
    pub fn respond_with_cnonce<'a>(
        &mut self,
        challenge: &DigestChallenge<'a>,
        username: &'a str,
        secret: Secret<'_>,
        request: &DigestRequest<'a>,
        cnonce: &str,
    ) -> Result<ClientCredentials<'a>, ClientError> {
        let (algorithm, qop) = answer_plan(challenge)?;
        let base_ha1 = match secret {
            Secret::Password(password) => {
                hash::ha1_quoted(algorithm.hash, username, challenge.realm, password)
            }
            Secret::Ha1(text) => HexDigest::parse(algorithm.hash, text).ok_or(ClientError::InvalidHa1)?,
        };
        let nonce_count = self.count(challenge)?;
        let cnonce: heapless::String<MAX_CNONCE_LEN> = match qop {
            Some(_) => heapless::String::try_from(cnonce).map_err(|_| ClientError::CnonceTooLong)?,
            None => heapless::String::new(),
        };
        let response = compute_response(&ResponseInputs {
            algorithm,
            ha1: base_ha1.as_str(),
            nonce: challenge.nonce,
            cnonce: QuotedStr::new(&cnonce),
            nonce_count,
            qop,
            method: request.method,
            uri: QuotedStr::new(request.uri),
            body: request.body,
        })
        .map_err(|e| match e {
            ResponseError::InvalidHa1 => ClientError::InvalidHa1,
            ResponseError::UnsupportedQop => ClientError::UnsupportedQop,
        })?;
        let user_hash = (challenge.userhash == Some(true))
            .then(|| hash::userhash(algorithm.hash, username, challenge.realm));
        Ok(ClientCredentials {
            username,
            user_hash,
            realm: challenge.realm,
            nonce: challenge.nonce,
            uri: request.uri,
            algorithm: challenge.algorithm,
            opaque: challenge.opaque,
            qop,
            nonce_count,
            cnonce,
            response: response.to_hex(),
        })
    }

    /// The `nc` for an answer to `challenge`: one more than last time for the same realm and nonce.
    fn count(&mut self, challenge: &DigestChallenge<'_>) -> Result<u32, ClientError> {
        let mut h = BlockHash::new(BlockFunction::Sha256);
        challenge.realm.segments().for_each(|s| h.update(s.as_bytes()));
        h.update(&[0u8]);
        challenge.nonce.segments().for_each(|s| h.update(s.as_bytes()));
        let mut digest = [0u8; 32];
        h.finish(&mut digest);
        let mut fingerprint = [0u8; 16];
        fingerprint.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
        let count = if self.nonce_fingerprint == Some(fingerprint) {
            self.nonce_count
                .checked_add(1)
                .ok_or(ClientError::NonceCountExhausted)?
        } else {
            1
        };
        self.nonce_fingerprint = Some(fingerprint);
        self.nonce_count = count;
        Ok(count)
    }
}

/// Computed credentials: borrowed challenge fields plus the computed values, ready to emit.
#[derive(Clone, Debug)]
pub struct ClientCredentials<'a> {
    username: &'a str,
    user_hash: Option<HexDigest>,
    realm: QuotedStr<'a>,
    nonce: QuotedStr<'a>,
    uri: &'a str,
    algorithm: Option<AlgorithmValue<'a>>,
    opaque: Option<QuotedStr<'a>>,
    qop: Option<Qop<'static>>,
    nonce_count: u32,
    cnonce: heapless::String<MAX_CNONCE_LEN>,
    response: HexDigest,
}

impl ClientCredentials<'_> {
    /// The request-digest in lowercase hex.
    pub fn response(&self) -> &str {
        self.response.as_str()
    }

    /// The `nc` sent (meaningful with a qop).
    pub fn nonce_count(&self) -> u32 {
        self.nonce_count
    }

    /// The `cnonce` sent, empty without a qop.
    pub fn cnonce(&self) -> &str {
        &self.cnonce
    }

    /// The chosen qop, `None` for the RFC 2069 computation.
    pub fn qop(&self) -> Option<Qop<'static>> {
        self.qop
    }

    /// The credentials as a header view.
    pub fn credentials(&self) -> DigestCredentials<'_> {
        let with_qop = self.qop.is_some();
        let username = match &self.user_hash {
            Some(hash) => QuotedStr::new(hash.as_str()),
            None => QuotedStr::new(self.username),
        };
        DigestCredentials {
            username: Username::Plain(username),
            realm: self.realm,
            nonce: self.nonce,
            uri: QuotedStr::new(self.uri),
            response: QuotedStr::new(self.response.as_str()),
            algorithm: self.algorithm,
            cnonce: with_qop.then(|| QuotedStr::new(&self.cnonce)),
            opaque: self.opaque,
            qop: self.qop,
            nonce_count: with_qop.then_some(self.nonce_count),
            userhash: self.user_hash.map(|_| true),
            other: OtherParams::EMPTY,
        }
    }

    /// Writes the `Authorization`/`Proxy-Authorization` value into `buf`; returns its length.
    // Not inlined into the client's one caller: 44 B smaller on a device (measured).
    #[inline(never)]
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.credentials().emit(buf)
    }
}
