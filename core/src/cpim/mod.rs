//! CPIM, the Common Presence and Instant Messaging message format (RFC 3862, `message/cpim`).
//!
//! A `message/cpim` entity has up to four parts, each header block ended by an empty line:
//!
//! ```text
//! [outer MIME headers]  Content-Type: message/cpim         (optional: SIP and MSRP carry it themselves)
//! CPIM headers          From, To, cc, DateTime, Subject, NS, Require, prefix.Name ...
//! MIME headers          Content-Type, Content-ID, ... of the encapsulated content
//! content               bytes, never interpreted here
//! ```
//!
//! [`Message::parse`] indexes the four parts in one pass, zero-copy, into fixed-capacity header slots.
//! The outer block is recognised when the input starts with an empty line or with a
//! `Content-Type: message/cpim` header; otherwise the input starts with the CPIM headers.
//!
//! Leniency, because published examples need it: RFC 5438's examples run the CPIM headers straight into
//! the MIME headers without the empty line. A header named `Content-*` inside the CPIM block is taken as
//! the start of the MIME block and [`Message::missing_separator`] reports it. Bodies are everything after
//! the MIME block: a `Content-Length` header is kept but not trusted (RFC 5438 prints `...` there).
//!
//! Header names carry an optional namespace prefix (`imdn.Message-ID`). [`Message::namespace_of`] resolves
//! a prefix through the `NS` declarations that precede the header, the unprefixed names belong to
//! [`CPIM_NS`]. [`Message::get`] looks headers up by (namespace URI, name), so a prefix chosen by the
//! sender (`imdn`, `MyFeatures`) never matters to the reader. Values are raw; decode CPIM backslash
//! escapes with [`unescape`] when needed.

mod builder;
mod escape;

use crate::ascii_trim::starts_with_ignore_case;
use crate::ascii_trim::TrimAsciiWs;
pub use builder::{BuildError, Builder};
pub use escape::{needs_unescape, push_escaped, unescape, UnescapeError};

use core::fmt;

/// Outer MIME headers kept per message (usually one: `Content-Type`).
pub const MAX_OUTER_HEADERS: usize = 4;
/// CPIM headers kept per message. RFC 5438 messages use about 8 (From, To, NS, Message-ID, DateTime,
/// Disposition-Notification, two route headers); 24 leaves room for cc lists and extensions while
/// costing under 1 KiB of slots on a 32-bit device.
pub const MAX_CPIM_HEADERS: usize = 24;
/// MIME headers of the encapsulated content kept per message.
pub const MAX_CONTENT_HEADERS: usize = 8;

/// The namespace of the unprefixed CPIM headers (RFC 3862 §3.2).
pub const CPIM_NS: &str = "urn:ietf:params:cpim-headers:";
/// The namespace RFC 5438 registers for IMDN's CPIM headers.
pub const IMDN_NS: &str = "urn:ietf:params:imdn";

/// One header line: name, CPIM parameters (`;lang=fr`) and raw value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header<'a> {
    /// The name as written, with its prefix (`imdn.Message-ID`).
    pub name: &'a str,
    /// Parameters between the colon and the value, with their leading `;` (`;lang=fr`), or "".
    pub params: &'a str,
    /// The value, trimmed, escapes not decoded. A folded MIME value keeps its inner line breaks.
    pub value: &'a str,
}

impl<'a> Header<'a> {
    /// The namespace prefix (`imdn` in `imdn.Message-ID`), if any.
    pub fn prefix(&self) -> Option<&'a str> {
        crate::substring::rsplit_once_ascii(self.name, b'.').map(|(p, _)| p)
    }

    /// The name without its prefix.
    pub fn local_name(&self) -> &'a str {
        crate::substring::rsplit_once_ascii(self.name, b'.').map_or(self.name, |(_, n)| n)
    }

    /// The value of a `;name=value` parameter.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .split(';')
            .filter_map(|p| p.split_once('='))
            .find(|(n, _)| n.trim_ws() == name)
            .map(|(_, v)| v.trim_ws())
    }

    /// The `;lang=` parameter (RFC 3862 §3.3.7 Subject).
    pub fn lang(&self) -> Option<&'a str> {
        self.param("lang")
    }
}

