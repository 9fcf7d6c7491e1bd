//! The zero-copy message view (RFC 3261 §7), in the style of httparse.
//!
//! [`Message::parse_datagram`] and [`Message::parse_stream`] index a message in one pass: the header
//! section is located first (a `memchr` walk to the empty line), validated as UTF-8 once, then split
//! into lines with `memchr`; each line becomes a [`Header`] in the caller's slot array, with no copying
//! and no per-header UTF-8 checks. Nothing is interpreted beyond what framing needs (the start line and
//! Content-Length): typed values are parsed on demand ([`crate::sip::header`]) and RFC conformance is a
//! separate step ([`crate::sip::validate`]).
//!
//! The view is lenient about what it can represent faithfully (unknown methods, headers, schemes and
//! status codes, odd spacing in the start line, folded lines, duplicate headers, a Content-Length that
//! disagrees with the datagram) and strict only where guessing would be unsafe; each leniency beyond
//! RFC 3261 is an explicit [`ParseConfig`] switch.

mod lookup;
mod start_line;

pub use lookup::Values;
pub use start_line::StartLine;

use crate::sip::header::{parse_content_length, Header};
use core::fmt;

/// A default header-slot count: RFC 4475 longreq, the largest torture message, has 47 header lines;
/// a slot is two `&str` (16 bytes on a 32-bit device), so 64 slots cost 1 KiB of stack there.
pub const DEFAULT_MAX_HEADERS: usize = 64;

/// Explicit leniencies of the parser. [`ParseConfig::default`] follows RFC 3261 exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParseConfig {
    /// Accept lines ending in a bare LF (not allowed by RFC 3261, sent by some hand-written tools).
    pub allow_bare_lf: bool,
    /// On a datagram without Content-Length, take the rest of the datagram as the body (RFC 3261
    /// §18.3 permits this for UDP). When false, a missing Content-Length is an error even on datagrams.
    pub datagram_body_to_end: bool,
    /// On a datagram whose header section is not closed by an empty line, end the headers at the end
    /// of the datagram (with an empty body). RFC 4475's archive copy of baddn lacks its empty line.
    pub allow_missing_blank_line: bool,
}

impl Default for ParseConfig {
    fn default() -> Self {
        ParseConfig {
            allow_bare_lf: false,
            datagram_body_to_end: true,
            allow_missing_blank_line: false,
        }
    }
}

/// Why bytes could not be indexed as a SIP message. Offsets are from the start of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseError {
    /// The header section has no terminating empty line, or (streams) the body is shorter than its
    /// Content-Length: more bytes are needed.
    Incomplete,
    /// More header lines than slots; pass a bigger slot array.
    TooManyHeaders {
        /// Number of slots that were available.
        capacity: usize,
    },
    /// The header section is not valid UTF-8 at this offset.
    NonUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// A line ends in LF without CR (see [`ParseConfig::allow_bare_lf`]).
    BareLineFeed {
        /// Byte offset of the LF.
        offset: usize,
    },
    /// The start line is neither `Method SP Request-URI SP SIP-Version` nor `SIP-Version SP Code ...`.
    MalformedStartLine,
    /// The status code is not three digits.
    BadStatusCode,
    /// A header line has no colon.
    HeaderWithoutColon {
        /// Byte offset of the line.
        offset: usize,
    },
    /// A header name is empty or contains non-token characters.
    BadHeaderName {
        /// Byte offset of the line.
        offset: usize,
    },
    /// The first header line starts with whitespace (a continuation with nothing to continue).
    OrphanContinuation {
        /// Byte offset of the line.
        offset: usize,
    },
    /// No Content-Length, which streams require (RFC 3261 §18.3).
    MissingContentLength,
    /// Content-Length is not a number, so the body cannot be delimited on a stream.
    BadContentLength,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Incomplete => f.write_str("message is incomplete (no empty line after the headers, or body shorter than Content-Length)"),
            ParseError::TooManyHeaders { capacity } => write!(f, "more than {capacity} header lines"),
            ParseError::NonUtf8 { offset } => write!(f, "byte {offset}: header section is not valid UTF-8"),
            ParseError::BareLineFeed { offset } => write!(f, "byte {offset}: line ends in LF without CR"),
            ParseError::MalformedStartLine => f.write_str("line 1: malformed start line"),
            ParseError::BadStatusCode => f.write_str("line 1: status code is not three digits"),
            ParseError::HeaderWithoutColon { offset } => write!(f, "byte {offset}: header line has no ':'"),
            ParseError::BadHeaderName { offset } => write!(f, "byte {offset}: header name is empty or not a token"),
            ParseError::OrphanContinuation { offset } => {
                write!(f, "byte {offset}: first header line starts with whitespace")
            }
            ParseError::MissingContentLength => f.write_str("Content-Length is required on stream transports"),
            ParseError::BadContentLength => f.write_str("Content-Length is not a valid number"),
        }
    }
}

