//! The header block of an MSRP request or response: start line and header fields.
//!
//! [`Head::parse`] indexes a block (start line and header lines, each ending in CRLF) into at most
//! [`MAX_HEADERS`] name/value pairs without copying. Typed values are parsed on demand by the accessors,
//! so unknown or malformed headers cost nothing until someone reads them.

use crate::ascii_trim::TrimAsciiWs;
use core::fmt;

use super::{is_valid_transaction_id, MAX_TRANSACTION_ID_LEN};
use crate::msrp::uri::Path;

/// Header fields kept per message. MSRP requests carry about eight (To-Path, From-Path, Message-ID,
/// Byte-Range, Success-Report, Failure-Report, Content-Type and a MIME header or two); 16 leaves room
/// for extensions while costing 256 bytes of stack on a 32-bit device.
pub const MAX_HEADERS: usize = 16;

/// Why a header block cannot be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeadError {
    /// The header block is not UTF-8.
    NotUtf8,
    /// The first line is not `MSRP <transaction-id> <method or status>`.
    BadStartLine,
    /// The transaction-id is empty, longer than 32 characters or holds a character outside ident-char.
    BadTransactionId,
    /// A header line has no `:`.
    BadHeaderLine,
    /// More than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// A header value does not follow its grammar (which header is told by the accessor that failed).
    BadHeaderValue,
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeadError::NotUtf8 => "MSRP header block is not valid UTF-8",
            HeadError::BadStartLine => {
                "first line is not 'MSRP <transaction-id> <METHOD>' or 'MSRP <transaction-id> <code>'"
            }
            HeadError::BadTransactionId => {
                "transaction-id must be 1 to 32 characters of A-Z a-z 0-9 . - + % ="
            }
            HeadError::BadHeaderLine => "an MSRP header line has no ':' between name and value",
            HeadError::TooManyHeaders => "more MSRP header fields than MAX_HEADERS (16)",
            HeadError::BadHeaderValue => "an MSRP header value does not follow RFC 4975 syntax",
        })
    }
}

/// A request method. Unknown methods are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Method<'a> {
    /// SEND (RFC 4975).
    Send,
    /// REPORT (RFC 4975).
    Report,
    /// NICKNAME (RFC 7701).
    Nickname,
    /// AUTH (RFC 4976), or any other method, verbatim.
    Other(&'a str),
}

impl<'a> Method<'a> {
    /// The method for its name (case-sensitive, as the grammar is).
    pub fn from_name(name: &'a str) -> Self {
        match name {
            "SEND" => Method::Send,
            "REPORT" => Method::Report,
            "NICKNAME" => Method::Nickname,
            other => Method::Other(other),
        }
    }
    /// The method's name on the wire.
    pub fn as_str(&self) -> &'a str {
        match self {
            Method::Send => "SEND",
            Method::Report => "REPORT",
            Method::Nickname => "NICKNAME",
            Method::Other(name) => name,
        }
    }
}

/// What the start line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StartLine<'a> {
    /// A request.
    Request {
        /// The method.
        method: Method<'a>,
    },
    /// A response.
    Response {
        /// The three-digit status code (any value 100..=999 is kept).
        code: u16,
        /// The comment after the code, if any.
        comment: Option<&'a str>,
    },
}

/// One header field, name and value trimmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header<'a> {
    /// The name as received.
    pub name: &'a str,
    /// The value without surrounding whitespace.
    pub value: &'a str,
}

/// `Byte-Range: start-end/total`, 1-based and inclusive; `*` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ByteRange {
    /// The position of the chunk's first byte in the message, counting from 1.
    pub start: u64,
    /// The position of the chunk's last byte, or `None` for `*` (not known when the chunk started).
    pub end: Option<u64>,
    /// The message length, or `None` for `*`.
    pub total: Option<u64>,
}

impl ByteRange {
    /// Parses `start-end/total`.
    pub fn parse(value: &str) -> Result<Self, HeadError> {
        let (start, rest) = value.trim_ws().split_once('-').ok_or(HeadError::BadHeaderValue)?;
        let (end, total) = rest.split_once('/').ok_or(HeadError::BadHeaderValue)?;
        let start = parse_decimal(start)?;
        let end = parse_star_or_decimal(end)?;
        let total = parse_star_or_decimal(total)?;
        Ok(ByteRange { start, end, total })
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-", self.start)?;
        match self.end {
            Some(end) => write!(f, "{}/", end)?,
            None => f.write_str("*/")?,
        }
        match self.total {
            Some(total) => write!(f, "{}", total),
            None => f.write_str("*"),
        }
    }
}

fn parse_decimal(s: &str) -> Result<u64, HeadError> {
    let s = s.trim_ws();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::BadHeaderValue);
    }
    s.parse().map_err(|_| HeadError::BadHeaderValue)
}

fn parse_star_or_decimal(s: &str) -> Result<Option<u64>, HeadError> {
    if s.trim_ws() == "*" {
        Ok(None)
    } else {
        parse_decimal(s).map(Some)
    }
}

/// A Success-Report or Failure-Report value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReportRequest {
    /// `yes`.
    Yes,
    /// `no`.
    No,
    /// `partial` (Failure-Report only): report errors, but no positive acknowledgement.
    Partial,
}

