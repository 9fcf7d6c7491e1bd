//! SDP (RFC 8866) as MSRP uses it (RFC 4975 §8, RFC 6135 connection setup, RFC 5547 file transfer).
//!
//! - [`Session::parse`] indexes a session description in one pass: every `<type>=<value>` line is kept
//!   in order (unknown line types and attributes included), zero-copy, in [`MAX_LINES`] slots. Lines end
//!   in CRLF or bare LF. [`Session::media`] gives [`Media`] views (an `m=` line and the lines after it),
//!   whose typed accessors parse attribute values on demand ([`attrs`]).
//! - [`builder`] writes offers and answers into a caller buffer.
//! - [`offer_answer`] computes an answer from an offer and local capabilities, and checks a received
//!   answer against its offer.
//!
//! Strictness: the first line must be `v=0`; every line must be a lowercase letter, `=`, a value. A line
//! starting with whitespace is malformed (RFC 5547 prints folded `a=file-selector` lines "for formatting
//! purposes"; the vectors keep them and the tests expect this error).

pub mod attrs;
pub mod builder;
pub mod offer_answer;

use crate::ascii_trim::TrimAsciiWs;
pub use attrs::{media_type_matches, Direction, FileDate, FileRange, FileSelector, Hash, Setup};
pub use builder::{BuildError, FileTransfer, MsrpMediaDesc, SessionDesc};
pub use offer_answer::{
    check_answer, negotiate, Agreement, AnswerError, LocalCaps, NegotiateError, Negotiated, Role,
};

use core::fmt;

/// Lines kept per session description. An MSRP session with file transfer uses about 20 (RFC 5547
/// Figure 2 has 19); 64 leaves room for a second media stream and unknown attributes at 8 bytes+ a slot.
pub const MAX_LINES: usize = 64;

/// One `<type>=<value>` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Line<'a> {
    /// The type letter (`v`, `o`, `m`, `a`, ...).
    pub kind: u8,
    /// Everything after the `=`.
    pub value: &'a str,
}

impl<'a> Line<'a> {
    /// For an `a=` line: the attribute name and its value (`None` for a flag like `a=sendonly`).
    pub fn attribute(&self) -> Option<(&'a str, Option<&'a str>)> {
        if self.kind != b'a' {
            return None;
        }
        Some(match self.value.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (self.value, None),
        })
    }
}

/// Why a session description could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseError {
    /// The description is not UTF-8.
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The first line is not `v=0`.
    MissingVersion,
    /// A line is not `<letter>=<value>`.
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// More than [`MAX_LINES`] lines.
    TooManyLines,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotUtf8 { offset } => write!(f, "SDP: invalid UTF-8 at byte {offset}"),
            ParseError::MissingVersion => f.write_str("SDP: the first line must be v=0"),
            ParseError::MalformedLine { line } => {
                write!(
                    f,
                    "SDP: line {line} is not <letter>=<value> (folded lines are not allowed in SDP)"
                )
            }
            ParseError::TooManyLines => write!(f, "SDP: more than {MAX_LINES} lines"),
        }
    }
}

/// The `o=` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Origin<'a> {
    /// User name (`-` when none).
    pub username: &'a str,
    /// Session id.
    pub session_id: &'a str,
    /// Session version (incremented on every change).
    pub session_version: &'a str,
    /// Network type (`IN`).
    pub net_type: &'a str,
    /// Address type (`IP4`, `IP6`).
    pub addr_type: &'a str,
    /// Unicast address or host name.
    pub address: &'a str,
}

impl<'a> Origin<'a> {
    /// Splits an `o=` value into its six fields.
    pub fn parse(value: &'a str) -> Option<Origin<'a>> {
        let mut f = value.split(' ').filter(|s| !s.is_empty());
        let o = Origin {
            username: f.next()?,
            session_id: f.next()?,
            session_version: f.next()?,
            net_type: f.next()?,
            addr_type: f.next()?,
            address: f.next()?,
        };
        f.next().is_none().then_some(o)
    }
}

/// The `c=` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Connection<'a> {
    /// Network type (`IN`).
    pub net_type: &'a str,
    /// Address type (`IP4`, `IP6`).
    pub addr_type: &'a str,
    /// Address or host name.
    pub address: &'a str,
}