/// A parsed message: start line, headers (in the caller's slots) and body, all borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct Message<'h, 'a> {
    raw: &'a [u8],
    start_line: StartLine<'a>,
    start_line_text: &'a str,
    headers: &'h [Header<'a>],
    body: &'a [u8],
    wire_len: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Datagram,
    Stream,
}

impl<'h, 'a> Message<'h, 'a> {
    /// Parses a whole datagram. Bytes after the body (a Content-Length smaller than the datagram) are
    /// ignored, as RFC 3261 §18.3 requires; a Content-Length larger than the datagram leaves the body
    /// truncated for [`crate::sip::validate`] to report.
    pub fn parse_datagram(
        buf: &'a [u8],
        slots: &'h mut [Header<'a>],
        config: &ParseConfig,
    ) -> Result<Self, ParseError> {
        parse(buf, slots, config, Transport::Datagram)
    }

    /// Parses one message from the start of a stream buffer (frame it first with
    /// [`crate::sip::framer::frame`]). Content-Length is mandatory; bytes after the body are left alone
    /// ([`Message::wire_len`] says how many were used).
    pub fn parse_stream(
        buf: &'a [u8],
        slots: &'h mut [Header<'a>],
        config: &ParseConfig,
    ) -> Result<Self, ParseError> {
        parse(buf, slots, config, Transport::Stream)
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start_line
    }

    /// The start line's text, without the line ending.
    pub fn start_line_text(&self) -> &'a str {
        self.start_line_text
    }

    /// The header lines in order.
    pub fn headers(&self) -> &'h [Header<'a>] {
        self.headers
    }

    /// The body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Bytes of the input the message occupies, including leading CRLFs it skipped.
    pub fn wire_len(&self) -> usize {
        self.wire_len
    }

    /// The input the message was parsed from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Byte offset in the input of `part`, a slice of this message (a header name or value, the URI...).
    pub fn offset_of(&self, part: &str) -> Option<usize> {
        let base = self.raw.as_ptr() as usize;
        let at = (part.as_ptr() as usize).checked_sub(base)?;
        (at.checked_add(part.len())? <= self.raw.len()).then_some(at)
    }

    /// 1-based line number of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        let upto = self.raw.get(..offset).unwrap_or(self.raw);
        crate::substring::memchr_iter(b'\n', upto).count() + 1
    }
}

fn parse<'h, 'a>(
    buf: &'a [u8],
    slots: &'h mut [Header<'a>],
    config: &ParseConfig,
    transport: Transport,
) -> Result<Message<'h, 'a>, ParseError> {
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or(&[]);
    let (body_start, start_line, start_line_text, count) = match index_in_one_pass(rest, start, slots, config)
    {
        Some(found) => found,
        None => index_in_two_passes(rest, start, slots, config, transport)?,
    };
    let body_start = start + body_start;
    let (filled, _) = slots.split_at_mut(count);
    let headers: &'h [Header<'a>] = filled;

    let available = buf.get(body_start..).unwrap_or(&[]);
    let content_length = headers
        .iter()
        .find(|h| is_content_length(h.name))
        .map(|h| parse_content_length(h.value));
    let body = match (content_length, transport) {
        (Some(Ok(n)), Transport::Datagram) => available.get(..n as usize).unwrap_or(available),
        (Some(Ok(n)), Transport::Stream) => available.get(..n as usize).ok_or(ParseError::Incomplete)?,
        (Some(Err(_)), Transport::Datagram) => available,
        (Some(Err(_)), Transport::Stream) => return Err(ParseError::BadContentLength),
        (None, Transport::Datagram) if config.datagram_body_to_end => available,
        (None, _) => return Err(ParseError::MissingContentLength),
    };
    Ok(Message {
        raw: buf,
        start_line,
        start_line_text,
        headers,
        body,
        wire_len: body_start + body.len(),
    })
}