impl ReportRequest {
    /// Parses `yes`, `no` or `partial` (case-insensitively).
    pub fn parse(value: &str) -> Result<Self, HeadError> {
        let v = value.trim_ws();
        if v.eq_ignore_ascii_case("yes") {
            Ok(ReportRequest::Yes)
        } else if v.eq_ignore_ascii_case("no") {
            Ok(ReportRequest::No)
        } else if v.eq_ignore_ascii_case("partial") {
            Ok(ReportRequest::Partial)
        } else {
            Err(HeadError::BadHeaderValue)
        }
    }
    /// The value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportRequest::Yes => "yes",
            ReportRequest::No => "no",
            ReportRequest::Partial => "partial",
        }
    }
}

/// `Status: namespace code [comment]` of a REPORT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Status<'a> {
    /// The namespace; `000` means the code reads like a transaction response code.
    pub namespace: u16,
    /// The status code.
    pub code: u16,
    /// The comment, if any.
    pub comment: Option<&'a str>,
}

impl<'a> Status<'a> {
    /// Parses `NNN NNN [comment]`.
    pub fn parse(value: &'a str) -> Result<Self, HeadError> {
        let v = value.trim_ws();
        let (namespace, rest) = v.split_once(' ').ok_or(HeadError::BadHeaderValue)?;
        let (code, comment) = match rest.split_once(' ') {
            Some((c, comment)) => (c, Some(comment.trim_ws()).filter(|c| !c.is_empty())),
            None => (rest, None),
        };
        Ok(Status {
            namespace: parse_three_digits(namespace)?,
            code: parse_three_digits(code)?,
            comment,
        })
    }
}

fn parse_three_digits(s: &str) -> Result<u16, HeadError> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::BadHeaderValue);
    }
    s.parse().map_err(|_| HeadError::BadHeaderValue)
}

/// The start line and header fields of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head<'a> {
    /// The transaction-id of the start line.
    pub transaction_id: &'a str,
    /// Request or response.
    pub start: StartLine<'a>,
    /// The header fields in order.
    pub headers: heapless::Vec<Header<'a>, MAX_HEADERS>,
}

impl<'a> Head<'a> {
    /// Parses a header block: the start line and header lines, each ending in CRLF (the final CRLF may
    /// be missing). Bare LF line ends are accepted.
    pub fn parse(block: &'a [u8]) -> Result<Self, HeadError> {
        let text = core::str::from_utf8(block).map_err(|_| HeadError::NotUtf8)?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let start_line = lines.next().ok_or(HeadError::BadStartLine)?;
        let (transaction_id, start) = parse_start_line(start_line)?;
        let mut headers = heapless::Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').ok_or(HeadError::BadHeaderLine)?;
            let name = name.trim_ws();
            if name.is_empty() {
                return Err(HeadError::BadHeaderLine);
            }
            headers
                .push(Header {
                    name,
                    value: value.trim_ws(),
                })
                .map_err(|_| HeadError::TooManyHeaders)?;
        }
        Ok(Head {
            transaction_id,
            start,
            headers,
        })
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
    /// The method, for a request.
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method } => Some(method),
            StartLine::Response { .. } => None,
        }
    }
    /// The status code, for a response.
    pub fn status_code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }
    /// To-Path.
    pub fn to_path(&self) -> Option<Path<'a>> {
        self.get("To-Path").map(Path)
    }
    /// From-Path.
    pub fn from_path(&self) -> Option<Path<'a>> {
        self.get("From-Path").map(Path)
    }
    /// Message-ID.
    pub fn message_id(&self) -> Option<&'a str> {
        self.get("Message-ID")
    }
    /// Content-Type.
    pub fn content_type(&self) -> Option<&'a str> {
        self.get("Content-Type")
    }
    /// Use-Nickname (RFC 7701).
    pub fn use_nickname(&self) -> Option<&'a str> {
        self.get("Use-Nickname")
    }
    /// Byte-Range, if present.
    pub fn byte_range(&self) -> Result<Option<ByteRange>, HeadError> {
        self.get("Byte-Range").map(ByteRange::parse).transpose()
    }
    /// Success-Report, if present (absent means `no`).
    pub fn success_report(&self) -> Result<Option<ReportRequest>, HeadError> {
        self.get("Success-Report").map(ReportRequest::parse).transpose()
    }
    /// Failure-Report, if present (absent means `yes`).
    pub fn failure_report(&self) -> Result<Option<ReportRequest>, HeadError> {
        self.get("Failure-Report").map(ReportRequest::parse).transpose()
    }
    /// Status (REPORT requests).
    pub fn status(&self) -> Result<Option<Status<'a>>, HeadError> {
        self.get("Status").map(Status::parse).transpose()
    }
}

fn parse_start_line(line: &str) -> Result<(&str, StartLine<'_>), HeadError> {
    let rest = line.strip_prefix("MSRP ").ok_or(HeadError::BadStartLine)?;
    let (tid, rest) = rest.split_once(' ').ok_or(HeadError::BadStartLine)?;
    if !is_valid_transaction_id(tid) || tid.len() > MAX_TRANSACTION_ID_LEN {
        return Err(HeadError::BadTransactionId);
    }
    let (word, comment) = match rest.split_once(' ') {
        Some((w, c)) => (w, Some(c.trim_ws()).filter(|c| !c.is_empty())),
        None => (rest.trim_ws_end(), None),
    };
    if word.len() == 3 && word.bytes().all(|b| b.is_ascii_digit()) {
        let code = word.parse().map_err(|_| HeadError::BadStartLine)?;
        return Ok((tid, StartLine::Response { code, comment }));
    }
    if word.is_empty() || comment.is_some() || !word.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(HeadError::BadStartLine);
    }
    Ok((
        tid,
        StartLine::Request {
            method: Method::from_name(word),
        },
    ))
}
