//! The digest computations (RFC 7616 §3.4.1-3.4.3, RFC 2617 §3.2.2, RFC 2069), HMAC-SHA-256 for server
//! nonces, and constant-time comparison.
//!
//! ```text
//! HA1  = H(username ":" realm ":" password)                       ; stored by registrars
//! HA1' = H(HA1 ":" nonce ":" cnonce)                              ; -sess algorithms
//! HA2  = H(method ":" uri)                                         ; qop=auth or no qop
//! HA2  = H(method ":" uri ":" H(body))                             ; qop=auth-int (H("") for no body)
//! response = H(HA1' ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   ; with qop
//! response = H(HA1' ":" nonce ":" HA2)                             ; RFC 2069, no qop
//! ```
//!
//! Every intermediate digest enters the next hash as lowercase hex. Quoted values are hashed unescaped,
//! segment by segment, so nothing is copied.

#[cfg(feature = "digest-sha512-256")]
use sha2::{Digest as _, Sha512_256};

use super::block_hash::{BlockFunction, BlockHash};
use super::hex;
use super::quoted::QuotedStr;
use super::{Algorithm, HashFunction, Qop};

/// Output length of MD5, in bytes.
pub const MD5_LEN: usize = 16;
/// Output length of SHA-256, in bytes.
pub const SHA256_LEN: usize = 32;
/// Output length of SHA-512/256, in bytes.
#[cfg(feature = "digest-sha512-256")]
pub const SHA512_256_LEN: usize = 32;
/// The longest output of a supported hash function.
pub const MAX_DIGEST_LEN: usize = 32;
/// The longest hex form of a supported digest.
pub const MAX_HEX_DIGEST_LEN: usize = 2 * MAX_DIGEST_LEN;

/// A digest's raw bytes (as long as the hash function's output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DigestBytes {
    bytes: [u8; MAX_DIGEST_LEN],
    len: u8,
}

impl DigestBytes {
    /// The digest.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The digest as lowercase hex.
    pub fn to_hex(&self) -> HexDigest {
        let mut hex = HexDigest {
            text: [0; MAX_HEX_DIGEST_LEN],
            len: 0,
        };
        if let Ok(text) = hex::encode(self.as_bytes(), &mut hex.text) {
            hex.len = text.len() as u8; // at most MAX_HEX_DIGEST_LEN = 64
        }
        hex
    }
}

/// A digest in lowercase hex, stored inline: HA1 values, responses, user hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HexDigest {
    text: [u8; MAX_HEX_DIGEST_LEN],
    len: u8,
}

impl HexDigest {
    /// The hex text.
    pub fn as_str(&self) -> &str {
        let bytes = self.text.get(..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// Parses hex text of a `hash` digest (either case), normalising it to lowercase. `None` when the text
    /// is not hex or not the length of that function's output.
    pub fn parse(hash: HashFunction, text: &str) -> Option<HexDigest> {
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        let len = hex::decode(text, &mut bytes).ok()?.len();
        (len == hash.output_len()).then(|| {
            DigestBytes {
                bytes,
                len: len as u8,
            }
            .to_hex()
        })
    }
}

/// One of the supported hash functions, running.
#[derive(Clone)]
pub(crate) enum Hasher {
    /// MD5 or SHA-256.
    Block(BlockHash),
    #[cfg(feature = "digest-sha512-256")]
    Sha512_256(Sha512_256),
}

impl Hasher {
    #[inline(never)] // six callers; the hash states are large to initialise inline
    pub(crate) fn new(hash: HashFunction) -> Self {
        match hash {
            HashFunction::Md5 => Hasher::Block(BlockHash::new(BlockFunction::Md5)),
            HashFunction::Sha256 => Hasher::Block(BlockHash::new(BlockFunction::Sha256)),
            #[cfg(feature = "digest-sha512-256")]
            HashFunction::Sha512_256 => Hasher::Sha512_256(Sha512_256::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) -> &mut Self {
        match self {
            Hasher::Block(h) => h.update(data),
            #[cfg(feature = "digest-sha512-256")]
            Hasher::Sha512_256(h) => h.update(data),
        }
        self
    }

    /// Feeds the unescaped content of a quoted-string.
    pub(crate) fn update_quoted(&mut self, value: QuotedStr<'_>) -> &mut Self {
        for segment in value.segments() {
            self.update(segment.as_bytes());
        }
        self
    }

    pub(crate) fn finish(self) -> DigestBytes {
        let mut out = DigestBytes {
            bytes: [0; MAX_DIGEST_LEN],
            len: 0,
        };
        let len = match self {
            Hasher::Block(h) => h.finish(&mut out.bytes),
            #[cfg(feature = "digest-sha512-256")]
            Hasher::Sha512_256(h) => {
                out.bytes.copy_from_slice(&h.finalize());
                SHA512_256_LEN
            }
        };
        out.len = len as u8; // at most MAX_DIGEST_LEN = 32
        out
    }
}

/// HA1 = H(username ":" realm ":" password) in hex, the value a registrar stores per user and algorithm
/// family. For a `-sess` algorithm this is the base value: the per-nonce mixing happens in
/// [`compute_response`]. Strings are hashed as their UTF-8 bytes (RFC 7616 §4 with `charset=UTF-8`).
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> HexDigest {
    ha1_quoted(algorithm.hash, username, QuotedStr::new(realm), password)
}

/// [`ha1`] with the realm as received in a challenge.
pub(crate) fn ha1_quoted(
    hash: HashFunction,
    username: &str,
    realm: QuotedStr<'_>,
    password: &str,
) -> HexDigest {
    let mut h = Hasher::new(hash);
    h.update(username.as_bytes()).update(b":").update_quoted(realm);
    h.update(b":").update(password.as_bytes());
    h.finish().to_hex()
}

/// The RFC 7616 §3.4.4 user hash, H(username ":" realm) in hex, sent as `username` with `userhash=true`.
pub fn userhash(hash: HashFunction, username: &str, realm: QuotedStr<'_>) -> HexDigest {
    let mut h = Hasher::new(hash);
    h.update(username.as_bytes()).update(b":").update_quoted(realm);
    h.finish().to_hex()
}

/// Everything the request-digest depends on.
#[derive(Clone, Copy, Debug)]
pub struct ResponseInputs<'a> {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The base HA1 in hex (either case), as [`ha1`] computes it.
    pub ha1: &'a str,
    /// The server nonce.
    pub nonce: QuotedStr<'a>,
    /// The client nonce (used with a qop, and by `-sess` algorithms).
    pub cnonce: QuotedStr<'a>,
    /// The nonce count (used with a qop).
    pub nonce_count: u32,
    /// The qop, or `None` for the RFC 2069 computation.
    pub qop: Option<Qop<'a>>,
    /// The request method (`REGISTER`, `MESSAGE`, ...).
    pub method: &'a str,
    /// The digest-uri, i.e. the `uri` parameter.
    pub uri: QuotedStr<'a>,
    /// The message body, hashed for `auth-int` only.
    pub body: &'a [u8],
}

/// Why a request-digest cannot be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResponseError {
    /// HA1 is not hex of the algorithm's output length.
    InvalidHa1,
    /// The qop is neither `auth` nor `auth-int`.
    UnsupportedQop,
}

impl core::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ResponseError::InvalidHa1 => f.write_str("HA1 is not hex of the algorithm's digest length"),
            ResponseError::UnsupportedQop => f.write_str("qop is neither auth nor auth-int"),
        }
    }
}