impl<'a> Connection<'a> {
    /// Splits a `c=` value.
    pub fn parse(value: &'a str) -> Option<Connection<'a>> {
        let mut f = value.split(' ').filter(|s| !s.is_empty());
        let c = Connection {
            net_type: f.next()?,
            addr_type: f.next()?,
            address: f.next()?,
        };
        f.next().is_none().then_some(c)
    }
}

/// A parsed session description: its lines, in order, borrowed from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session<'a> {
    lines: heapless::Vec<Line<'a>, MAX_LINES>,
}

fn first<'a>(lines: &[Line<'a>], kind: u8) -> Option<&'a str> {
    lines.iter().find(|l| l.kind == kind).map(|l| l.value)
}

fn attribute<'a>(lines: &[Line<'a>], name: &str) -> Option<Option<&'a str>> {
    lines
        .iter()
        .filter_map(Line::attribute)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

impl<'a> Session<'a> {
    /// Parses a session description.
    pub fn parse(input: &'a [u8]) -> Result<Session<'a>, ParseError> {
        let text = core::str::from_utf8(input).map_err(|e| ParseError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let mut lines = heapless::Vec::new();
        let mut rest = text;
        let mut i = 0;
        while !rest.is_empty() {
            let (raw, next) = match rest.find('\n') {
                Some(nl) => (rest.get(..nl).unwrap_or(""), rest.get(nl + 1..).unwrap_or("")),
                None => (rest, ""),
            };
            rest = next;
            let line_no = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                return Err(ParseError::MalformedLine { line: line_no });
            }
            let bytes = line.as_bytes();
            let (Some(&kind), Some(&b'=')) = (bytes.first(), bytes.get(1)) else {
                return Err(ParseError::MalformedLine { line: line_no });
            };
            if !kind.is_ascii_lowercase() {
                return Err(ParseError::MalformedLine { line: line_no });
            }
            let value = line.get(2..).unwrap_or("");
            if i == 0 && (kind != b'v' || value != "0") {
                return Err(ParseError::MissingVersion);
            }
            lines
                .push(Line { kind, value })
                .map_err(|_| ParseError::TooManyLines)?;
            i += 1;
        }
        if lines.is_empty() {
            return Err(ParseError::MissingVersion);
        }
        Ok(Session { lines })
    }

    /// Every line in order.
    pub fn lines(&self) -> &[Line<'a>] {
        &self.lines
    }

    fn session_lines(&self) -> &[Line<'a>] {
        let end = self
            .lines
            .iter()
            .position(|l| l.kind == b'm')
            .unwrap_or(self.lines.len());
        self.lines.get(..end).unwrap_or(&[])
    }

    /// The `o=` line.
    pub fn origin(&self) -> Option<Origin<'a>> {
        first(self.session_lines(), b'o').and_then(Origin::parse)
    }

