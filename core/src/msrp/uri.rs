//! MSRP URIs (RFC 4975 §6, §9) and their comparison rules (§6.1).
//!
//! `msrp[s]://[userinfo@]host[:port][/session-id];transport[;param...]`. Parsing is zero-copy and
//! lenient about parameter syntax (unknown parameters are kept verbatim in [`MsrpUri::params`]), but
//! strict about what the comparison needs: a scheme, a host, a numeric port and a transport.
//!
//! Comparison ([`MsrpUri::matches`]) follows §6.1: scheme and host case-insensitively, host after
//! decoding percent-encoded unreserved characters, userinfo ignored, ports must both be absent or equal,
//! session-id case-sensitively (absent never equals present), transport case-insensitively, other
//! parameters ignored. RFC 6714 (CEMA) lets an endpoint match incoming requests by session-id only
//! because middleboxes may rewrite the authority: [`MsrpUri::matches_session_id`].

use crate::ascii_trim::TrimAsciiWs;
use core::fmt;

/// Why a string is not an MSRP URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UriError {
    /// The scheme is neither `msrp://` nor `msrps://`.
    BadScheme,
    /// The authority has no host.
    MissingHost,
    /// The port is not a decimal number in 0..=65535.
    BadPort,
    /// There is no `;transport` parameter after the authority and session-id.
    MissingTransport,
    /// The session-id contains a character outside `unreserved / "+" / "=" / "/"`.
    BadSessionId,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UriError::BadScheme => "MSRP URI must start with msrp:// or msrps://",
            UriError::MissingHost => "MSRP URI has an empty host in its authority",
            UriError::BadPort => "MSRP URI port is not a number between 0 and 65535",
            UriError::MissingTransport => "MSRP URI lacks the ';tcp' (transport) parameter",
            UriError::BadSessionId => "MSRP URI session-id contains a character RFC 4975 does not allow",
        })
    }
}

/// A parsed MSRP URI, borrowing the text it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MsrpUri<'a> {
    /// `msrps` (TLS required) rather than `msrp`.
    pub secure: bool,
    /// The userinfo before `@`, if any (never compared).
    pub userinfo: Option<&'a str>,
    /// The host: a name, an IPv4 address or a bracketed IPv6 reference (brackets kept).
    pub host: &'a str,
    /// The explicit port, if any.
    pub port: Option<u16>,
    /// The session-id after `/`, if any.
    pub session_id: Option<&'a str>,
    /// The transport parameter (`tcp`).
    pub transport: &'a str,
    /// Any further parameters after the transport, without the leading `;` (empty when none).
    pub params: &'a str,
    /// The whole URI text.
    pub text: &'a str,
}

impl<'a> MsrpUri<'a> {
    /// Parses one URI (no surrounding whitespace).
    pub fn parse(text: &'a str) -> Result<Self, UriError> {
        let (secure, rest) = if let Some(r) = strip_prefix_ignore_case(text, "msrps://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ignore_case(text, "msrp://") {
            (false, r)
        } else {
            return Err(UriError::BadScheme);
        };
        let (before_params, after_semicolon) = rest.split_once(';').ok_or(UriError::MissingTransport)?;
        let (authority, session_id) = match before_params.split_once('/') {
            Some((a, s)) => (a, Some(s)),
            None => (before_params, None),
        };
        if let Some(s) = session_id {
            if s.is_empty() || !s.bytes().all(is_session_id_char) {
                return Err(UriError::BadSessionId);
            }
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(UriError::MissingHost);
        }
        let (transport, params) = after_semicolon.split_once(';').unwrap_or((after_semicolon, ""));
        if transport.is_empty() {
            return Err(UriError::MissingTransport);
        }
        Ok(MsrpUri {
            secure,
            userinfo,
            host,
            port,
            session_id,
            transport,
            params,
            text,
        })
    }

