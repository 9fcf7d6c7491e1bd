//! Typed views of the four authentication header values.
//!
//! `WWW-Authenticate` and `Proxy-Authenticate` carry a [`Challenge`]; `Authorization` and
//! `Proxy-Authorization` carry [`Credentials`]. Each is either `Digest` (typed fields) or another scheme
//! kept verbatim ([`OtherAuth`], e.g. RFC 4475 `regaut01`'s `NoOneKnowsThisScheme`).
//!
//! Leniency: every parameter is accepted quoted or unquoted; names and the scheme compare
//! case-insensitively; `stale`/`userhash` values other than `true` mean false (RFC 7616 §3.3); unknown
//! algorithms and qop values are kept. Strictness: a known parameter given twice, a missing required one
//! (challenge: `realm`, `nonce`; credentials: `username` or `username*`, `realm`, `nonce`, `uri`,
//! `response`), an `nc` that is not 8 hex digits, and both `username` and `username*` are errors, since
//! answering or verifying such a header would mean guessing.

use super::emit::{EmitError, Writer};
use super::hex;
use super::params::{
    is_fold_at, is_token_byte, lws_len, run_len, AuthParams, KnownParam, OtherParams, ParamValue, ParseError,
    ParseErrorKind, CHALLENGE_PARAMS, CREDENTIALS_PARAMS,
};
use super::quoted::QuotedStr;
use super::username::Username;
use super::{Algorithm, Qop};
use crate::sip::header::is_lws_byte;

/// The `algorithm` parameter as received: one this implementation computes, or another kept verbatim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlgorithmValue<'a> {
    /// A supported algorithm.
    Known(Algorithm),
    /// An algorithm name this implementation does not support.
    Unknown(QuotedStr<'a>),
}

impl<'a> AlgorithmValue<'a> {
    fn from_value(value: QuotedStr<'a>) -> Self {
        match value.as_plain().and_then(Algorithm::from_name) {
            Some(algorithm) => AlgorithmValue::Known(algorithm),
            None => AlgorithmValue::Unknown(value),
        }
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<(), EmitError> {
        match self {
            AlgorithmValue::Known(a) => w.token_param("algorithm", QuotedStr::new(a.name())),
            AlgorithmValue::Unknown(name) => w.token_param("algorithm", *name),
        }
    }
}

/// The effective algorithm of an optional `algorithm` parameter: MD5 when absent (RFC 3261 §25),
/// `Err(name)` when unknown.
pub fn effective_algorithm<'a>(value: Option<AlgorithmValue<'a>>) -> Result<Algorithm, QuotedStr<'a>> {
    match value {
        None => Ok(Algorithm::MD5),
        Some(AlgorithmValue::Known(a)) => Ok(a),
        Some(AlgorithmValue::Unknown(name)) => Err(name),
    }
}

/// The `qop` option list of a challenge (`qop="auth,auth-int"`).
#[derive(Clone, Copy, Debug)]
pub struct QopOptions<'a> {
    list: QuotedStr<'a>,
}

impl<'a> QopOptions<'a> {
    /// Options from a comma-separated list such as `"auth,auth-int"`.
    pub const fn new(list: QuotedStr<'a>) -> Self {
        QopOptions { list }
    }

    /// The list as one quoted-string.
    pub const fn as_quoted(&self) -> QuotedStr<'a> {
        self.list
    }

    /// Each offered qop, in order; empty elements are skipped.
    pub fn iter(&self) -> impl Iterator<Item = Qop<'a>> + 'a {
        let (text, wire) = self.list.stored();
        ListItems { rest: text, wire }.map(Qop::from_value)
    }

    /// Whether `qop` is offered.
    pub fn contains(&self, qop: Qop<'_>) -> bool {
        match qop.known_name() {
            Some(name) => self.offers(name),
            None => self.iter().any(|offered| offered == qop),
        }
    }

    /// Whether the qop named `name` (compared ignoring ASCII case, as [`Qop::from_value`] does) is
    /// offered, without building a [`Qop`] for each item.
    pub(crate) fn offers(&self, name: &str) -> bool {
        let (text, wire) = self.list.stored();
        ListItems { rest: text, wire }.any(|item| item.eq_ignore_ascii_case(name))
    }
}

impl PartialEq for QopOptions<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

/// Comma-separated items of a quoted list, whitespace-trimmed; a comma escaped by a backslash does not
/// split.
struct ListItems<'a> {
    rest: &'a str,
    wire: bool,
}