    /// The `s=` line (may be empty or `-`).
    pub fn name(&self) -> Option<&'a str> {
        first(self.session_lines(), b's')
    }

    /// The session-level `c=` line.
    pub fn connection(&self) -> Option<Connection<'a>> {
        first(self.session_lines(), b'c').and_then(Connection::parse)
    }

    /// The `t=` line as (start, stop).
    pub fn timing(&self) -> Option<(&'a str, &'a str)> {
        first(self.session_lines(), b't').and_then(|t| t.split_once(' '))
    }

    /// A session-level attribute: `Some(None)` for a flag, `Some(Some(v))` with a value.
    pub fn attribute(&self, name: &str) -> Option<Option<&'a str>> {
        attribute(self.session_lines(), name)
    }

    /// The media sections in order.
    pub fn media(&self) -> impl Iterator<Item = Media<'_, 'a>> + '_ {
        let session = self.session_lines();
        let lines: &[Line<'a>] = &self.lines;
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == b'm')
            .map(move |(start, _)| {
                let rest = lines.get(start..).unwrap_or(&[]);
                let len = rest
                    .iter()
                    .skip(1)
                    .position(|l| l.kind == b'm')
                    .map_or(rest.len(), |p| p + 1);
                Media {
                    lines: rest.get(..len).unwrap_or(&[]),
                    session,
                }
            })
    }

    /// The first MSRP media section (`m=message <port> TCP/MSRP` or `TCP/TLS/MSRP`).
    pub fn msrp_media(&self) -> Option<Media<'_, 'a>> {
        self.media().find(Media::is_msrp)
    }
}

/// One media section: its `m=` line and the lines up to the next one, with the session-level lines for
/// attributes that may be inherited (direction, setup).
#[derive(Clone, Copy, Debug)]
pub struct Media<'s, 'a> {
    lines: &'s [Line<'a>],
    session: &'s [Line<'a>],
}

