//! Request-Line and Status-Line (RFC 3261 §7.1, §7.2).
//!
//! The view splits leniently: the method ends at the first SP, the version starts after the last SP
//! (ignoring trailing whitespace), and the Request-URI is what lies between, trimmed. So a request line
//! with doubled or trailing SP, or a URI with embedded LWS, still parses and keeps every part;
//! [`crate::sip::validate`] then reports the exact problem (RFC 4475 lwsstart, trws, lwsruri, ltgtruri).

use super::ParseError;
use crate::ascii_trim::starts_with_ignore_case;
use crate::ascii_trim::{trim, trim_end, trim_start};
use crate::sip::method::Method;

/// The first line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method.
        method: Method<'a>,
        /// The Request-URI as written (parse it with [`crate::sip::uri::Uri::parse`]).
        uri: &'a str,
        /// The version, e.g. `SIP/2.0`.
        version: &'a str,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The version.
        version: &'a str,
        /// The three-digit status code (any value 000-999; validation checks 100-699).
        code: u16,
        /// The reason phrase (may be empty, may be UTF-8).
        reason: &'a str,
    },
}

impl<'a> StartLine<'a> {
    pub(crate) fn parse(line: &'a str) -> Result<StartLine<'a>, ParseError> {
        let (first, rest) = line.split_once(' ').ok_or(ParseError::MalformedStartLine)?;
        let is_response = first.len() > 4 && starts_with_ignore_case(first, "SIP/");
        if is_response {
            let rest = trim_start(rest, is_sp);
            let digits = rest.as_bytes().get(..3).ok_or(ParseError::BadStatusCode)?;
            let after = rest.as_bytes().get(3).copied();
            if !digits.iter().all(u8::is_ascii_digit) || after.is_some_and(|b| b != b' ') {
                return Err(ParseError::BadStatusCode);
            }
            let code = digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            let reason = trim_end(rest.get(4..).unwrap_or(""), is_wsp);
            return Ok(StartLine::Response {
                version: first,
                code,
                reason,
            });
        }
        let method = Method::parse(first).ok_or(ParseError::MalformedStartLine)?;
        let rest = trim_end(rest, is_wsp);
        let (uri, version) =
            crate::substring::rsplit_once_ascii(rest, b' ').ok_or(ParseError::MalformedStartLine)?;
        let uri = trim(uri, is_sp);
        if uri.is_empty() || version.is_empty() {
            return Err(ParseError::MalformedStartLine);
        }
        Ok(StartLine::Request { method, uri, version })
    }

    /// The SIP version string.
    pub fn version(&self) -> &'a str {
        match self {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => version,
        }
    }
}

/// SP, the separator of the start line's elements.
fn is_sp(b: u8) -> bool {
    b == b' '
}

/// SP or HT (RFC 5234 `WSP`).
fn is_wsp(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_split_leniently() {
        assert_eq!(
            StartLine::parse("INVITE  sip:user@example.com  SIP/2.0"),
            Ok(StartLine::Request {
                method: Method::Invite,
                uri: "sip:user@example.com",
                version: "SIP/2.0"
            })
        );
        assert_eq!(
            StartLine::parse("INVITE sip:user@example.com; lr SIP/2.0"),
            Ok(StartLine::Request {
                method: Method::Invite,
                uri: "sip:user@example.com; lr",
                version: "SIP/2.0"
            })
        );
        assert_eq!(
            StartLine::parse("INVITE sip:alan@jasomi.com"),
            Err(ParseError::MalformedStartLine)
        );
        assert_eq!(StartLine::parse("INVITE"), Err(ParseError::MalformedStartLine));
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            StartLine::parse("SIP/2.0 100 "),
            Ok(StartLine::Response {
                version: "SIP/2.0",
                code: 100,
                reason: ""
            })
        );
        assert_eq!(
            StartLine::parse("SIP/2.0 180"),
            Ok(StartLine::Response {
                version: "SIP/2.0",
                code: 180,
                reason: ""
            })
        );
        assert_eq!(
            StartLine::parse("SIP/2.0 4294967301 better not break the receiver"),
            Err(ParseError::BadStatusCode)
        );
        assert_eq!(StartLine::parse("SIP/2.0 20x OK"), Err(ParseError::BadStatusCode));
    }
}