/// How many bytes from the start line the one-pass path validates and scans: heads up to about this
/// size (nearly all: typical ones are 300-900 bytes) take it.
const ONE_PASS_WINDOW: usize = 2048;

/// What indexing the head yields: where the body starts (relative to the start line), the start line,
/// its text, and how many header slots were filled.
type Indexed<'a> = (usize, StartLine<'a>, &'a str, usize);

/// The fast path for the common case, a well-formed message with CRLF line ends: validates UTF-8 once
/// over everything after the start line's offset and indexes the lines in the same pass that finds the
/// empty line, instead of one pass to find the end of the head and a second to index it. Returns `None`
/// whenever anything is unusual (a leniency is configured, a line is malformed, the head is not valid
/// UTF-8 or not complete); the caller then runs [`index_in_two_passes`], which reports exactly what the
/// problem is, so both paths give the same results and errors.
fn index_in_one_pass<'a>(
    rest: &'a [u8],
    base: usize,
    slots: &mut [Header<'a>],
    config: &ParseConfig,
) -> Option<Indexed<'a>> {
    if config.allow_bare_lf {
        return None;
    }
    // Only the head must be UTF-8, and only a bounded window is validated so that a long body or a
    // stream buffer holding many messages costs nothing extra; a head that does not end inside the
    // window, or a binary byte before its end, sends the message down the general path.
    let window = rest.get(..rest.len().min(ONE_PASS_WINDOW)).unwrap_or(rest);
    let text = match core::str::from_utf8(window) {
        Ok(text) => text,
        Err(e) => core::str::from_utf8(window.get(..e.valid_up_to())?).ok()?,
    };
    let (start_line, start_line_text, count, head_len) = index_lines(text, base, slots, false, true).ok()?;
    // The empty line is CRLF right after the head.
    Some((head_len?.checked_add(2)?, start_line, start_line_text, count))
}

/// The general path: find the end of the head, validate it, then index its lines.
fn index_in_two_passes<'a>(
    rest: &'a [u8],
    base: usize,
    slots: &mut [Header<'a>],
    config: &ParseConfig,
    transport: Transport,
) -> Result<Indexed<'a>, ParseError> {
    let (head_len, body_start) = match find_head_end(rest, config.allow_bare_lf) {
        Some(found) => found,
        None if transport == Transport::Datagram
            && config.allow_missing_blank_line
            && rest.ends_with(b"\n") =>
        {
            (rest.len(), rest.len())
        }
        None => return Err(ParseError::Incomplete),
    };
    let head_bytes = rest.get(..head_len).unwrap_or(&[]);
    let head = core::str::from_utf8(head_bytes).map_err(|e| ParseError::NonUtf8 {
        offset: base + e.valid_up_to(),
    })?;
    let (start_line, start_line_text, count, _) =
        index_lines(head, base, slots, config.allow_bare_lf, false)?;
    Ok((body_start, start_line, start_line_text, count))
}

/// `HeaderName::ContentLength.matches(name)`, specialised: it runs once per header on every parse.
#[inline]
fn is_content_length(name: &str) -> bool {
    match name.len() {
        1 => name.eq_ignore_ascii_case("l"),
        14 => name.eq_ignore_ascii_case("Content-Length"),
        _ => false,
    }
}

/// Finds the end of the header section in `buf` (which starts at the start line): returns the length
/// of the head including the last header line's terminator, and where the body starts.
///
/// Walks the LFs with `memchr` and looks at the two bytes after each: this beats a `memmem` search for
/// CRLFCRLF on SIP text, where CR and LF are too frequent for a substring prefilter to skip anything.
pub(crate) fn find_head_end(buf: &[u8], allow_bare_lf: bool) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = crate::substring::memchr(b'\n', buf.get(from..)?) {
        let lf = from + i;
        let crlf_before = lf > 0 && buf.get(lf - 1) == Some(&b'\r');
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\r'), Some(b'\n')) if crlf_before || allow_bare_lf => return Some((lf + 1, lf + 3)),
            (Some(b'\n'), _) if allow_bare_lf => return Some((lf + 1, lf + 2)),
            _ => {}
        }
        from = lf + 1;
    }
    None
}