impl<'a> Iterator for ListItems<'a> {
    type Item = QuotedStr<'a>;

    fn next(&mut self) -> Option<QuotedStr<'a>> {
        while !self.rest.is_empty() {
            let bytes = self.rest.as_bytes();
            let mut end = 0;
            while let Some(&b) = bytes.get(end) {
                match b {
                    b',' => break,
                    b'\\' if self.wire => end += 2,
                    _ => end += 1,
                }
            }
            let end = end.min(bytes.len());
            let item = self.rest.get(..end).unwrap_or("");
            self.rest = self.rest.get(end + 1..).unwrap_or("");
            let item = trim_item(item, self.wire);
            if !item.is_empty() {
                return Some(if self.wire {
                    QuotedStr::wire_unchecked(item)
                } else {
                    QuotedStr::new(item)
                });
            }
        }
        None
    }
}

/// Trims surrounding whitespace, keeping a space that a backslash escapes (in wire form).
fn trim_item(item: &str, wire: bool) -> &str {
    let start = lws_len(item.as_bytes(), 0);
    let item = item.get(start..).unwrap_or("");
    let mut trimmed = crate::ascii_trim::trim_end(item, is_lws_byte);
    let backslashes = trimmed.bytes().rev().take_while(|b| *b == b'\\').count();
    if wire && backslashes % 2 == 1 {
        trimmed = item.get(..trimmed.len() + 1).unwrap_or(trimmed);
    }
    trimmed
}

/// A scheme this module does not interpret, kept verbatim.
#[derive(Clone, Copy, Debug)]
pub struct OtherAuth<'a> {
    /// The scheme token, as received.
    pub scheme: &'a str,
    /// Everything after the scheme, surrounding whitespace trimmed (auth-params or a token68).
    pub params: &'a str,
}

impl<'a> OtherAuth<'a> {
    /// The parameters as an auth-param list (yields an error for a token68 or malformed text).
    pub fn auth_params(&self) -> AuthParams<'a> {
        AuthParams::new(self.params)
    }

    /// Writes `scheme params` into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let mut w = Writer::new(buf);
        w.token(self.scheme)?;
        let params = crate::ascii_trim::trim(self.params, is_lws_byte);
        if !params.is_empty() {
            check_line_breaks(params, 0).map_err(|_| EmitError::InvalidValue)?;
            w.raw(b" ")?;
            w.raw(params.as_bytes())?;
        }
        Ok(w.finish())
    }
}

impl PartialEq for OtherAuth<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.scheme.eq_ignore_ascii_case(other.scheme) && self.params == other.params
    }
}

/// A `WWW-Authenticate` or `Proxy-Authenticate` value.
// Without an allocator there is nothing to box the large variant into; values are short-lived.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Challenge<'a> {
    /// A `Digest` challenge.
    Digest(DigestChallenge<'a>),
    /// Any other scheme.
    Other(OtherAuth<'a>),
}

impl<'a> Challenge<'a> {
    /// Parses a header value.
    pub fn parse(value: &'a str) -> Result<Self, ParseError> {
        parse_scheme(
            value,
            |list, base| DigestChallenge::parse_params(list, base).map(Challenge::Digest),
            Challenge::Other,
        )
    }

    /// Writes the canonical header value into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        match self {
            Challenge::Digest(digest) => digest.emit(buf),
            Challenge::Other(other) => other.emit(buf),
        }
    }
}

/// An `Authorization` or `Proxy-Authorization` value.
// Without an allocator there is nothing to box the large variant into; values are short-lived.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Credentials<'a> {
    /// `Digest` credentials.
    Digest(DigestCredentials<'a>),
    /// Any other scheme.
    Other(OtherAuth<'a>),
}

impl<'a> Credentials<'a> {
    /// Parses a header value.
    pub fn parse(value: &'a str) -> Result<Self, ParseError> {
        let digest = |list, base| DigestCredentials::parse_params(list, base).map(Credentials::Digest);
        parse_scheme(value, digest, Credentials::Other)
    }

    /// Writes the canonical header value into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        match self {
            Credentials::Digest(digest) => digest.emit(buf),
            Credentials::Other(other) => other.emit(buf),
        }
    }
}

