//! URIs in SIP messages: `sip`/`sips` (RFC 3261 §19.1), `tel` (RFC 3966, basic), `im` (RFC 3860) and
//! `pres` (RFC 3859). Any other scheme is kept as [`Uri::Other`] with its raw text, so a proxy can route
//! on it or answer 416 itself (RFC 4475 unkscm, novelsc, unksm2).
//!
//! Parsing is zero-copy: every field borrows from the input, escapes are kept as written, and the
//! escape helpers ([`unescape`], [`eq_unescaped`]) decode them on the fly for comparisons (§19.1.4: `sip:%75ser@h` equals
//! `sip:user@h`). The parser is strict about what may not appear in a URI at all (whitespace, `<`, `>`,
//! `"`, raw non-ASCII, broken `%` escapes), so a Request-URI or a `<...>` value that contains them is
//! reported rather than silently truncated.

mod escape;
mod host;
mod ip;

pub use escape::{eq_unescaped, eq_unescaped_ignore_case, unescape, Unescape};
pub(crate) use host::parse_hostport;
pub use host::Host;
pub use ip::{parse_ipv4, parse_ipv6};

use crate::sip::header::Params;
use core::fmt;

/// Why a URI did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UriError {
    /// No `scheme:` prefix, or the scheme has characters RFC 3986 does not allow.
    BadScheme,
    /// A character that may never appear in a URI (whitespace, `<`, `>`, `"`, control or raw non-ASCII).
    ForbiddenChar,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The user part is empty or has characters a SIP user part may not contain.
    BadUser,
    /// The host is missing or malformed.
    BadHost,
    /// The port is not a number up to 65535.
    BadPort,
    /// A URI parameter is malformed.
    BadParam,
    /// The text after the host is neither a parameter nor a header part.
    Trailing,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl UriError {
    /// What is wrong, in words (the `Display` text; devices write it without `core::fmt`).
    pub fn as_str(&self) -> &'static str {
        match self {
            UriError::BadScheme => "missing or invalid scheme",
            UriError::ForbiddenChar => {
                "contains whitespace, '<', '>', '\"' or an unescaped special character"
            }
            UriError::BadEscape => "'%' is not followed by two hex digits",
            UriError::BadUser => "invalid user part",
            UriError::BadHost => "missing or invalid host",
            UriError::BadPort => "port is not a number from 0 to 65535",
            UriError::BadParam => "malformed URI parameter",
            UriError::Trailing => "unexpected text after the host",
        }
    }
}

/// A parsed URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:`.
    Tel(TelUri<'a>),
    /// `im:` (RFC 3860).
    Im(MailboxUri<'a>),
    /// `pres:` (RFC 3859).
    Pres(MailboxUri<'a>),
    /// Any other scheme, kept as written.
    Other {
        /// The scheme, as written.
        scheme: &'a str,
        /// Everything after the first `:`.
        rest: &'a str,
    },
}

/// A `sip:` or `sips:` URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// User part, escapes as written (may contain `;` and `?`, RFC 4475 semiuri/intmeth).
    pub user: Option<&'a str>,
    /// Password, escapes as written.
    pub password: Option<&'a str>,
    /// Host.
    pub host: Host<'a>,
    /// Explicit port.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params<'a>,
    /// Header part after `?`, without the `?` (`Route=%3Csip:x%3E&Subject=y`).
    pub headers: Option<&'a str>,
}

/// A `tel:` URI (RFC 3966): the number and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The number (global `+...` or local), visual separators kept.
    pub number: &'a str,
    /// Parameters (`;phone-context=...`).
    pub params: Params<'a>,
}

/// An `im:` or `pres:` URI: `[user@]domain[?headers]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxUri<'a> {
    /// Local part.
    pub user: Option<&'a str>,
    /// Domain.
    pub host: Host<'a>,
    /// Header part after `?`.
    pub headers: Option<&'a str>,
}

#[cfg(feature = "defmt")]
impl defmt::Format for Uri<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}:...", self.scheme())
    }
}

/// RFC 3261 `unreserved`: alphanumerics and marks.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')')
}

