//! SIP digest authentication: RFC 3261 §22 with the hash algorithms of RFC 7616 as RFC 8760 applies
//! them to SIP (MD5, SHA-256, SHA-512/256 and their `-sess` variants), and the RFC 2069 compatibility
//! case of a challenge without `qop`.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`params`] | the auth-param lexer and parse errors |
//! | [`quoted`] | [`QuotedStr`]: a zero-copy quoted-string, unescaped on demand |
//! | [`emit`] | writing header values into caller buffers, [`EmitError`] |
//! | [`header`] | typed `WWW-Authenticate`/`Proxy-Authenticate` challenges and `Authorization`/`Proxy-Authorization` credentials |
//! | [`username`] | [`Username`]: `username`, user hashes, and decoding RFC 7616 `username*` |
//! | [`hash`] | the hash functions, HA1, the request-digest, HMAC-SHA-256, constant-time comparison |
//! | [`hex`] | hex encoding and decoding into fixed buffers |
//! | [`client`] | [`DigestClient`]: picks a challenge and answers it, counting `nc` per nonce |
//! | [`server`] | [`DigestServer`]: stateless nonces, verification, [`NonceCounts`] replay protection |
//!
//! # Design
//!
//! Header values arrive as `&str` slices from the SIP message view and are parsed into views that borrow
//! them: a quoted-string stays in its wire form (escapes included) and is unescaped only when compared,
//! hashed (segment by segment, without a copy) or copied into a caller buffer. Unknown parameters and
//! unknown schemes are kept: they are re-read from the original text when emitted, so a parsed header
//! carries no capacity limit. The two proxy header fields have the same syntax as their user-agent
//! counterparts; the caller decides which name to write.
//!
//! Emitting writes the canonical form into a caller buffer: known parameters in a fixed order, quoted
//! where RFC 3261/8760 quote them, then the unknown ones as received. Parsing the emitted text yields a
//! value equal to the one emitted (quoted-strings compare by their unescaped content).
//!
//! Nothing here reads a clock or a random source: nonce ages are judged against the `now` the caller
//! passes, and client nonces come from a caller-supplied [`crate::rng::Rng`].
//!
//! # Use
//!
//! ```
//! use simple_im_core::rng::Rng;
//! use simple_im_core::sip::auth::*;
//! use simple_im_core::time::Instant;
//!
//! // Registrar: answer an unauthenticated REGISTER with 401 and this WWW-Authenticate value.
//! let mut server: DigestServer = DigestServer::new("example.com", [7; 32], ServerConfig::default())?;
//! let nonce = server.issue_nonce(Instant::from_millis(0));
//! let mut buf = [0u8; 256];
//! let len = server.challenge(&nonce, Algorithm::SHA256, false).emit(&mut buf)?;
//! let www_authenticate = core::str::from_utf8(&buf[..len])?;
//!
//! // User agent: pick a challenge, answer it on the retried request.
//! struct Random; // a real one draws from the platform's generator
//! impl Rng for Random {
//!     fn fill(&mut self, buf: &mut [u8]) { buf.fill(0x42) }
//! }
//! let challenge = select_challenge([www_authenticate], ChallengePreference::Strongest).ok_or("none")?;
//! let request = DigestRequest { method: "REGISTER", uri: "sip:example.com", body: b"" };
//! let mut client = DigestClient::new();
//! let answer = client.respond(&challenge, "alice", Secret::Password("pw"), &request, &mut Random)?;
//! let mut out = [0u8; 512];
//! let len = answer.emit(&mut out)?;
//! let authorization = core::str::from_utf8(&out[..len])?;
//!
//! // Registrar: parse, look the user's HA1 up by `credentials.username`, verify.
//! let Credentials::Digest(credentials) = Credentials::parse(authorization)? else { return Err("scheme".into()) };
//! let stored = ha1(Algorithm::SHA256, "alice", "example.com", "pw");
//! let outcome = server.verify(&credentials, &request, stored.as_str(), Instant::from_millis(10));
//! assert_eq!(outcome, Verification::Ok);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod block_hash;
pub mod client;
pub mod emit;
pub mod hash;
pub mod header;
pub mod hex;
pub mod params;
pub mod quoted;
pub mod server;
pub mod username;

mod nonce_counts;

pub use client::{
    select_challenge, ChallengePreference, ClientCredentials, ClientError, DigestClient, Secret,
    CNONCE_RANDOM_BYTES, MAX_CNONCE_LEN,
};
pub use emit::EmitError;
#[cfg(feature = "digest-sha512-256")]
pub use hash::SHA512_256_LEN;
pub use hash::{
    compute_response, ha1, userhash, DigestBytes, HexDigest, ResponseError, ResponseInputs, MAX_DIGEST_LEN,
    MAX_HEX_DIGEST_LEN, MD5_LEN, SHA256_LEN,
};
pub use header::{
    AlgorithmValue, Challenge, Credentials, DigestChallenge, DigestCredentials, OtherAuth, QopOptions,
};
pub use params::{AuthParam, AuthParams, KnownParam, OtherParams, ParamValue, ParseError, ParseErrorKind};
pub use quoted::{QuotedStr, Segments};
pub use username::{Username, UsernameError};

pub use nonce_counts::{NonceCountRejection, NonceCounts, NonceKey, DEFAULT_NONCE_SLOTS};
pub use server::{
    CredentialsDefect, DigestServer, Nonce, ServerConfig, ServerSetupError, Verification,
    DEFAULT_NONCE_LIFETIME, MAX_CHALLENGE_ALGORITHMS, MAX_REALM_LEN, NONCE_LEN,
};

use core::fmt;