/// A `[Formal-name] <URI>` value (From, To, cc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NameAddr<'a> {
    /// The display name, raw (quotes and escapes kept), if present.
    pub display_name: Option<&'a str>,
    /// The URI between the angle brackets (or the whole value when there are none).
    pub uri: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Splits a From/To/cc value.
    pub fn parse(value: &'a str) -> NameAddr<'a> {
        let value = value.trim_ws();
        if let (Some(open), true) = (
            crate::substring::memrchr(b'<', value.as_bytes()),
            value.ends_with('>'),
        ) {
            let display = value.get(..open).unwrap_or("").trim_ws();
            let uri = value.get(open + 1..value.len() - 1).unwrap_or("").trim_ws();
            NameAddr {
                display_name: (!display.is_empty()).then_some(display),
                uri,
            }
        } else {
            NameAddr {
                display_name: None,
                uri: value,
            }
        }
    }
}

/// An `NS` declaration: `[prefix] <uri>`; no prefix declares the default namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NsDecl<'a> {
    /// The prefix, or `None` for a default-namespace declaration.
    pub prefix: Option<&'a str>,
    /// The namespace URI.
    pub uri: &'a str,
}

impl<'a> NsDecl<'a> {
    /// Parses an `NS` header value.
    pub fn parse(value: &'a str) -> NsDecl<'a> {
        let addr = NameAddr::parse(value);
        NsDecl {
            prefix: addr.display_name,
            uri: addr.uri,
        }
    }
}

/// Which part of the message an error points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Part {
    /// The outer MIME headers.
    Outer,
    /// The CPIM headers.
    Cpim,
    /// The MIME headers of the encapsulated content.
    Content,
}

/// Why a `message/cpim` entity could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseError {
    /// A header line has no colon or an empty or invalid name.
    MalformedHeader {
        /// Byte offset of the line.
        offset: usize,
    },
    /// A header line is not UTF-8.
    NotUtf8 {
        /// Byte offset of the line.
        offset: usize,
    },
    /// A header block has more headers than its capacity.
    TooManyHeaders {
        /// The block that overflowed.
        part: Part,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::MalformedHeader { offset } => {
                write!(f, "CPIM: header line at byte {offset} is not `Name: value`")
            }
            ParseError::NotUtf8 { offset } => write!(f, "CPIM: header line at byte {offset} is not UTF-8"),
            ParseError::TooManyHeaders { part } => {
                let (block, cap) = match part {
                    Part::Outer => ("outer MIME", MAX_OUTER_HEADERS),
                    Part::Cpim => ("CPIM", MAX_CPIM_HEADERS),
                    Part::Content => ("content MIME", MAX_CONTENT_HEADERS),
                };
                write!(
                    f,
                    "CPIM: more than {cap} {block} headers; raise the capacity or reject the message"
                )
            }
        }
    }
}

/// A parsed `message/cpim` entity: views into the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    outer: heapless::Vec<Header<'a>, MAX_OUTER_HEADERS>,
    cpim: heapless::Vec<Header<'a>, MAX_CPIM_HEADERS>,
    content: heapless::Vec<Header<'a>, MAX_CONTENT_HEADERS>,
    body: &'a [u8],
    body_offset: usize,
    missing_separator: bool,
}

/// One line of a header block, located in the input.
struct Line<'a> {
    text: &'a str,
    /// Offset just past the line's terminator (and any folded continuation lines).
    next: usize,
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
                | b'{'
                | b'}'
        )
}

/// Reads the logical header line at `start`, joining folded continuation lines (leading SP/HT).
/// Returns `None` at the end of input.
fn read_line(input: &[u8], start: usize) -> Result<Option<Line<'_>>, ParseError> {
    let rest = match input.get(start..) {
        Some(r) if !r.is_empty() => r,
        _ => return Ok(None),
    };
    let mut end = 0;
    let next;
    loop {
        match crate::substring::memchr(b'\n', rest.get(end..).unwrap_or(&[])) {
            Some(nl) => {
                let line_end = end + nl;
                let after = line_end + 1;
                let first_line_empty = end == 0 && matches!(rest.get(..line_end), Some(b"") | Some(b"\r"));
                if !first_line_empty && matches!(rest.get(after), Some(b' ') | Some(b'\t')) {
                    end = after;
                    continue;
                }
                end = if line_end > 0 && rest.get(line_end - 1) == Some(&b'\r') {
                    line_end - 1
                } else {
                    line_end
                };
                next = start + after;
                break;
            }
            None => {
                end = rest.len();
                next = input.len();
                break;
            }
        }
    }
    let bytes = rest.get(..end).unwrap_or(&[]);
    let text = core::str::from_utf8(bytes).map_err(|_| ParseError::NotUtf8 { offset: start })?;
    Ok(Some(Line { text, next }))
}