fn is_user_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_param_byte(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn is_forbidden(b: u8) -> bool {
    b <= b' ' || b >= 0x7f || matches!(b, b'<' | b'>' | b'"')
}

impl<'a> Uri<'a> {
    /// Parses a URI (the whole string).
    pub fn parse(s: &'a str) -> Result<Uri<'a>, UriError> {
        if s.bytes().any(is_forbidden) {
            return Err(UriError::ForbiddenChar);
        }
        let colon = crate::substring::memchr(b':', s.as_bytes()).ok_or(UriError::BadScheme)?;
        let scheme = s.get(..colon).ok_or(UriError::BadScheme)?;
        let rest = s.get(colon + 1..).ok_or(UriError::BadScheme)?;
        let scheme_ok = scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(UriError::BadScheme);
        }
        let is = |name: &str| scheme.eq_ignore_ascii_case(name);
        if is("sip") || is("sips") {
            parse_sip(is("sips"), rest).map(Uri::Sip)
        } else if is("tel") {
            parse_tel(rest).map(Uri::Tel)
        } else if is("im") {
            parse_mailbox(rest).map(Uri::Im)
        } else if is("pres") {
            parse_mailbox(rest).map(Uri::Pres)
        } else if rest.is_empty() {
            Err(UriError::Trailing)
        } else {
            Ok(Uri::Other { scheme, rest })
        }
    }

    /// The scheme in lower case for the known ones, as written otherwise.
    pub fn scheme(&self) -> &'a str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Tel(_) => "tel",
            Uri::Im(_) => "im",
            Uri::Pres(_) => "pres",
            Uri::Other { scheme, .. } => scheme,
        }
    }

    /// The SIP URI inside, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// URI equivalence per RFC 3261 §19.1.4 for SIP URIs (escapes decoded, host and parameter names
    /// case-insensitive, `user`/`ttl`/`method`/`maddr`/`transport` must agree when present in either,
    /// other parameters only when present in both, headers always). Other schemes: tel numbers compare
    /// without visual separators; im/pres compare user and domain; unknown schemes compare scheme
    /// case-insensitively and the rest byte for byte.
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        match (self, other) {
            (Uri::Sip(a), Uri::Sip(b)) => a.equivalent(b),
            (Uri::Tel(a), Uri::Tel(b)) => {
                let digits = |n: &'a str| n.bytes().filter(|c| !matches!(c, b'-' | b'.' | b'(' | b')'));
                let digits_b = b
                    .number
                    .bytes()
                    .filter(|c| !matches!(c, b'-' | b'.' | b'(' | b')'));
                digits(a.number)
                    .map(|c| c.to_ascii_lowercase())
                    .eq(digits_b.map(|c| c.to_ascii_lowercase()))
                    && shared_params_match(&a.params, &b.params)
            }
            (Uri::Im(a), Uri::Im(b)) | (Uri::Pres(a), Uri::Pres(b)) => {
                opt_eq(a.user, b.user, eq_unescaped) && a.host.eq_host(&b.host)
            }
            (Uri::Other { scheme: sa, rest: ra }, Uri::Other { scheme: sb, rest: rb }) => {
                sa.eq_ignore_ascii_case(sb) && ra == rb
            }
            _ => false,
        }
    }
}

fn opt_eq(a: Option<&str>, b: Option<&str>, eq: fn(&str, &str) -> bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => eq(a, b),
        _ => false,
    }
}

/// Parameters present in both must agree. A repeated name (which RFC 3261 §19.1.1 forbids) is
/// represented by its first occurrence on both sides, so comparison stays reflexive.
fn shared_params_match(a: &Params<'_>, b: &Params<'_>) -> bool {
    a.iter().all(|p| match (a.find(p.name), b.find(p.name)) {
        (Some(pa), Some(pb)) => opt_eq(pa.value, pb.value, eq_unescaped_ignore_case),
        _ => true,
    })
}

/// Parameters that must agree whenever either URI has them (RFC 3261 §19.1.4).
const SIGNIFICANT_PARAMS: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

impl<'a> SipUri<'a> {
    /// RFC 3261 §19.1.4 equivalence (see [`Uri::equivalent`]).
    pub fn equivalent(&self, other: &SipUri<'_>) -> bool {
        let significant_match = SIGNIFICANT_PARAMS
            .iter()
            .all(|name| opt_eq_nested(self.params.get(name), other.params.get(name)));
        self.secure == other.secure
            && opt_eq(self.user, other.user, eq_unescaped)
            && opt_eq(self.password, other.password, eq_unescaped)
            && self.host.eq_host(&other.host)
            && self.port == other.port
            && significant_match
            && shared_params_match(&self.params, &other.params)
            && headers_match(self.headers, other.headers)
            && headers_match(other.headers, self.headers)
    }

    /// Iterates over the header part as `(name, value)` pairs, escapes as written.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        header_pairs(self.headers)
    }
}

