//! The auth-param list shared by every authentication header.
//!
//! Grammar accepted (RFC 3261 §25 `auth-param`, with the leniency of RFC 7230 lists):
//!
//! ```text
//! list   = [ param ] *( LWS? "," LWS? [ param ] )     ; empty elements are skipped
//! param  = token LWS? "=" LWS? ( bare / quoted-string )
//! bare   = 1*( %x21-7E except "," and DQUOTE )        ; tokens, and the base64 nonces some peers send unquoted
//! LWS    = 1*( SP / HTAB / CRLF SP / CRLF HTAB )       ; also a CRLF ending the value
//! quoted = DQUOTE *( any byte except DQUOTE, "\" and a CR/LF that is not a fold / "\" %x00-7F except CR, LF ) DQUOTE
//! ```
//!
//! A bare CR or LF anywhere is an error: header values reach this code already split into lines, so one
//! can only be a broken fold, and rejecting it keeps every emitted value a valid single header line.

use core::fmt;

use super::quoted::QuotedStr;

/// A parameter whose meaning the digest headers define. Unknown names are kept as [`OtherParams`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KnownParam {
    /// `realm`
    Realm,
    /// `domain`
    Domain,
    /// `nonce`
    Nonce,
    /// `opaque`
    Opaque,
    /// `stale`
    Stale,
    /// `algorithm`
    Algorithm,
    /// `qop`
    Qop,
    /// `userhash` (RFC 7616)
    Userhash,
    /// `username`
    Username,
    /// `username*` (RFC 7616 §3.4: an RFC 8187 ext-value)
    UsernameExt,
    /// `uri`
    Uri,
    /// `response`
    Response,
    /// `cnonce`
    Cnonce,
    /// `nc`
    NonceCount,
}

impl KnownParam {
    /// The parameter's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            KnownParam::Realm => "realm",
            KnownParam::Domain => "domain",
            KnownParam::Nonce => "nonce",
            KnownParam::Opaque => "opaque",
            KnownParam::Stale => "stale",
            KnownParam::Algorithm => "algorithm",
            KnownParam::Qop => "qop",
            KnownParam::Userhash => "userhash",
            KnownParam::Username => "username",
            KnownParam::UsernameExt => "username*",
            KnownParam::Uri => "uri",
            KnownParam::Response => "response",
            KnownParam::Cnonce => "cnonce",
            KnownParam::NonceCount => "nc",
        }
    }

    /// Which of `set` is called `name` (case-insensitively).
    pub fn lookup(name: &str, set: &[KnownParam]) -> Option<KnownParam> {
        set.iter().copied().find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

/// Every name either header knows, in declaration order: what [`OtherParams::new`] leaves out.
const ALL_KNOWN_PARAMS: &[KnownParam] = &[
    KnownParam::Realm,
    KnownParam::Domain,
    KnownParam::Nonce,
    KnownParam::Opaque,
    KnownParam::Stale,
    KnownParam::Algorithm,
    KnownParam::Qop,
    KnownParam::Userhash,
    KnownParam::Username,
    KnownParam::UsernameExt,
    KnownParam::Uri,
    KnownParam::Response,
    KnownParam::Cnonce,
    KnownParam::NonceCount,
];

/// The parameters a `Digest` challenge defines (RFC 3261 `digest-cln`, RFC 7616 §3.3): the first eight.
pub const CHALLENGE_PARAMS: &[KnownParam] = ALL_KNOWN_PARAMS.split_at(8).0;

/// The parameters `Digest` credentials define (RFC 3261 `dig-resp`, RFC 7616 §3.4).
pub const CREDENTIALS_PARAMS: &[KnownParam] = &[
    KnownParam::Username,
    KnownParam::UsernameExt,
    KnownParam::Realm,
    KnownParam::Nonce,
    KnownParam::Uri,
    KnownParam::Response,
    KnownParam::Algorithm,
    KnownParam::Cnonce,
    KnownParam::Opaque,
    KnownParam::Qop,
    KnownParam::NonceCount,
    KnownParam::Userhash,
];

/// What is wrong with an authentication header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseErrorKind {
    /// The value does not start with an authentication scheme token.
    ExpectedScheme,
    /// A parameter name (a token) was expected.
    ExpectedParamName,
    /// A parameter name is not followed by `=`.
    ExpectedEquals,
    /// `=` is followed by neither a token nor a quoted-string.
    ExpectedValue,
    /// Two parameters are not separated by a comma.
    ExpectedComma,
    /// A quoted-string has no closing quote.
    UnterminatedQuote,
    /// A backslash escapes nothing, CR, LF or a non-ASCII byte.
    InvalidEscape,
    /// A CR or LF that is not part of a line fold (CRLF followed by a space or tab).
    BareLineBreak,
    /// A parameter that may appear once appears twice.
    DuplicateParam(KnownParam),
    /// A parameter the header requires is absent.
    MissingParam(KnownParam),
    /// `nc` is not exactly 8 hex digits.
    InvalidNonceCount,
    /// Both `username` and `username*` are present (RFC 7616 §3.4 forbids it).
    ConflictingUsernames,
}