impl core::error::Error for ResponseError {}

/// Computes the request-digest (the `response` parameter) as raw bytes; `.to_hex()` gives the text.
pub fn compute_response(inputs: &ResponseInputs<'_>) -> Result<DigestBytes, ResponseError> {
    let hash = inputs.algorithm.hash;
    let base_ha1 = HexDigest::parse(hash, inputs.ha1).ok_or(ResponseError::InvalidHa1)?;
    let ha1 = if inputs.algorithm.session {
        let mut h = Hasher::new(hash);
        h.update(base_ha1.as_str().as_bytes())
            .update(b":")
            .update_quoted(inputs.nonce);
        h.update(b":").update_quoted(inputs.cnonce);
        h.finish().to_hex()
    } else {
        base_ha1
    };

    let mut a2 = Hasher::new(hash);
    a2.update(inputs.method.as_bytes())
        .update(b":")
        .update_quoted(inputs.uri);
    match inputs.qop {
        None | Some(Qop::Auth) => {}
        Some(Qop::AuthInt) => {
            let mut body = Hasher::new(hash);
            body.update(inputs.body);
            a2.update(b":").update(body.finish().to_hex().as_str().as_bytes());
        }
        Some(Qop::Other(_)) => return Err(ResponseError::UnsupportedQop),
    }
    let ha2 = a2.finish().to_hex();

    let mut response = Hasher::new(hash);
    response
        .update(ha1.as_str().as_bytes())
        .update(b":")
        .update_quoted(inputs.nonce)
        .update(b":");
    if let Some(qop) = inputs.qop {
        let mut nc_text = [0u8; 8];
        let nc = hex::encode(&inputs.nonce_count.to_be_bytes(), &mut nc_text).unwrap_or("");
        response
            .update(nc.as_bytes())
            .update(b":")
            .update_quoted(inputs.cnonce)
            .update(b":");
        response
            .update(qop.known_name().unwrap_or("").as_bytes())
            .update(b":");
    }
    response.update(ha2.as_str().as_bytes());
    Ok(response.finish())
}

/// HMAC-SHA-256 (RFC 2104) of the concatenation of `parts` under a 32-byte key.
pub(crate) fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut inner_pad = [0x36u8; BLOCK];
    let mut outer_pad = [0x5cu8; BLOCK];
    for ((i, o), k) in inner_pad.iter_mut().zip(outer_pad.iter_mut()).zip(key) {
        *i ^= k;
        *o ^= k;
    }
    let mut inner = BlockHash::new(BlockFunction::Sha256);
    inner.update(&inner_pad);
    for part in parts {
        inner.update(part);
    }
    let mut inner_digest = [0u8; 32];
    inner.finish(&mut inner_digest);
    let mut outer = BlockHash::new(BlockFunction::Sha256);
    outer.update(&outer_pad);
    outer.update(&inner_digest);
    let mut mac = [0u8; 32];
    outer.finish(&mut mac);
    mac
}

/// Compares two byte strings in time that depends only on their lengths (which are public here: the
/// digest length follows from the algorithm).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc4231_test_case_2_shape() {
        // RFC 4231 test case 2 uses a 4-byte key; keys shorter than the block are zero-padded, so the
        // same key zero-extended to 32 bytes must give the published MAC.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"]);
        let mut text = [0u8; 64];
        assert_eq!(
            hex::encode(&mac, &mut text),
            Ok("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
