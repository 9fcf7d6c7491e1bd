//! `multipart/*` bodies (RFC 2046 §5.1): splitting a body into its parts without copying.
//!
//! A SIP MESSAGE to a URI-list service (RFC 5365) carries `multipart/mixed`: the message itself and a
//! `recipient-list` part. [`parts`] walks such a body one part at a time, each part a view of its
//! header section and its body.
//!
//! | input | what happens |
//! |---|---|
//! | bytes before the first delimiter (the preamble) | ignored |
//! | `--boundary` then `--` (the close delimiter) | iteration ends; bytes after it (the epilogue) ignored |
//! | `--boundary` then spaces/tabs (transport padding) then CRLF | a part starts |
//! | a part without a blank line ending its headers | [`MultipartError::MissingHeaderEnd`] |
//! | the body ends before the close delimiter | [`MultipartError::Unterminated`] |
//!
//! The CRLF before a delimiter belongs to the delimiter, not to the part's body (§5.1.1). Lines ending
//! in a bare LF are accepted too, as many SIP stacks write them.

use crate::ascii_trim::TrimAsciiWs;
use core::fmt;

/// The longest boundary RFC 2046 allows (§5.1.1: 1 to 70 characters).
pub const MAX_BOUNDARY_LEN: usize = 70;

/// Why a multipart body cannot be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MultipartError {
    /// The boundary is empty or longer than [`MAX_BOUNDARY_LEN`].
    BadBoundary,
    /// No delimiter line `--boundary` was found.
    NoDelimiter,
    /// A part's header section has no blank line after it (byte offset of the part).
    MissingHeaderEnd(usize),
    /// The body ends without the close delimiter `--boundary--`.
    Unterminated,
    /// A part's header section is not UTF-8 (byte offset of the part).
    HeadersNotUtf8(usize),
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::BadBoundary => write!(f, "the multipart boundary must be 1 to 70 characters"),
            MultipartError::NoDelimiter => write!(f, "the body contains no --boundary delimiter line"),
            MultipartError::MissingHeaderEnd(at) => {
                write!(f, "the part at byte {at} has no blank line after its headers")
            }
            MultipartError::Unterminated => write!(f, "the body ends without the closing --boundary-- line"),
            MultipartError::HeadersNotUtf8(at) => {
                write!(f, "the headers of the part at byte {at} are not UTF-8")
            }
        }
    }
}

/// One part: its header section and its body, both borrowed from the multipart body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// The header lines, without the blank line that ends them (may be empty).
    pub headers: &'a str,
    /// The part's content.
    pub body: &'a [u8],
}

impl<'a> Part<'a> {
    /// The value of the first header named `name` (case-insensitive), trimmed. Folded lines are not
    /// joined (MIME part headers in SIP bodies are never folded in practice).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim_ws().eq_ignore_ascii_case(name).then(|| v.trim_ws())
        })
    }

    /// The part's media type (`type/subtype`, parameters dropped), `text/plain` when it has no
    /// Content-Type (RFC 2046 §5.1.1 default).
    pub fn media_type(&self) -> &'a str {
        self.header("Content-Type")
            .map_or("text/plain", |ct| ct.split(';').next().unwrap_or(ct).trim_ws())
    }

    /// The disposition type of Content-Disposition (e.g. `recipient-list`), without parameters.
    pub fn disposition(&self) -> Option<&'a str> {
        self.header("Content-Disposition")
            .map(|cd| cd.split(';').next().unwrap_or(cd).trim_ws())
    }
}

/// An iterator over the parts of a multipart body; see [`parts`].
#[derive(Clone, Debug)]
pub struct Parts<'a> {
    body: &'a [u8],
    boundary: &'a [u8],
    /// Where the current part starts (just after its delimiter line), `None` when finished.
    next: Option<usize>,
}

/// Finds `--boundary` at the start of a line at or after `from`; returns where the delimiter starts
/// and where the line break before it starts (the end of the previous part's body).
fn find_delimiter(body: &[u8], boundary: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let rest = body.get(at..)?;
        let found = crate::substring::find(rest, b"--")?;
        let start = at.checked_add(found)?;
        let line_start = start == 0 || body.get(start.wrapping_sub(1)) == Some(&b'\n');
        let after = start.checked_add(2)?;
        if line_start && body.get(after..)?.starts_with(boundary) {
            let mut body_end = start;
            if body_end > 0 && body.get(body_end - 1) == Some(&b'\n') {
                body_end -= 1;
                if body_end > 0 && body.get(body_end - 1) == Some(&b'\r') {
                    body_end -= 1;
                }
            }
            return Some((start, body_end));
        }
        at = start.checked_add(1)?;
    }
}