fn split_header(text: &str, offset: usize) -> Result<Header<'_>, ParseError> {
    let (name, rest) = text
        .split_once(':')
        .ok_or(ParseError::MalformedHeader { offset })?;
    if name.is_empty() || !name.bytes().all(|b| is_name_char(b) || b == b'.') {
        return Err(ParseError::MalformedHeader { offset });
    }
    let (params, value) = if rest.starts_with(';') {
        rest.split_once(' ').unwrap_or((rest, ""))
    } else {
        ("", rest)
    };
    Ok(Header {
        name,
        params,
        value: value.trim_ws(),
    })
}

impl<'a> Message<'a> {
    /// Parses a `message/cpim` entity, with or without its outer MIME headers (see the module docs).
    pub fn parse(input: &'a [u8]) -> Result<Message<'a>, ParseError> {
        let mut msg = Message {
            outer: heapless::Vec::new(),
            cpim: heapless::Vec::new(),
            content: heapless::Vec::new(),
            body: &[],
            body_offset: input.len(),
            missing_separator: false,
        };
        let mut pos = 0;
        let mut part = match read_line(input, 0)? {
            Some(l) if l.text.is_empty() => {
                pos = l.next;
                Part::Cpim
            }
            Some(l) => {
                let h = split_header(l.text, 0)?;
                let is_outer = h.name.eq_ignore_ascii_case("Content-Type")
                    && starts_with_ignore_case(h.value, "message/cpim");
                if is_outer {
                    Part::Outer
                } else {
                    Part::Cpim
                }
            }
            None => return Ok(msg),
        };
        while let Some(line) = read_line(input, pos)? {
            let line_start = pos;
            pos = line.next;
            if line.text.is_empty() {
                match part {
                    Part::Outer => part = Part::Cpim,
                    Part::Cpim => part = Part::Content,
                    Part::Content => {
                        msg.body = input.get(pos..).unwrap_or(&[]);
                        msg.body_offset = pos;
                        return Ok(msg);
                    }
                }
                continue;
            }
            let header = split_header(line.text, line_start)?;
            if part == Part::Cpim && header.name.len() > 8 && starts_with_ignore_case(header.name, "Content-")
            {
                part = Part::Content;
                msg.missing_separator = true;
            }
            let pushed = match part {
                Part::Outer => msg.outer.push(header).is_ok(),
                Part::Cpim => msg.cpim.push(header).is_ok(),
                Part::Content => msg.content.push(header).is_ok(),
            };
            if !pushed {
                return Err(ParseError::TooManyHeaders { part });
            }
        }
        Ok(msg)
    }

    /// The outer MIME headers (empty when the input started at the CPIM headers).
    pub fn outer_headers(&self) -> &[Header<'a>] {
        &self.outer
    }

    /// The CPIM headers in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.cpim
    }

    /// The MIME headers of the encapsulated content.
    pub fn content_headers(&self) -> &[Header<'a>] {
        &self.content
    }

    /// The encapsulated content.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Byte offset of the body in the input.
    pub fn body_offset(&self) -> usize {
        self.body_offset
    }

    /// True when the CPIM headers ran into the MIME headers without the empty line RFC 3862 requires.
    pub fn missing_separator(&self) -> bool {
        self.missing_separator
    }