/// A `Digest` challenge (RFC 3261 §25 `digest-cln`, RFC 7616 §3.3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DigestChallenge<'a> {
    /// `realm`: the protection space, shown to users and part of HA1.
    pub realm: QuotedStr<'a>,
    /// `domain`: space-separated URIs of the protection space.
    pub domain: Option<QuotedStr<'a>>,
    /// `nonce`: server-chosen, opaque to the client.
    pub nonce: QuotedStr<'a>,
    /// `opaque`: returned unchanged by the client.
    pub opaque: Option<QuotedStr<'a>>,
    /// `stale`: the previous nonce was rejected but the credentials were right.
    pub stale: Option<bool>,
    /// `algorithm`; absent means MD5.
    pub algorithm: Option<AlgorithmValue<'a>>,
    /// `qop` options; absent means the RFC 2069 computation.
    pub qop: Option<QopOptions<'a>>,
    /// `userhash` (RFC 7616): the server accepts a hashed username.
    pub userhash: Option<bool>,
    /// Parameters not listed above, as received.
    pub other: OtherParams<'a>,
}

impl<'a> DigestChallenge<'a> {
    /// A challenge with only `realm` and `nonce`.
    pub const fn new(realm: QuotedStr<'a>, nonce: QuotedStr<'a>) -> Self {
        DigestChallenge {
            realm,
            domain: None,
            nonce,
            opaque: None,
            stale: None,
            algorithm: None,
            qop: None,
            userhash: None,
            other: OtherParams::EMPTY,
        }
    }

    /// The effective algorithm (MD5 when absent), or the unknown name.
    pub fn effective_algorithm(&self) -> Result<Algorithm, QuotedStr<'a>> {
        effective_algorithm(self.algorithm)
    }

    /// `stale=true` was given.
    pub fn is_stale(&self) -> bool {
        self.stale == Some(true)
    }

    /// The URIs of `domain`, split on whitespace.
    pub fn domain_uris(&self) -> impl Iterator<Item = &'a str> + 'a {
        let text = self.domain.and_then(|d| d.as_plain()).unwrap_or("");
        text.split([' ', '\t', '\r', '\n']).filter(|uri| !uri.is_empty())
    }

    fn parse_params(list: &'a str, base: usize) -> Result<Self, ParseError> {
        let (mut realm, mut domain, mut nonce, mut opaque) = (None, None, None, None);
        let (mut stale, mut algorithm, mut qop, mut userhash) = (None, None, None, None);
        for_each_known(list, base, CHALLENGE_PARAMS, |param, value, _| {
            let content = value.content();
            match param {
                KnownParam::Realm => realm = Some(content),
                KnownParam::Domain => domain = Some(content),
                KnownParam::Nonce => nonce = Some(content),
                KnownParam::Opaque => opaque = Some(content),
                KnownParam::Stale => stale = Some(content.eq_ignore_ascii_case("true")),
                KnownParam::Algorithm => algorithm = Some(AlgorithmValue::from_value(content)),
                KnownParam::Qop => qop = Some(QopOptions::new(content)),
                _ => userhash = Some(content.eq_ignore_ascii_case("true")),
            }
            Ok(())
        })?;
        Ok(DigestChallenge {
            realm: required(realm, KnownParam::Realm, base)?,
            domain,
            nonce: required(nonce, KnownParam::Nonce, base)?,
            opaque,
            stale,
            algorithm,
            qop,
            userhash,
            other: OtherParams::from_parsed(list, base, CHALLENGE_PARAMS),
        })
    }

    /// Writes the canonical header value (`Digest realm="...", ...`) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let mut w = Writer::new(buf);
        w.raw(b"Digest ")?;
        w.quoted_param("realm", self.realm)?;
        if let Some(domain) = self.domain {
            w.quoted_param("domain", domain)?;
        }
        w.quoted_param("nonce", self.nonce)?;
        if let Some(opaque) = self.opaque {
            w.quoted_param("opaque", opaque)?;
        }
        if let Some(stale) = self.stale {
            w.token_param("stale", bool_text(stale))?;
        }
        if let Some(algorithm) = &self.algorithm {
            algorithm.emit(&mut w)?;
        }
        if let Some(qop) = self.qop {
            w.quoted_param("qop", qop.as_quoted())?;
        }
        if let Some(userhash) = self.userhash {
            w.token_param("userhash", bool_text(userhash))?;
        }
        w.other_params(&self.other)?;
        Ok(w.finish())
    }
}