/// An authentication header value could not be parsed: what, and at which byte offset of the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset into the header value where the problem was found.
    pub offset: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match self.kind {
            ParseErrorKind::ExpectedScheme => {
                write!(f, "expected an auth scheme token at byte {}", at)
            }
            ParseErrorKind::ExpectedParamName => {
                write!(f, "expected a parameter name at byte {}", at)
            }
            ParseErrorKind::ExpectedEquals => {
                write!(f, "expected '=' after the parameter name at byte {}", at)
            }
            ParseErrorKind::ExpectedValue => {
                write!(f, "expected a token or quoted value at byte {}", at)
            }
            ParseErrorKind::ExpectedComma => {
                write!(f, "expected ',' between parameters at byte {}", at)
            }
            ParseErrorKind::UnterminatedQuote => {
                write!(f, "quoted-string opened at byte {} is never closed", at)
            }
            ParseErrorKind::InvalidEscape => {
                write!(f, "backslash at byte {} escapes no ASCII character", at)
            }
            ParseErrorKind::BareLineBreak => {
                write!(f, "CR or LF outside a line fold at byte {}", at)
            }
            ParseErrorKind::DuplicateParam(p) => {
                write!(f, "parameter '{}' repeated at byte {}", p.name(), at)
            }
            ParseErrorKind::MissingParam(p) => {
                write!(f, "required parameter '{}' is missing", p.name())
            }
            ParseErrorKind::InvalidNonceCount => write!(f, "nc at byte {} is not 8 hex digits", at),
            ParseErrorKind::ConflictingUsernames => {
                write!(
                    f,
                    "both username and username* given (byte {}): send only one",
                    at
                )
            }
        }
    }
}

impl core::error::Error for ParseError {}

/// RFC 3261 `token` characters.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Characters of an unquoted parameter value (see the module grammar).
pub(crate) fn is_bare_value_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b',' && b != b'"'
}

/// Length of the linear whitespace starting at `pos` (0 when there is none).
pub(crate) fn lws_len(bytes: &[u8], pos: usize) -> usize {
    let mut end = pos;
    loop {
        match (
            bytes.get(end),
            bytes.get(end.saturating_add(1)),
            bytes.get(end.saturating_add(2)),
        ) {
            (Some(b' ' | b'\t'), _, _) => end += 1,
            (Some(b'\r'), Some(b'\n'), Some(b' ' | b'\t') | None) => end += 2,
            _ => return end - pos,
        }
    }
}

/// A line fold (CRLF followed by a space or tab) starts at `pos`.
pub(crate) fn is_fold_at(bytes: &[u8], pos: usize) -> bool {
    matches!(
        bytes.get(pos..pos.saturating_add(3)),
        Some([b'\r', b'\n', b' ' | b'\t'])
    )
}

/// Length of the run of bytes satisfying `accept` starting at `pos`.
pub(crate) fn run_len(bytes: &[u8], pos: usize, accept: fn(u8) -> bool) -> usize {
    bytes
        .get(pos..)
        .map_or(0, |rest| rest.iter().take_while(|b| accept(**b)).count())
}