/// The parts of a SIP request that digest computations cover.
#[derive(Clone, Copy, Debug)]
pub struct DigestRequest<'a> {
    /// The method (`REGISTER`, `MESSAGE`, `INVITE`, ...).
    pub method: &'a str,
    /// The Request-URI, as sent on the request line.
    pub uri: &'a str,
    /// The message body (empty when none); hashed only for `qop=auth-int`.
    pub body: &'a [u8],
}

/// The hash function underneath a digest algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HashFunction {
    /// MD5 (RFC 1321): the RFC 3261 default, kept for compatibility only (RFC 8760 §3).
    Md5,
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-512/256 (FIPS 180-4): SHA-512 truncated to 256 bits with its own initial values. Only with
    /// the `digest-sha512-256` feature: devices that talk to registrars offering SHA-256 leave it off,
    /// which saves SHA-512's compression function and tables (about 2 KB of Cortex-M code).
    #[cfg(feature = "digest-sha512-256")]
    Sha512_256,
}

impl HashFunction {
    /// Length in bytes of this function's output.
    pub const fn output_len(self) -> usize {
        match self {
            HashFunction::Md5 => hash::MD5_LEN,
            HashFunction::Sha256 => hash::SHA256_LEN,
            #[cfg(feature = "digest-sha512-256")]
            HashFunction::Sha512_256 => hash::SHA512_256_LEN,
        }
    }

    /// A rank for "strongest offered" selection: higher is stronger.
    pub const fn strength(self) -> u8 {
        match self {
            HashFunction::Md5 => 1,
            HashFunction::Sha256 => 2,
            #[cfg(feature = "digest-sha512-256")]
            HashFunction::Sha512_256 => 3,
        }
    }
}

/// A digest algorithm from the IANA "Hash Algorithms for HTTP Digest Authentication" registry that this
/// implementation can compute: a hash function, and whether HA1 is mixed with the nonces (`-sess`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Algorithm {
    /// The hash function.
    pub hash: HashFunction,
    /// `-sess` variant: HA1 = H(H(username:realm:password):nonce:cnonce).
    pub session: bool,
}

impl Algorithm {
    /// `MD5`, the default when a challenge names no algorithm.
    pub const MD5: Algorithm = Algorithm {
        hash: HashFunction::Md5,
        session: false,
    };
    /// `MD5-sess`.
    pub const MD5_SESS: Algorithm = Algorithm {
        hash: HashFunction::Md5,
        session: true,
    };
    /// `SHA-256`.
    pub const SHA256: Algorithm = Algorithm {
        hash: HashFunction::Sha256,
        session: false,
    };
    /// `SHA-256-sess`.
    pub const SHA256_SESS: Algorithm = Algorithm {
        hash: HashFunction::Sha256,
        session: true,
    };
    /// `SHA-512-256`.
    #[cfg(feature = "digest-sha512-256")]
    pub const SHA512_256: Algorithm = Algorithm {
        hash: HashFunction::Sha512_256,
        session: false,
    };
    /// `SHA-512-256-sess`.
    #[cfg(feature = "digest-sha512-256")]
    pub const SHA512_256_SESS: Algorithm = Algorithm {
        hash: HashFunction::Sha512_256,
        session: true,
    };

    /// Every algorithm this implementation computes, strongest first.
    #[cfg(feature = "digest-sha512-256")]
    pub const ALL: [Algorithm; 6] = [
        Algorithm::SHA512_256,
        Algorithm::SHA512_256_SESS,
        Algorithm::SHA256,
        Algorithm::SHA256_SESS,
        Algorithm::MD5,
        Algorithm::MD5_SESS,
    ];
    /// Every algorithm this implementation computes, strongest first.
    #[cfg(not(feature = "digest-sha512-256"))]
    pub const ALL: [Algorithm; 4] = [
        Algorithm::SHA256,
        Algorithm::SHA256_SESS,
        Algorithm::MD5,
        Algorithm::MD5_SESS,
    ];

    /// The registry name of this algorithm, as emitted.
    pub const fn name(self) -> &'static str {
        match (self.hash, self.session) {
            (HashFunction::Md5, false) => "MD5",
            (HashFunction::Md5, true) => "MD5-sess",
            (HashFunction::Sha256, false) => "SHA-256",
            (HashFunction::Sha256, true) => "SHA-256-sess",
            #[cfg(feature = "digest-sha512-256")]
            (HashFunction::Sha512_256, false) => "SHA-512-256",
            #[cfg(feature = "digest-sha512-256")]
            (HashFunction::Sha512_256, true) => "SHA-512-256-sess",
        }
    }

    /// The algorithm a registry name denotes (compared case-insensitively), or `None` when unknown.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A quality-of-protection value: one entry of a challenge's `qop` list, or the `qop` of credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qop<'a> {
    /// `auth`: authentication of the method and request URI.
    Auth,
    /// `auth-int`: `auth` plus the hash of the message body.
    AuthInt,
    /// Any other value, kept as received.
    Other(QuotedStr<'a>),
}

impl<'a> Qop<'a> {
    /// The qop a (quoted or token) value denotes; the names are compared case-insensitively.
    pub fn from_value(value: QuotedStr<'a>) -> Qop<'a> {
        if value.eq_ignore_ascii_case("auth") {
            Qop::Auth
        } else if value.eq_ignore_ascii_case("auth-int") {
            Qop::AuthInt
        } else {
            Qop::Other(value)
        }
    }

    /// The canonical text of a known qop.
    pub const fn known_name(&self) -> Option<&'static str> {
        match self {
            Qop::Auth => Some("auth"),
            Qop::AuthInt => Some("auth-int"),
            Qop::Other(_) => None,
        }
    }
}