    /// The namespace URI of the header at `index` in [`headers`](Self::headers): its prefix resolved through
    /// the `NS` declarations before it (the latest wins), [`CPIM_NS`] for an unprefixed name without a
    /// default declaration, `None` for a prefix never declared.
    pub fn namespace_of(&self, index: usize) -> Option<&'a str> {
        let header = self.cpim.get(index)?;
        let prefix = header.prefix();
        let declared = self
            .cpim
            .get(..index)
            .unwrap_or(&[])
            .iter()
            .rev()
            .filter(|h| h.name == "NS")
            .map(|h| NsDecl::parse(h.value))
            .find(|d| d.prefix == prefix)
            .map(|d| d.uri);
        match (prefix, declared) {
            (_, Some(uri)) => Some(uri),
            (None, None) => Some(CPIM_NS),
            (Some(_), None) => None,
        }
    }

    /// Every header whose namespace is `ns` and whose local name is `name` (case-sensitive, RFC 3862
    /// §3.6 says names are used exactly as given).
    pub fn get_all<'s>(&'s self, ns: &'s str, name: &'s str) -> impl Iterator<Item = Header<'a>> + 's {
        self.cpim
            .iter()
            .enumerate()
            .filter(move |(i, h)| h.local_name() == name && self.namespace_of(*i) == Some(ns))
            .map(|(_, h)| *h)
    }

    /// The first header with namespace `ns` and local name `name`.
    pub fn get(&self, ns: &str, name: &str) -> Option<Header<'a>> {
        (0..self.cpim.len()).find_map(|i| {
            let h = self.cpim.get(i)?;
            (h.local_name() == name && self.namespace_of(i) == Some(ns)).then_some(*h)
        })
    }

    /// The value of the first header with namespace `ns` and local name `name`.
    // One out-of-line copy for the many callers that want only the value (smaller device code).
    #[inline(never)]
    pub fn value(&self, ns: &str, name: &str) -> Option<&'a str> {
        self.get(ns, name).map(|h| h.value)
    }

    fn cpim_value(&self, name: &str) -> Option<&'a str> {
        self.value(CPIM_NS, name)
    }

    /// `From` (RFC 3862 §3.3.1).
    pub fn from(&self) -> Option<NameAddr<'a>> {
        self.cpim_value("From").map(NameAddr::parse)
    }

    /// Every `To` (§3.3.2).
    pub fn to(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.get_all(CPIM_NS, "To").map(|h| NameAddr::parse(h.value))
    }

    /// Every `cc` (§3.3.3).
    pub fn cc(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.get_all(CPIM_NS, "cc").map(|h| NameAddr::parse(h.value))
    }

    /// `DateTime` (§3.3.4), as written (RFC 3339).
    pub fn date_time(&self) -> Option<&'a str> {
        self.cpim_value("DateTime")
    }

    /// Every `Subject` (§3.3.5) as (language, raw text).
    pub fn subjects(&self) -> impl Iterator<Item = (Option<&'a str>, &'a str)> + '_ {
        self.get_all(CPIM_NS, "Subject").map(|h| (h.lang(), h.value))
    }

    /// Every `NS` declaration (§3.3.6) in order.
    pub fn ns_declarations(&self) -> impl Iterator<Item = NsDecl<'a>> + '_ {
        self.get_all(CPIM_NS, "NS").map(|h| NsDecl::parse(h.value))
    }

    /// Every header name listed by `Require` headers (§3.3.7).
    pub fn required(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.get_all(CPIM_NS, "Require")
            .flat_map(|h| h.value.split(',').map(str::trim_ws).filter(|s| !s.is_empty()))
    }

    /// A MIME header of the encapsulated content, by case-insensitive name.
    pub fn content_header(&self, name: &str) -> Option<&'a str> {
        self.content
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The content's `Content-Type`.
    pub fn content_type(&self) -> Option<&'a str> {
        self.content_header("Content-Type")
    }

    /// Whether the content's disposition type is `notification` (RFC 5438 section 7.2.1: an IMDN, or an
    /// aggregation of IMDNs, never itself notified).
    pub fn is_notification(&self) -> bool {
        self.content_header("Content-Disposition").is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|d| d.trim_ws().eq_ignore_ascii_case("notification"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_mime_header_is_one_value() {
        let m =
            Message::parse(b"From: <im:a@b>\r\n\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n\r\nhi")
                .unwrap();
        assert_eq!(m.content_type(), Some("text/plain;\r\n charset=utf-8"));
        assert_eq!(m.body(), b"hi");
    }

    #[test]
    fn undeclared_prefix_has_no_namespace() {
        let m = Message::parse(b"x.Foo: 1\r\n\r\n\r\n").unwrap();
        assert_eq!(m.namespace_of(0), None);
        assert_eq!(m.get(CPIM_NS, "Foo"), None);
    }

    #[test]
    fn header_without_colon_is_malformed_at_its_offset() {
        assert_eq!(
            Message::parse(b"From: <im:a@b>\r\nbroken\r\n"),
            Err(ParseError::MalformedHeader { offset: 16 })
        );
    }

    #[test]
    fn too_many_headers_is_typed() {
        let mut buf = [0u8; 1024];
        let mut n = 0;
        for _ in 0..=MAX_CPIM_HEADERS {
            buf[n..n + 9].copy_from_slice(b"To: <x>\r\n");
            n += 9;
        }
        assert_eq!(
            Message::parse(&buf[..n]),
            Err(ParseError::TooManyHeaders { part: Part::Cpim })
        );
    }
}
