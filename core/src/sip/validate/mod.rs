//! RFC 3261 conformance checks on a parsed message, separate from the lenient view.
//!
//! [`check`] walks the message once: the start line (version, spacing, Request-URI, status code), then
//! every header line in order (typed parse of the headers the core relies on, single-value headers
//! appearing twice, CSeq method agreement), then the mandatory headers (§8.1.1; Content-Type when there
//! is a body, §20.15) and the Content-Length
//! against the body (§18.3; fewer declared octets than received is fine on datagrams, RFC 4475 dblreq).
//! The first problem found is returned with its line number and byte offset, so a CLI can print
//! `line 5, byte 132: CSeq method INVITE differs from request method OPTIONS`.

mod headers;

use crate::sip::header::{HeaderError, HeaderName};
use crate::sip::message::{Message, StartLine};
use crate::sip::method::Method;
use crate::sip::uri::{Uri, UriError};
use crate::write::{Decimal, TextSink};
use core::fmt;

/// Which deviations from RFC 3261 to tolerate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rules {
    /// Accept requests from RFC 2543 implementations, which may omit Max-Forwards (RFC 4475 §3.4.1).
    pub rfc2543_compat: bool,
}

/// A conformance error and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Invalid<'a> {
    /// What is wrong.
    pub kind: InvalidKind<'a>,
    /// 1-based line number.
    pub line: usize,
    /// Byte offset from the start of the input.
    pub offset: usize,
}

/// What is wrong with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InvalidKind<'a> {
    /// The SIP version is not `SIP/2.0`.
    UnsupportedVersion(&'a str),
    /// The request line's elements are not separated by exactly one SP, or it ends in whitespace.
    StartLineSpacing,
    /// The Request-URI is enclosed in `<>`.
    RequestUriInBrackets,
    /// The Request-URI does not parse.
    MalformedRequestUri(UriError),
    /// The Request-URI has a header part (`?...`), which RFC 3261 §19.1.5 forbids there.
    RequestUriHeaders,
    /// The status code is outside 100-699.
    StatusCodeOutOfRange(u16),
    /// A mandatory header is missing.
    MissingHeader(HeaderName<'a>),
    /// A header that takes a single value appears more than once.
    MultipleValues(HeaderName<'a>),
    /// A header's value does not parse.
    MalformedHeader(HeaderName<'a>, HeaderError),
    /// The CSeq method differs from the request method.
    CseqMethodMismatch {
        /// Method in CSeq.
        cseq: Method<'a>,
        /// Method of the request line.
        request: Method<'a>,
    },
    /// Content-Length announces more octets than the message carries.
    ContentLengthExceedsBody {
        /// Declared length.
        declared: u32,
        /// Octets available.
        available: usize,
    },
}

impl fmt::Display for InvalidKind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::write::display_pieces(f, |out| self.describe(out))
    }
}

impl InvalidKind<'_> {
    /// Hands the `Display` text to `out` piece by piece, without `core::fmt`: the client puts it in
    /// its 400 reason phrase (see [`crate::write`]).
    #[inline(never)]
    pub fn describe(&self, out: TextSink<'_>) {
        match self {
            InvalidKind::UnsupportedVersion(v) => {
                out("unsupported SIP version ");
                out(v);
                out(" (expected SIP/2.0)");
            }
            InvalidKind::StartLineSpacing => {
                out("request line elements must be separated by single spaces, with none at the end")
            }
            InvalidKind::RequestUriInBrackets => out("Request-URI must not be enclosed in '<' '>'"),
            InvalidKind::MalformedRequestUri(e) => {
                out("malformed Request-URI: ");
                out(e.as_str());
            }
            InvalidKind::RequestUriHeaders => out("Request-URI must not contain a header part ('?...')"),
            InvalidKind::StatusCodeOutOfRange(c) => {
                out("status code ");
                out(Decimal::new((*c).into()).as_str());
                out(" is outside 100-699");
            }
            InvalidKind::MissingHeader(h) => {
                out("mandatory header ");
                out(h.as_str());
                out(" is missing");
            }
            InvalidKind::MultipleValues(h) => {
                out(h.as_str());
                out(" appears more than once but takes a single value");
            }
            InvalidKind::MalformedHeader(h, e) => {
                out("malformed ");
                out(h.as_str());
                out(": ");
                e.kind.describe(out);
            }
            InvalidKind::CseqMethodMismatch { cseq, request } => {
                out("CSeq method ");
                out(cseq.as_str());
                out(" differs from request method ");
                out(request.as_str());
            }
            InvalidKind::ContentLengthExceedsBody { declared, available } => {
                out("Content-Length ");
                out(Decimal::new((*declared).into()).as_str());
                out(" exceeds the ");
                out(Decimal::new(u64::try_from(*available).unwrap_or(u64::MAX)).as_str());
                out(" octets of body received");
            }
        }
    }
}

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, byte {}: {}", self.line, self.offset, self.kind)
    }
}