/// Splits the head into the start line and header slots. `base` is the head's offset in the input.
///
/// With `stop_at_empty_line`, `head` may run past the head: indexing stops at the first empty line and
/// its offset (the head's length) is returned; `None` then means no empty line was found, and the
/// lines indexed so far are not a complete head.
fn index_lines<'a>(
    head: &'a str,
    base: usize,
    slots: &mut [Header<'a>],
    allow_bare_lf: bool,
    stop_at_empty_line: bool,
) -> Result<(StartLine<'a>, &'a str, usize, Option<usize>), ParseError> {
    let bytes = head.as_bytes();
    let mut line_start = 0;
    let mut start_line = None;
    let mut count = 0;
    // The header being built: name and value bounds within `head`.
    let mut current: Option<(&'a str, usize, usize)> = None;
    let mut end = None;
    for lf in crate::substring::memchr_iter(b'\n', bytes) {
        let mut line_end = lf;
        if lf > line_start && bytes.get(lf - 1) == Some(&b'\r') {
            line_end = lf - 1;
        } else if !allow_bare_lf {
            return Err(ParseError::BareLineFeed { offset: base + lf });
        }
        let line = head.get(line_start..line_end).unwrap_or("");
        let offset = base + line_start;
        if stop_at_empty_line && line.is_empty() && line_start > 0 {
            end = Some(line_start);
            break;
        }
        if line_start == 0 {
            start_line = Some((StartLine::parse(line)?, line));
        } else if matches!(line.as_bytes().first(), Some(b' ' | b'\t')) {
            let (name, value_start, value_end) = current.ok_or(ParseError::OrphanContinuation { offset })?;
            let (lead, trail) = ws_bounds(line.as_bytes());
            current = Some(if lead >= trail {
                (name, value_start, value_end)
            } else if value_start == value_end {
                (name, line_start + lead, line_start + trail)
            } else {
                (name, value_start, line_start + trail)
            });
        } else {
            if let Some(done) = current.take() {
                push(slots, &mut count, head, done)?;
            }
            current = Some(split_header_line(line, line_start, offset)?);
        }
        line_start = lf + 1;
    }
    if let Some(done) = current {
        push(slots, &mut count, head, done)?;
    }
    let (start_line, text) = start_line.ok_or(ParseError::MalformedStartLine)?;
    Ok((start_line, text, count, end))
}

fn split_header_line(
    line: &str,
    line_start: usize,
    offset: usize,
) -> Result<(&str, usize, usize), ParseError> {
    let bytes = line.as_bytes();
    // One pass over the name (a few bytes) instead of a colon search over the whole line followed by
    // a second pass over the name: token bytes, optional SP/HT, then the colon.
    let name_end = bytes
        .iter()
        .position(|&b| !crate::sip::method::is_token_byte(b))
        .unwrap_or(bytes.len());
    let colon = name_end
        + bytes
            .get(name_end..)
            .unwrap_or(&[])
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(bytes.len() - name_end);
    if name_end == 0 || bytes.get(colon) != Some(&b':') {
        // Not `token *WSP ":"`: the line is malformed; say whether it has a colon at all.
        return Err(match crate::substring::memchr(b':', bytes) {
            Some(_) => ParseError::BadHeaderName { offset },
            None => ParseError::HeaderWithoutColon { offset },
        });
    }
    let name = line.get(..name_end).unwrap_or("");
    let (lead, trail) = ws_bounds(bytes.get(colon + 1..).unwrap_or(&[]));
    let value_start = line_start + colon + 1 + lead;
    Ok((name, value_start, value_start + trail.saturating_sub(lead)))
}

/// Index of the first byte that is not SP/HT, and one past the last such byte (`lead >= trail` when
/// the slice is all whitespace).
#[inline]
fn ws_bounds(bytes: &[u8]) -> (usize, usize) {
    let lead = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let trail = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(lead, |i| i + 1);
    (lead, trail)
}

fn push<'a>(
    slots: &mut [Header<'a>],
    count: &mut usize,
    head: &'a str,
    (name, value_start, value_end): (&'a str, usize, usize),
) -> Result<(), ParseError> {
    let slot = slots
        .get_mut(*count)
        .ok_or(ParseError::TooManyHeaders { capacity: *count })?;
    *slot = Header {
        name,
        value: head.get(value_start..value_end).unwrap_or(""),
    };
    *count += 1;
    Ok(())
}

#[cfg(test)]
mod tests;