/// `Digest` credentials (RFC 3261 §25 `dig-resp`, RFC 7616 §3.4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DigestCredentials<'a> {
    /// `username` or `username*`.
    pub username: Username<'a>,
    /// `realm`, copied from the challenge.
    pub realm: QuotedStr<'a>,
    /// `nonce`, copied from the challenge.
    pub nonce: QuotedStr<'a>,
    /// `uri`: the Request-URI the client signed.
    pub uri: QuotedStr<'a>,
    /// `response`: the request-digest in hex (may be empty before any challenge, RFC 8760 §2.7).
    pub response: QuotedStr<'a>,
    /// `algorithm`; absent means MD5.
    pub algorithm: Option<AlgorithmValue<'a>>,
    /// `cnonce`: the client nonce, present with `qop`.
    pub cnonce: Option<QuotedStr<'a>>,
    /// `opaque`, copied from the challenge.
    pub opaque: Option<QuotedStr<'a>>,
    /// `qop`: the chosen quality of protection.
    pub qop: Option<Qop<'a>>,
    /// `nc`: how many requests this client has sent with this nonce, including this one.
    pub nonce_count: Option<u32>,
    /// `userhash`: `username` is H(username ":" realm).
    pub userhash: Option<bool>,
    /// Parameters not listed above, as received.
    pub other: OtherParams<'a>,
}

impl<'a> DigestCredentials<'a> {
    /// The effective algorithm (MD5 when absent), or the unknown name.
    pub fn effective_algorithm(&self) -> Result<Algorithm, QuotedStr<'a>> {
        effective_algorithm(self.algorithm)
    }

    fn parse_params(list: &'a str, base: usize) -> Result<Self, ParseError> {
        let (mut username, mut username_ext, mut realm, mut nonce) = (None, None, None, None);
        let (mut uri, mut response, mut algorithm, mut cnonce) = (None, None, None, None);
        let (mut opaque, mut qop, mut nonce_count, mut userhash) = (None, None, None, None);
        let mut conflict_at = None;
        for_each_known(list, base, CREDENTIALS_PARAMS, |param, value, offset| {
            let content = value.content();
            match param {
                KnownParam::Username | KnownParam::UsernameExt => {
                    if username.is_some() || username_ext.is_some() {
                        conflict_at = Some(offset);
                    }
                    if param == KnownParam::Username {
                        username = Some(content);
                    } else {
                        username_ext = Some(content);
                    }
                }
                KnownParam::Realm => realm = Some(content),
                KnownParam::Nonce => nonce = Some(content),
                KnownParam::Uri => uri = Some(content),
                KnownParam::Response => response = Some(content),
                KnownParam::Algorithm => algorithm = Some(AlgorithmValue::from_value(content)),
                KnownParam::Cnonce => cnonce = Some(content),
                KnownParam::Opaque => opaque = Some(content),
                KnownParam::Qop => qop = Some(Qop::from_value(content)),
                KnownParam::NonceCount => {
                    let count = content.as_plain().and_then(|text| hex::parse_fixed_u64(text, 8));
                    let count = count.and_then(|c| u32::try_from(c).ok());
                    nonce_count = Some(count.ok_or(ParseError {
                        kind: ParseErrorKind::InvalidNonceCount,
                        offset,
                    })?);
                }
                _ => userhash = Some(content.eq_ignore_ascii_case("true")),
            }
            Ok(())
        })?;
        if let Some(offset) = conflict_at {
            return Err(ParseError {
                kind: ParseErrorKind::ConflictingUsernames,
                offset,
            });
        }
        let username = match (username, username_ext) {
            (Some(name), _) => Username::Plain(name),
            (None, Some(ext)) => Username::Extended(ext),
            (None, None) => return Err(missing(KnownParam::Username, base)),
        };
        Ok(DigestCredentials {
            username,
            realm: required(realm, KnownParam::Realm, base)?,
            nonce: required(nonce, KnownParam::Nonce, base)?,
            uri: required(uri, KnownParam::Uri, base)?,
            response: required(response, KnownParam::Response, base)?,
            algorithm,
            cnonce,
            opaque,
            qop,
            nonce_count,
            userhash,
            other: OtherParams::from_parsed(list, base, CREDENTIALS_PARAMS),
        })
    }

    /// Writes the canonical header value (`Digest username="...", ...`) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let mut w = Writer::new(buf);
        w.raw(b"Digest ")?;
        match self.username {
            Username::Plain(name) => w.quoted_param("username", name)?,
            Username::Extended(ext) => w.token_param("username*", ext)?,
        }
        w.quoted_param("realm", self.realm)?;
        w.quoted_param("nonce", self.nonce)?;
        w.quoted_param("uri", self.uri)?;
        w.quoted_param("response", self.response)?;
        if let Some(algorithm) = &self.algorithm {
            algorithm.emit(&mut w)?;
        }
        if let Some(cnonce) = self.cnonce {
            w.quoted_param("cnonce", cnonce)?;
        }
        if let Some(opaque) = self.opaque {
            w.quoted_param("opaque", opaque)?;
        }
        if let Some(qop) = self.qop {
            match (qop.known_name(), qop) {
                (Some(name), _) => w.token_param("qop", QuotedStr::new(name))?,
                (None, Qop::Other(value)) => w.token_param("qop", value)?,
                (None, _) => return Err(EmitError::InvalidValue),
            }
        }
        if let Some(count) = self.nonce_count {
            let mut digits = [0u8; 8];
            let text =
                hex::encode(&count.to_be_bytes(), &mut digits).map_err(|_| EmitError::BufferTooSmall)?;
            w.token_param("nc", QuotedStr::new(text))?;
        }
        if let Some(userhash) = self.userhash {
            w.token_param("userhash", bool_text(userhash))?;
        }
        w.other_params(&self.other)?;
        Ok(w.finish())
    }
}