    /// RFC 4975 §6.1 equivalence.
    pub fn matches(&self, other: &MsrpUri<'_>) -> bool {
        self.secure == other.secure
            && percent_decoded_eq_ignore_case(self.host, other.host)
            && self.port == other.port
            && self.session_id == other.session_id
            && self.transport.eq_ignore_ascii_case(other.transport)
    }

    /// RFC 6714 session matching: only the session-ids are compared (both must be present).
    pub fn matches_session_id(&self, other: &MsrpUri<'_>) -> bool {
        self.session_id.is_some() && self.session_id == other.session_id
    }

    /// Same scheme, host and port: the URIs designate the same MSRP device (a relay's next hop).
    pub fn same_authority(&self, other: &MsrpUri<'_>) -> bool {
        self.secure == other.secure
            && percent_decoded_eq_ignore_case(self.host, other.host)
            && self.port == other.port
    }
}

impl fmt::Display for MsrpUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// A To-Path or From-Path header value: URIs separated by spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Path<'a>(pub &'a str);

impl<'a> Path<'a> {
    /// The URI texts in order (not yet parsed).
    pub fn texts(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.0.split_ascii_whitespace()
    }
    /// The URIs in order, each parsed.
    pub fn uris(&self) -> impl Iterator<Item = Result<MsrpUri<'a>, UriError>> + 'a {
        self.texts().map(MsrpUri::parse)
    }
    /// The first (leftmost) URI: the next hop for a To-Path, the previous hop for a From-Path.
    pub fn first(&self) -> Option<Result<MsrpUri<'a>, UriError>> {
        self.uris().next()
    }
    /// The last (rightmost) URI: the final destination of a To-Path, the origin of a From-Path.
    pub fn last(&self) -> Option<Result<MsrpUri<'a>, UriError>> {
        self.texts().last().map(MsrpUri::parse)
    }
    /// How many URIs the path holds.
    pub fn len(&self) -> usize {
        self.texts().count()
    }
    /// Whether the path holds no URI.
    pub fn is_empty(&self) -> bool {
        self.texts().next().is_none()
    }
    /// The path text after its first URI (leading whitespace removed).
    pub fn rest_after_first(&self) -> &'a str {
        let trimmed = self.0.trim_ws_start();
        match trimmed.find(|c: char| c.is_ascii_whitespace()) {
            Some(i) => trimmed.get(i..).unwrap_or("").trim_ws_start(),
            None => "",
        }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn is_session_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'=' | b'/')
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), UriError> {
    // A bracketed IPv6 reference contains colons of its own.
    let port_sep = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(close) => hostport
                .get(close + 1..)
                .and_then(|r| r.strip_prefix(':'))
                .map(|p| (close + 1, p)),
            None => return Err(UriError::MissingHost),
        }
    } else {
        hostport
            .rfind(':')
            .and_then(|i| hostport.get(i + 1..).map(|p| (i, p)))
    };
    match port_sep {
        Some((i, port)) => {
            let port: u16 = port.parse().map_err(|_| UriError::BadPort)?;
            Ok((hostport.get(..i).unwrap_or(""), Some(port)))
        }
        None => Ok((hostport, None)),
    }
}

/// Yields the bytes of `s` with `%XX` escapes of unreserved characters decoded, lowercased.
fn normalised(s: &str) -> impl Iterator<Item = u8> + '_ {
    let bytes = s.as_bytes();
    let mut i = 0;
    core::iter::from_fn(move || {
        let b = *bytes.get(i)?;
        if b == b'%' {
            let decoded = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| core::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .filter(|d| d.is_ascii_alphanumeric() || matches!(d, b'-' | b'.' | b'_' | b'~'));
            if let Some(d) = decoded {
                i += 3;
                return Some(d.to_ascii_lowercase());
            }
        }
        i += 1;
        Some(b.to_ascii_lowercase())
    })
}

fn percent_decoded_eq_ignore_case(a: &str, b: &str) -> bool {
    normalised(a).eq(normalised(b))
}