impl<'s, 'a> Media<'s, 'a> {
    fn m_field(&self, n: usize) -> Option<&'a str> {
        self.lines
            .first()?
            .value
            .split(' ')
            .filter(|s| !s.is_empty())
            .nth(n)
    }

    /// The lines of this section, `m=` first.
    pub fn lines(&self) -> &'s [Line<'a>] {
        self.lines
    }

    /// The media type (`message`).
    pub fn media_type(&self) -> Option<&'a str> {
        self.m_field(0)
    }

    /// The port; 0 marks a rejected or disabled stream.
    pub fn port(&self) -> Option<u16> {
        self.m_field(1)?.split('/').next()?.parse().ok()
    }

    /// The transport protocol (`TCP/MSRP`, `TCP/TLS/MSRP`).
    pub fn proto(&self) -> Option<&'a str> {
        self.m_field(2)
    }

    /// The format list (`*` for MSRP), as written.
    pub fn formats(&self) -> impl Iterator<Item = &'a str> + 's {
        let m = self.lines.first().map_or("", |l| l.value);
        m.split(' ').filter(|s| !s.is_empty()).skip(3)
    }

    /// True for `m=message <port> TCP/MSRP` and `TCP/TLS/MSRP`.
    pub fn is_msrp(&self) -> bool {
        self.media_type() == Some("message")
            && matches!(self.proto(), Some("TCP/MSRP") | Some("TCP/TLS/MSRP"))
    }

    /// True for `TCP/TLS/MSRP`.
    pub fn is_tls(&self) -> bool {
        self.proto() == Some("TCP/TLS/MSRP")
    }

    /// A media-level attribute: `Some(None)` for a flag, `Some(Some(v))` with a value.
    pub fn attribute(&self, name: &str) -> Option<Option<&'a str>> {
        attribute(self.lines, name)
    }

    /// Every value of a repeatable media-level attribute.
    pub fn attributes<'n>(&self, name: &'n str) -> impl Iterator<Item = Option<&'a str>> + 'n
    where
        's: 'n,
    {
        self.lines
            .iter()
            .filter_map(Line::attribute)
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    fn value(&self, name: &str) -> Option<&'a str> {
        self.attribute(name).flatten()
    }

    /// The `c=` line of the section, else the session's.
    pub fn connection(&self) -> Option<Connection<'a>> {
        first(self.lines, b'c')
            .or_else(|| first(self.session, b'c'))
            .and_then(Connection::parse)
    }

    /// `i=` (media title).
    pub fn title(&self) -> Option<&'a str> {
        first(self.lines, b'i')
    }

    /// `a=path`: the MSRP URIs, in order (RFC 4975 §8.2; parsed by the MSRP layer).
    pub fn path(&self) -> impl Iterator<Item = &'a str> + 's {
        self.value("path")
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// `a=accept-types` entries.
    pub fn accept_types(&self) -> impl Iterator<Item = &'a str> + 's {
        self.value("accept-types")
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// `a=accept-wrapped-types` entries.
    pub fn accept_wrapped_types(&self) -> impl Iterator<Item = &'a str> + 's {
        self.value("accept-wrapped-types")
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// `a=max-size` in octets (`None` when absent or not a number).
    pub fn max_size(&self) -> Option<u64> {
        self.value("max-size")?.trim_ws().parse().ok()
    }

    /// `a=setup` (RFC 4145), media level then session level.
    pub fn setup(&self) -> Option<Setup> {
        self.value("setup")
            .or_else(|| attribute(self.session, "setup").flatten())
            .map(Setup::parse)
    }

    /// The direction attribute, media level then session level; `None` when neither has one (sendrecv).
    pub fn direction(&self) -> Option<Direction> {
        let find = |lines: &[Line<'a>]| {
            lines
                .iter()
                .filter_map(Line::attribute)
                .find_map(|(n, _)| Direction::parse(n))
        };
        find(self.lines).or_else(|| find(self.session))
    }

    /// `a=file-selector` (RFC 5547 §6); `Some` with all fields `None` for the bare flag.
    pub fn file_selector(&self) -> Option<FileSelector<'a>> {
        self.attribute("file-selector")
            .map(|v| FileSelector::parse(v.unwrap_or("")))
    }

    /// `a=file-transfer-id`.
    pub fn file_transfer_id(&self) -> Option<&'a str> {
        self.value("file-transfer-id")
    }

    /// `a=file-disposition` (`render`, `attachment`, ...).
    pub fn file_disposition(&self) -> Option<&'a str> {
        self.value("file-disposition")
    }

    /// `a=file-date`.
    pub fn file_date(&self) -> Option<FileDate<'a>> {
        self.value("file-date").map(FileDate::parse)
    }

    /// `a=file-icon` (a `cid:` URL).
    pub fn file_icon(&self) -> Option<&'a str> {
        self.value("file-icon")
    }

    /// `a=file-range`.
    pub fn file_range(&self) -> Option<FileRange> {
        self.value("file-range").and_then(FileRange::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_only_and_unknown_lines_are_kept() {
        let s = Session::parse(b"v=0\nz=unknown\nm=message 9 TCP/MSRP *\na=x-foo:bar\na=sendonly\n").unwrap();
        assert_eq!(s.lines().len(), 5);
        let m = s.msrp_media().unwrap();
        assert_eq!(m.attribute("x-foo"), Some(Some("bar")));
        assert_eq!(m.direction(), Some(Direction::SendOnly));
        assert_eq!(m.port(), Some(9));
    }

    #[test]
    fn malformed_lines_are_reported_by_number() {
        assert_eq!(
            Session::parse(b"v=0\r\n\r\ns=x\r\n"),
            Err(ParseError::MalformedLine { line: 2 })
        );
        assert_eq!(
            Session::parse(b"v=0\r\nS=x\r\n"),
            Err(ParseError::MalformedLine { line: 2 })
        );
        assert_eq!(Session::parse(b"s=x\r\n"), Err(ParseError::MissingVersion));
        assert_eq!(Session::parse(b""), Err(ParseError::MissingVersion));
        assert_eq!(Session::parse(b"v=0\xff"), Err(ParseError::NotUtf8 { offset: 3 }));
    }

    #[test]
    fn session_level_direction_and_setup_are_inherited() {
        let s = Session::parse(b"v=0\r\na=recvonly\r\na=setup:passive\r\nm=message 1 TCP/TLS/MSRP *\r\n")
            .unwrap();
        let m = s.msrp_media().unwrap();
        assert!(m.is_tls());
        assert_eq!(m.direction(), Some(Direction::RecvOnly));
        assert_eq!(m.setup(), Some(Setup::Passive));
    }
}