fn bool_text(value: bool) -> QuotedStr<'static> {
    QuotedStr::new(if value { "true" } else { "false" })
}

fn missing(param: KnownParam, base: usize) -> ParseError {
    ParseError {
        kind: ParseErrorKind::MissingParam(param),
        offset: base,
    }
}

fn required<T>(value: Option<T>, param: KnownParam, base: usize) -> Result<T, ParseError> {
    value.ok_or(missing(param, base))
}

/// Runs `apply` on each parameter of `list` whose name is in `known`, rejecting repeats.
fn for_each_known<'a>(
    list: &'a str,
    base: usize,
    known: &[KnownParam],
    mut apply: impl FnMut(KnownParam, ParamValue<'a>, usize) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut seen = 0u32;
    for param in AuthParams::at(list, base) {
        let param = param?;
        let Some(which) = KnownParam::lookup(param.name, known) else {
            continue;
        };
        let bit = 1u32 << (which as u32);
        if seen & bit != 0 {
            return Err(ParseError {
                kind: ParseErrorKind::DuplicateParam(which),
                offset: param.offset,
            });
        }
        seen |= bit;
        apply(which, param.value, param.offset)?;
    }
    Ok(())
}

/// Parses a header value as `digest` (given the parameter list and its offset) when its scheme is
/// `Digest`, else keeps it as `other`.
fn parse_scheme<'a, T>(
    value: &'a str,
    digest: impl FnOnce(&'a str, usize) -> Result<T, ParseError>,
    other: impl FnOnce(OtherAuth<'a>) -> T,
) -> Result<T, ParseError> {
    match split_scheme(value)? {
        (scheme, params, base) if scheme.eq_ignore_ascii_case("Digest") => digest(params, base),
        (scheme, params, _) => Ok(other(OtherAuth { scheme, params })),
    }
}

/// Splits a header value into its scheme and the rest (trimmed), with the rest's offset.
fn split_scheme(value: &str) -> Result<(&str, &str, usize), ParseError> {
    let bytes = value.as_bytes();
    let start = lws_len(bytes, 0);
    let scheme_len = run_len(bytes, start, is_token_byte);
    let after_scheme = start + scheme_len;
    let gap = lws_len(bytes, after_scheme);
    let rest_start = after_scheme + gap;
    if scheme_len == 0 || (gap == 0 && rest_start < bytes.len()) {
        let offset = if scheme_len == 0 { start } else { after_scheme };
        return Err(ParseError {
            kind: ParseErrorKind::ExpectedScheme,
            offset,
        });
    }
    let scheme = value.get(start..after_scheme).unwrap_or("");
    let rest = crate::ascii_trim::trim_end(value.get(rest_start..).unwrap_or(""), is_lws_byte);
    check_line_breaks(rest, rest_start)?;
    Ok((scheme, rest, rest_start))
}

/// Rejects a CR or LF that does not start a line fold.
fn check_line_breaks(text: &str, base: usize) -> Result<(), ParseError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' if is_fold_at(bytes, i) => i += 3,
            b'\r' | b'\n' => {
                return Err(ParseError {
                    kind: ParseErrorKind::BareLineBreak,
                    offset: base.saturating_add(i),
                })
            }
            _ => i += 1,
        }
    }
    Ok(())
}