/// Checks `message` against RFC 3261 with no leniency.
pub fn check<'a>(message: &Message<'_, 'a>) -> Result<(), Invalid<'a>> {
    check_with(message, &Rules::default())
}

/// Checks `message` with the given tolerances.
pub fn check_with<'a>(message: &Message<'_, 'a>, rules: &Rules) -> Result<(), Invalid<'a>> {
    let at = |kind: InvalidKind<'a>, offset: usize| Invalid {
        kind,
        line: message.line_of(offset),
        offset,
    };
    let line_offset = message.offset_of(message.start_line_text()).unwrap_or(0);
    check_start_line(message).map_err(|(kind, offset)| at(kind, offset.unwrap_or(line_offset)))?;
    headers::check_headers(message).map_err(|(kind, offset)| at(kind, offset))?;

    let end_of_headers = message.wire_len().saturating_sub(message.body().len() + 2);
    let mut mandatory: &[HeaderName<'static>] = &[
        HeaderName::To,
        HeaderName::From,
        HeaderName::CSeq,
        HeaderName::CallId,
        HeaderName::Via,
    ];
    let with_max_forwards = [
        HeaderName::To,
        HeaderName::From,
        HeaderName::CSeq,
        HeaderName::CallId,
        HeaderName::MaxForwards,
        HeaderName::Via,
    ];
    if message.is_request() && !rules.rfc2543_compat {
        mandatory = &with_max_forwards;
    }
    if let Some(missing) = mandatory.iter().find(|name| message.header(**name).is_none()) {
        return Err(at(InvalidKind::MissingHeader(*missing), end_of_headers));
    }
    // §20.15: a non-empty body must say what it is.
    if !message.body().is_empty() && message.header(HeaderName::ContentType).is_none() {
        return Err(at(
            InvalidKind::MissingHeader(HeaderName::ContentType),
            end_of_headers,
        ));
    }

    if let Some((header, Ok(declared))) = message
        .headers_named(HeaderName::ContentLength)
        .next()
        .map(|h| (h, crate::sip::header::parse_content_length(h.value)))
    {
        let available = message.body().len();
        if declared as usize > available {
            let offset = message.offset_of(header.value).unwrap_or(end_of_headers);
            return Err(at(
                InvalidKind::ContentLengthExceedsBody { declared, available },
                offset,
            ));
        }
    }
    Ok(())
}

type Problem<'a> = (InvalidKind<'a>, Option<usize>);

fn check_start_line<'a>(message: &Message<'_, 'a>) -> Result<(), Problem<'a>> {
    let version = message.start_line().version();
    let version_at = message.offset_of(version);
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err((InvalidKind::UnsupportedVersion(version), version_at));
    }
    match *message.start_line() {
        StartLine::Response { code, .. } => {
            if !(100..=699).contains(&code) {
                return Err((InvalidKind::StatusCodeOutOfRange(code), None));
            }
        }
        StartLine::Request { method, uri, version } => {
            let uri_at = message.offset_of(uri);
            let single_spaced = method.as_str().len() + uri.len() + version.len() + 2;
            if message.start_line_text().len() != single_spaced {
                return Err((InvalidKind::StartLineSpacing, None));
            }
            if uri.starts_with('<') {
                return Err((InvalidKind::RequestUriInBrackets, uri_at));
            }
            match Uri::parse(uri) {
                Err(e) => return Err((InvalidKind::MalformedRequestUri(e), uri_at)),
                Ok(Uri::Sip(sip)) if sip.headers.is_some() => {
                    return Err((InvalidKind::RequestUriHeaders, uri_at))
                }
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