fn opt_eq_nested(a: Option<Option<&str>>, b: Option<Option<&str>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => opt_eq(a, b, eq_unescaped_ignore_case),
        _ => false,
    }
}

fn header_pairs(h: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    h.unwrap_or("")
        .split('&')
        .filter(|h| !h.is_empty())
        .map(|h| h.split_once('=').unwrap_or((h, "")))
}

fn headers_match(a: Option<&str>, b: Option<&str>) -> bool {
    header_pairs(a).all(|(name, value)| {
        header_pairs(b).any(|(n, v)| eq_unescaped_ignore_case(name, n) && eq_unescaped(value, v))
    })
}

fn split_headers(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('?') {
        Some((before, headers)) => (before, Some(headers)),
        None => (rest, None),
    }
}

fn check_params(params: &str) -> Result<(), UriError> {
    for piece in params.split(';').skip(1) {
        let (name, value) = piece.split_once('=').map_or((piece, None), |(n, v)| (n, Some(v)));
        let ok = |s: &str| !s.is_empty() && s.bytes().all(is_param_byte);
        if !ok(name) || value.is_some_and(|v| !ok(v)) {
            return Err(UriError::BadParam);
        }
    }
    Ok(())
}

fn parse_sip(secure: bool, rest: &str) -> Result<SipUri<'_>, UriError> {
    if !escape::escapes_are_valid(rest) {
        return Err(UriError::BadEscape);
    }
    let (userinfo, hostpart) = match crate::substring::memchr(b'@', rest.as_bytes()) {
        Some(at) => (rest.get(..at), rest.get(at + 1..).unwrap_or("")),
        None => (None, rest),
    };
    let (mut user, mut password) = (None, None);
    if let Some(info) = userinfo {
        let (u, p) = info.split_once(':').map_or((info, None), |(u, p)| (u, Some(p)));
        if u.is_empty() || !u.bytes().all(is_user_byte) || p.is_some_and(|p| !p.bytes().all(is_password_byte))
        {
            return Err(UriError::BadUser);
        }
        user = Some(u);
        password = p;
    }
    let (host, port, used) = parse_hostport(hostpart).ok_or_else(|| host_error(hostpart))?;
    let after = hostpart.get(used..).unwrap_or("");
    let (params, headers) = split_headers(after);
    if !params.is_empty() && !params.starts_with(';') {
        return Err(UriError::Trailing);
    }
    check_params(params)?;
    Ok(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params: Params::from_raw(params),
        headers,
    })
}

/// Distinguishes a bad port from a bad host for a clearer message.
fn host_error(hostport: &str) -> UriError {
    match Host::parse_prefix(hostport) {
        Some(_) => UriError::BadPort,
        None => UriError::BadHost,
    }
}

fn parse_tel(rest: &str) -> Result<TelUri<'_>, UriError> {
    let (number, params) = rest.find(';').map_or((rest, ""), |i| {
        (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or(""))
    });
    let number_ok = !number.is_empty()
        && number
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#'));
    if !number_ok {
        return Err(UriError::BadUser);
    }
    check_params(params)?;
    Ok(TelUri {
        number,
        params: Params::from_raw(params),
    })
}

fn parse_mailbox(rest: &str) -> Result<MailboxUri<'_>, UriError> {
    let (mailbox, headers) = split_headers(rest);
    let (user, domain) = match crate::substring::rsplit_once_ascii(mailbox, b'@') {
        Some((u, d)) if !u.is_empty() => (Some(u), d),
        Some(_) => return Err(UriError::BadUser),
        None => (None, mailbox),
    };
    let host = Host::parse(domain).ok_or(UriError::BadHost)?;
    Ok(MailboxUri { user, host, headers })
}

impl fmt::Display for SipUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = self.user {
            f.write_str(user)?;
            if let Some(password) = self.password {
                write!(f, ":{password}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        f.write_str(self.params.as_raw())?;
        if let Some(headers) = self.headers {
            write!(f, "?{headers}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Tel(t) => write!(f, "tel:{}{}", t.number, t.params.as_raw()),
            Uri::Im(m) | Uri::Pres(m) => {
                write!(f, "{}:", self.scheme())?;
                if let Some(user) = m.user {
                    write!(f, "{user}@")?;
                }
                write!(f, "{}", m.host)?;
                match m.headers {
                    Some(h) => write!(f, "?{h}"),
                    None => Ok(()),
                }
            }
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

#[cfg(test)]
mod tests;