/// Scans quoted-string content from `from` (just after an opening quote, or the start of bare wire
/// content): returns the offset of the first unescaped `"`, or `None` when the content ends first.
pub(crate) fn scan_quoted_content(bytes: &[u8], from: usize) -> Result<Option<usize>, ParseError> {
    let mut i = from;
    loop {
        let kind = match bytes.get(i) {
            None => return Ok(None),
            Some(b'"') => return Ok(Some(i)),
            Some(b'\\') => match bytes.get(i + 1) {
                Some(&b) if b.is_ascii() && b != b'\r' && b != b'\n' => {
                    i += 2;
                    continue;
                }
                _ => ParseErrorKind::InvalidEscape,
            },
            Some(b'\r' | b'\n') if is_fold_at(bytes, i) => {
                i += 3;
                continue;
            }
            Some(b'\r' | b'\n') => ParseErrorKind::BareLineBreak,
            Some(_) => {
                i += 1;
                continue;
            }
        };
        return Err(ParseError { kind, offset: i });
    }
}

/// A parameter value as received: unquoted, or a quoted-string.
#[derive(Clone, Copy, Debug)]
pub enum ParamValue<'a> {
    /// An unquoted value.
    Bare(&'a str),
    /// A quoted-string.
    Quoted(QuotedStr<'a>),
}

impl<'a> ParamValue<'a> {
    /// The value's content, whichever form it had.
    pub fn content(self) -> QuotedStr<'a> {
        match self {
            ParamValue::Bare(text) => QuotedStr::new(text),
            ParamValue::Quoted(q) => q,
        }
    }
}

impl PartialEq for ParamValue<'_> {
    /// Values are equal when their contents are: `a` equals `"a"`.
    fn eq(&self, other: &Self) -> bool {
        self.content() == other.content()
    }
}

/// One `name=value` of an auth-param list.
#[derive(Clone, Copy, Debug)]
pub struct AuthParam<'a> {
    /// The name as received (compare case-insensitively).
    pub name: &'a str,
    /// The value.
    pub value: ParamValue<'a>,
    /// Byte offset of the name within the header value.
    pub offset: usize,
}

impl PartialEq for AuthParam<'_> {
    /// Names compare case-insensitively, values by content; offsets are ignored.
    fn eq(&self, other: &Self) -> bool {
        self.name.eq_ignore_ascii_case(other.name) && self.value == other.value
    }
}

/// Lexer over an auth-param list; yields each parameter or the first syntax error, then stops.
#[derive(Clone, Debug)]
pub struct AuthParams<'a> {
    src: &'a str,
    pos: usize,
    /// Offset of `src` within the whole header value, for error positions.
    base: usize,
    after_param: bool,
    done: bool,
}

impl<'a> AuthParams<'a> {
    /// Lexes `list`, a comma-separated auth-param list (what follows the scheme).
    pub fn new(list: &'a str) -> Self {
        AuthParams::at(list, 0)
    }

    /// Lexes `list`, which starts at byte `base` of the header value.
    pub(crate) fn at(list: &'a str, base: usize) -> Self {
        AuthParams {
            src: list,
            pos: 0,
            base,
            after_param: false,
            done: false,
        }
    }

    fn fail(&mut self, kind: ParseErrorKind, pos: usize) -> Option<Result<AuthParam<'a>, ParseError>> {
        self.done = true;
        Some(Err(ParseError {
            kind,
            offset: self.base.saturating_add(pos),
        }))
    }

    fn slice(&self, from: usize, to: usize) -> &'a str {
        // Both ends sit next to ASCII delimiters, so they are char boundaries; `get` keeps it total.
        self.src.get(from..to).unwrap_or("")
    }
}

