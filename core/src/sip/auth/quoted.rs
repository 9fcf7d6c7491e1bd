//! Quoted-strings as zero-copy views: kept in wire form, unescaped only when read.
//!
//! RFC 3261 `quoted-pair` escapes one ASCII byte other than CR and LF with a backslash. A received
//! value keeps its escapes; [`QuotedStr::segments`] yields the unescaped content as slices between the
//! backslashes, which is all that comparing and hashing need, and [`QuotedStr::unescape_into`] copies it
//! out when a caller wants one `&str`.

use core::fmt;

use crate::substring::memchr;

use super::emit::EmitError;
use super::params::{scan_quoted_content, ParseError, ParseErrorKind};

/// A quoted-string value, borrowed: either in wire form (the text between the quotes, escapes and all)
/// or plain text that is escaped when emitted. Equality, digest computation and [`fmt::Display`] use
/// the unescaped content, so `"a\"b"` received equals `a"b` built by hand.
#[derive(Clone, Copy, Debug)]
pub struct QuotedStr<'a> {
    text: &'a str,
    wire: bool,
}

impl<'a> QuotedStr<'a> {
    /// Plain text, to be escaped when emitted.
    pub const fn new(text: &'a str) -> Self {
        QuotedStr { text, wire: false }
    }

    /// The content between the quotes of a quoted-string as it appears on the wire (escapes kept).
    pub fn from_wire(content: &'a str) -> Result<Self, ParseError> {
        match scan_quoted_content(content.as_bytes(), 0)? {
            Some(quote) => Err(ParseError {
                kind: ParseErrorKind::UnterminatedQuote,
                offset: quote,
            }),
            None => Ok(QuotedStr {
                text: content,
                wire: true,
            }),
        }
    }

    /// Already validated wire content (a slice `scan_quoted_content` accepted, or a sub-slice cut at
    /// a byte that is neither escaped nor an escape).
    pub(crate) const fn wire_unchecked(content: &'a str) -> Self {
        QuotedStr {
            text: content,
            wire: true,
        }
    }

    /// The text as stored, and whether it is in wire form (escapes present) or plain.
    pub(crate) fn stored(&self) -> (&'a str, bool) {
        (self.text, self.wire)
    }

    /// The content as one `&str` when nothing needs unescaping (the common case).
    pub fn as_plain(&self) -> Option<&'a str> {
        if self.wire && memchr(b'\\', self.text.as_bytes()).is_some() {
            None
        } else {
            Some(self.text)
        }
    }

    /// The unescaped content as consecutive slices of the original text (no copy).
    pub fn segments(&self) -> Segments<'a> {
        Segments {
            rest: self.text,
            wire: self.wire,
            escaped_first: false,
        }
    }

    /// The unescaped content, byte by byte.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        self.segments().flat_map(str::bytes)
    }

    /// Length in bytes of the unescaped content.
    pub fn unescaped_len(&self) -> usize {
        self.segments().map(str::len).sum()
    }

    /// `true` when the unescaped content is empty.
    pub fn is_empty(&self) -> bool {
        self.unescaped_len() == 0
    }

    /// Copies the unescaped content into `buf`.
    pub fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, EmitError> {
        let mut len = 0usize;
        for segment in self.segments() {
            let end = len.checked_add(segment.len()).ok_or(EmitError::BufferTooSmall)?;
            buf.get_mut(len..end)
                .ok_or(EmitError::BufferTooSmall)?
                .copy_from_slice(segment.as_bytes());
            len = end;
        }
        // Segments end on ASCII boundaries, so their concatenation is UTF-8.
        buf.get(..len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .ok_or(EmitError::InvalidValue)
    }

    /// Whether the unescaped content is exactly `other`.
    pub fn eq_str(&self, other: &str) -> bool {
        self.eq_by(other, <[u8]>::eq)
    }

    /// Whether the unescaped content equals `other` ignoring ASCII case.
    pub fn eq_ignore_ascii_case(&self, other: &str) -> bool {
        self.eq_by(other, <[u8]>::eq_ignore_ascii_case)
    }

    /// Compares the content with `other` segment by segment (slices, not a byte iterator: smaller code).
    fn eq_by(&self, other: &str, same: fn(&[u8], &[u8]) -> bool) -> bool {
        let mut rest = other.as_bytes();
        for segment in self.segments() {
            let Some((head, tail)) = rest.split_at_checked(segment.len()) else {
                return false;
            };
            if !same(segment.as_bytes(), head) {
                return false;
            }
            rest = tail;
        }
        rest.is_empty()
    }
}

impl PartialEq for QuotedStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes().eq(other.bytes())
    }
}

impl Eq for QuotedStr<'_> {}

impl fmt::Display for QuotedStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.segments().try_for_each(|s| f.write_str(s))
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for QuotedStr<'_> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{=str}", self.text)
    }
}

/// Iterator over the unescaped pieces of a [`QuotedStr`].
#[derive(Clone, Debug)]
pub struct Segments<'a> {
    rest: &'a str,
    wire: bool,
    /// The first byte of `rest` was escaped: take it literally even if it is a backslash.
    escaped_first: bool,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            if !self.wire {
                return Some(core::mem::take(&mut self.rest));
            }
            let from = usize::from(self.escaped_first);
            let found = self
                .rest
                .as_bytes()
                .get(from..)
                .and_then(|tail| memchr(b'\\', tail));
            let Some(backslash) = found.map(|i| i + from) else {
                return Some(core::mem::take(&mut self.rest));
            };
            let segment = self.rest.get(..backslash).unwrap_or("");
            // Wire content is validated: a backslash is followed by an ASCII byte, a char boundary.
            self.rest = self.rest.get(backslash + 1..).unwrap_or("");
            self.escaped_first = true;
            if !segment.is_empty() {
                return Some(segment);
            }
        }
    }
}