/// The parts of `body`, a multipart body with this `boundary` (the Content-Type's `boundary`
/// parameter, quotes removed).
pub fn parts<'a>(body: &'a [u8], boundary: &'a str) -> Result<Parts<'a>, MultipartError> {
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_LEN {
        return Err(MultipartError::BadBoundary);
    }
    let boundary = boundary.as_bytes();
    let (start, _) = find_delimiter(body, boundary, 0).ok_or(MultipartError::NoDelimiter)?;
    let mut parts = Parts {
        body,
        boundary,
        next: None,
    };
    parts.next = parts.after_delimiter(start)?;
    Ok(parts)
}

impl<'a> Parts<'a> {
    /// Reads the delimiter line at `start`: `Some(offset of the part)`, or `None` for the close delimiter.
    fn after_delimiter(&self, start: usize) -> Result<Option<usize>, MultipartError> {
        let mut at = start.saturating_add(2).saturating_add(self.boundary.len());
        if self.body.get(at..).is_some_and(|r| r.starts_with(b"--")) {
            return Ok(None);
        }
        while matches!(self.body.get(at), Some(b' ' | b'\t')) {
            at = at.saturating_add(1);
        }
        if self.body.get(at) == Some(&b'\r') {
            at = at.saturating_add(1);
        }
        if self.body.get(at) == Some(&b'\n') {
            Ok(Some(at.saturating_add(1)))
        } else {
            Err(MultipartError::Unterminated)
        }
    }

    fn part_at(&mut self, start: usize) -> Result<Part<'a>, MultipartError> {
        let (next_delimiter, body_end) =
            find_delimiter(self.body, self.boundary, start).ok_or(MultipartError::Unterminated)?;
        let whole = self.body.get(start..body_end).unwrap_or_default();
        let (headers, content) = if whole.starts_with(b"\r\n") {
            (&[][..], whole.get(2..).unwrap_or_default())
        } else if whole.starts_with(b"\n") {
            (&[][..], whole.get(1..).unwrap_or_default())
        } else if let Some(end) = crate::substring::find(whole, b"\r\n\r\n") {
            (
                whole.get(..end).unwrap_or_default(),
                whole.get(end.saturating_add(4)..).unwrap_or_default(),
            )
        } else if let Some(end) = crate::substring::find(whole, b"\n\n") {
            (
                whole.get(..end).unwrap_or_default(),
                whole.get(end.saturating_add(2)..).unwrap_or_default(),
            )
        } else {
            return Err(MultipartError::MissingHeaderEnd(start));
        };
        let headers = core::str::from_utf8(headers).map_err(|_| MultipartError::HeadersNotUtf8(start))?;
        self.next = self.after_delimiter(next_delimiter)?;
        Ok(Part {
            headers,
            body: content,
        })
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = Result<Part<'a>, MultipartError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.next.take()?;
        Some(self.part_at(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nHello World!\r\n\r\n--b1  \r\n\
Content-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n<x/>\r\n--b1--\r\nepilogue";

    #[test]
    fn splits_parts_dropping_preamble_padding_and_epilogue() {
        let mut it = parts(BODY, "b1").unwrap();
        let first = it.next().unwrap().unwrap();
        assert_eq!(first.media_type(), "text/plain");
        assert_eq!(first.body, b"Hello World!\r\n");
        let second = it.next().unwrap().unwrap();
        assert_eq!(second.media_type(), "application/resource-lists+xml");
        assert_eq!(second.disposition(), Some("recipient-list"));
        assert_eq!(second.body, b"<x/>");
        assert!(it.next().is_none());
    }

    #[test]
    fn a_part_without_headers_is_text_plain() {
        let body = b"--b\r\n\r\nplain\r\n--b--";
        let part = parts(body, "b").unwrap().next().unwrap().unwrap();
        assert_eq!(part.headers, "");
        assert_eq!(part.media_type(), "text/plain");
        assert_eq!(part.body, b"plain");
    }

    #[test]
    fn errors_are_reported_not_panicked() {
        assert_eq!(parts(b"x", "").unwrap_err(), MultipartError::BadBoundary);
        assert_eq!(
            parts(b"no delimiter", "b").unwrap_err(),
            MultipartError::NoDelimiter
        );
        let unterminated = parts(b"--b\r\nA: b\r\n\r\nbody", "b").unwrap().next().unwrap();
        assert_eq!(unterminated, Err(MultipartError::Unterminated));
        let no_blank = parts(b"--b\r\nA: b\r\n--b--", "b").unwrap().next().unwrap();
        assert_eq!(no_blank, Err(MultipartError::MissingHeaderEnd(5)));
    }

    #[test]
    fn a_boundary_inside_a_line_is_not_a_delimiter() {
        let body = b"--b\r\n\r\nsee --b here\r\n--b--";
        let part = parts(body, "b").unwrap().next().unwrap().unwrap();
        assert_eq!(part.body, b"see --b here");
    }
}