impl<'a> Iterator for AuthParams<'a> {
    type Item = Result<AuthParam<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let bytes = self.src.as_bytes();
        let mut pos = self.pos + lws_len(bytes, self.pos);
        if self.after_param && pos < bytes.len() && bytes.get(pos) != Some(&b',') {
            return self.fail(bare_break_or(bytes, pos, ParseErrorKind::ExpectedComma), pos);
        }
        // Skip separators and empty list elements.
        while bytes.get(pos) == Some(&b',') {
            pos += 1;
            pos += lws_len(bytes, pos);
        }
        if pos >= bytes.len() {
            self.done = true;
            return None;
        }
        let name_start = pos;
        let name_len = run_len(bytes, pos, is_token_byte);
        if name_len == 0 {
            return self.fail(bare_break_or(bytes, pos, ParseErrorKind::ExpectedParamName), pos);
        }
        pos += name_len;
        let name = self.slice(name_start, pos);
        pos += lws_len(bytes, pos);
        if bytes.get(pos) != Some(&b'=') {
            return self.fail(bare_break_or(bytes, pos, ParseErrorKind::ExpectedEquals), pos);
        }
        pos += 1;
        pos += lws_len(bytes, pos);
        let value = if bytes.get(pos) == Some(&b'"') {
            let close = match scan_quoted_content(bytes, pos + 1) {
                Ok(Some(close)) => close,
                Ok(None) => return self.fail(ParseErrorKind::UnterminatedQuote, pos),
                Err(e) => {
                    self.done = true;
                    return Some(Err(ParseError {
                        kind: e.kind,
                        offset: self.base.saturating_add(e.offset),
                    }));
                }
            };
            let content = self.slice(pos + 1, close);
            pos = close + 1;
            ParamValue::Quoted(QuotedStr::wire_unchecked(content))
        } else {
            let len = run_len(bytes, pos, is_bare_value_byte);
            if len == 0 {
                return self.fail(bare_break_or(bytes, pos, ParseErrorKind::ExpectedValue), pos);
            }
            let text = self.slice(pos, pos + len);
            pos += len;
            ParamValue::Bare(text)
        };
        self.pos = pos;
        self.after_param = true;
        Some(Ok(AuthParam {
            name,
            value,
            offset: self.base.saturating_add(name_start),
        }))
    }
}

/// `BareLineBreak` when the byte at `pos` is a CR or LF (a more useful report than "expected X").
fn bare_break_or(bytes: &[u8], pos: usize, otherwise: ParseErrorKind) -> ParseErrorKind {
    match bytes.get(pos) {
        Some(b'\r' | b'\n') => ParseErrorKind::BareLineBreak,
        _ => otherwise,
    }
}

/// The parameters of a header that its typed fields do not cover, re-read from the original text.
#[derive(Clone, Copy, Debug)]
pub struct OtherParams<'a> {
    source: &'a str,
    base: usize,
    skip: &'static [KnownParam],
}

impl<'a> OtherParams<'a> {
    /// No extra parameters.
    pub const EMPTY: OtherParams<'static> = OtherParams {
        source: "",
        base: 0,
        skip: &[],
    };

    /// Extra parameters to emit, given as an auth-param list. Names the digest headers define are
    /// skipped (the typed fields carry those).
    pub fn new(list: &'a str) -> Result<Self, ParseError> {
        AuthParams::new(list).try_for_each(|p| p.map(|_| ()))?;
        Ok(OtherParams {
            source: list,
            base: 0,
            skip: ALL_KNOWN_PARAMS,
        })
    }

    /// A validated list (parsed as part of a header) minus the names in `skip`.
    pub(crate) const fn from_parsed(source: &'a str, base: usize, skip: &'static [KnownParam]) -> Self {
        OtherParams { source, base, skip }
    }

    /// The extra parameters, in received order.
    pub fn iter(&self) -> impl Iterator<Item = AuthParam<'a>> + 'a {
        let skip = self.skip;
        AuthParams::at(self.source, self.base)
            .map_while(Result::ok)
            .filter(move |p| KnownParam::lookup(p.name, skip).is_none())
    }

    /// The first extra parameter called `name` (case-insensitively).
    pub fn get(&self, name: &str) -> Option<ParamValue<'a>> {
        self.iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value)
    }

    /// `true` when there are no extra parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl PartialEq for OtherParams<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}
