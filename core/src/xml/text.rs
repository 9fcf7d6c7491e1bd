//! [`XmlText`]: a text value that knows whether it is still in its XML-escaped form.
//!
//! A parsed document hands out character data exactly as written (`a &amp; b`), because decoding needs
//! somewhere to put the result and the core does not allocate. An application that builds a document
//! hands in plain text (`a & b`), which must be escaped on the way out. Keeping both in one `&str` type
//! mixes them up: escaped text gets escaped twice when written back, and a comparison with a plain value
//! fails whenever a reference is present. `XmlText` keeps the distinction in the type, and every operation
//! (writing, decoding, comparing, displaying) does the right thing for each form without a copy: the
//! comparison and `Display` decode reference by reference as they walk the text.

use core::fmt::{self, Write as _};

use super::entity::{decode, reference, DecodeError};
use super::writer::{BufferTooSmall, ByteWriter};

/// Text for an XML element or attribute, in the form it is held in.
///
/// Equality ([`PartialEq`]) compares the decoded text, so `Escaped("a &amp; b") == Plain("a & b")`. An
/// `Escaped` value with an invalid reference has no decoded form: it equals only an identical value.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum XmlText<'a> {
    /// Character data as it appears in a document, references (`&amp;`, `&#x41;`) not decoded. Text
    /// from [`Reader`](super::Reader) events is known to hold only valid references; when building one
    /// from elsewhere, check it with [`XmlText::escaped`]. Written verbatim.
    Escaped(&'a str),
    /// Application text, and the literal content of CDATA sections: `&` and `<` mean themselves.
    /// Escaped when written.
    Plain(&'a str),
}

/// One piece of decoded text: a run copied as is, or the character a reference stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece<'a> {
    Run(&'a str),
    Char(char),
    /// An `&` that starts no valid reference (only in `Escaped` text that skipped the check).
    InvalidAmpersand,
}

/// Walks the decoded form of a text piece by piece, without a buffer.
#[derive(Clone, Debug)]
struct Pieces<'a> {
    rest: &'a str,
    escaped: bool,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        if !self.escaped {
            let run = core::mem::take(&mut self.rest);
            return Some(Piece::Run(run));
        }
        match crate::substring::memchr(b'&', self.rest.as_bytes()) {
            Some(0) => match reference(self.rest) {
                Some((c, len)) => {
                    self.rest = self.rest.get(len..).unwrap_or("");
                    Some(Piece::Char(c))
                }
                None => {
                    self.rest = self.rest.get(1..).unwrap_or("");
                    Some(Piece::InvalidAmpersand)
                }
            },
            Some(at) => {
                let run = self.rest.get(..at).unwrap_or(self.rest);
                self.rest = self.rest.get(at..).unwrap_or("");
                Some(Piece::Run(run))
            }
            None => Some(Piece::Run(core::mem::take(&mut self.rest))),
        }
    }
}

impl<'a> XmlText<'a> {
    /// Escaped text from outside a [`Reader`](super::Reader), after checking that every `&` starts a
    /// valid reference.
    pub fn escaped(raw: &'a str) -> Result<XmlText<'a>, DecodeError> {
        let text = XmlText::Escaped(raw);
        match text.first_invalid_reference() {
            Some(offset) => Err(DecodeError::InvalidReference { offset }),
            None => Ok(text),
        }
    }

    /// The text as held, in whichever form that is.
    pub fn as_held(&self) -> &'a str {
        match self {
            XmlText::Escaped(s) | XmlText::Plain(s) => s,
        }
    }

    /// The decoded text without copying, when it is the held text itself: `Plain`, or `Escaped` without
    /// any reference.
    pub fn as_plain(&self) -> Option<&'a str> {
        match self {
            XmlText::Plain(s) => Some(s),
            XmlText::Escaped(s) if !s.as_bytes().contains(&b'&') => Some(s),
            XmlText::Escaped(_) => None,
        }
    }

    /// True when there is no text at all (an escaped reference counts as text).
    pub fn is_empty(&self) -> bool {
        self.as_held().is_empty()
    }

    fn pieces(&self) -> Pieces<'a> {
        match self {
            XmlText::Escaped(s) => Pieces {
                rest: s,
                escaped: true,
            },
            XmlText::Plain(s) => Pieces {
                rest: s,
                escaped: false,
            },
        }
    }

    /// Byte offset (in the held text) of the first `&` that starts no valid reference.
    fn first_invalid_reference(&self) -> Option<usize> {
        let XmlText::Escaped(raw) = self else { return None };
        let mut pieces = self.pieces();
        loop {
            let before = pieces.rest.len();
            match pieces.next()? {
                Piece::InvalidAmpersand => return Some(raw.len().saturating_sub(before)),
                Piece::Run(_) | Piece::Char(_) => {}
            }
        }
    }

    /// The decoded text, written into `out`. `Plain` text is copied; `Escaped` text has its references
    /// replaced (the result is never longer than the held text).
    pub fn decode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, DecodeError> {
        match self {
            XmlText::Escaped(raw) => decode(raw, out),
            XmlText::Plain(s) => {
                let dst = out.get_mut(..s.len()).ok_or(DecodeError::BufferTooSmall)?;
                dst.copy_from_slice(s.as_bytes());
                core::str::from_utf8(dst).map_err(|_| DecodeError::BufferTooSmall)
            }
        }
    }

    /// True when the decoded text is exactly `plain`. Decodes reference by reference while comparing, so
    /// it needs no buffer and works for any length. An invalid reference never matches.
    pub fn eq_plain(&self, plain: &str) -> bool {
        let mut rest = plain;
        for piece in self.pieces() {
            let after = match piece {
                Piece::Run(run) => rest.strip_prefix(run),
                Piece::Char(c) => rest.strip_prefix(c),
                Piece::InvalidAmpersand => None,
            };
            match after {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// Writes the text as XML character data: `Escaped` verbatim, `Plain` with `& < > " '` escaped.
    /// Writes nothing when it does not fit.
    pub fn write_content(&self, w: &mut ByteWriter<'_>) -> Result<(), BufferTooSmall> {
        match self {
            XmlText::Escaped(raw) => w.push_str(raw),
            XmlText::Plain(s) => w.push_xml_escaped(s),
        }
    }

    /// Writes the text as the value of a double-quoted attribute. `Escaped` text may come from a
    /// single-quoted attribute, so its `"` become `&quot;`; `Plain` text is escaped fully. On
    /// [`BufferTooSmall`] part of the value may have been written (the caller's whole write fails anyway).
    pub fn write_attribute_value(&self, w: &mut ByteWriter<'_>) -> Result<(), BufferTooSmall> {
        let raw = match self {
            XmlText::Plain(s) => return w.push_xml_escaped(s),
            XmlText::Escaped(raw) => raw,
        };
        for (i, part) in raw.split('"').enumerate() {
            if i > 0 {
                w.push(b"&quot;")?;
            }
            w.push_str(part)?;
        }
        Ok(())
    }
}

impl PartialEq for XmlText<'_> {
    fn eq(&self, other: &Self) -> bool {
        if self.first_invalid_reference().is_some() || other.first_invalid_reference().is_some() {
            return matches!((self, other), (XmlText::Escaped(a), XmlText::Escaped(b)) if a == b);
        }
        let mut mine = self.pieces().flat_map(PieceChars::new);
        let mut theirs = other.pieces().flat_map(PieceChars::new);
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (a, b) if a != b => return false,
                _ => {}
            }
        }
    }
}

impl Eq for XmlText<'_> {}

impl PartialEq<&str> for XmlText<'_> {
    /// Compares the decoded text with plain text, see [`XmlText::eq_plain`].
    fn eq(&self, plain: &&str) -> bool {
        self.eq_plain(plain)
    }
}

impl PartialEq<str> for XmlText<'_> {
    fn eq(&self, plain: &str) -> bool {
        self.eq_plain(plain)
    }
}

/// The characters of one piece.
enum PieceChars<'a> {
    Run(core::str::Chars<'a>),
    One(Option<char>),
}

impl<'a> PieceChars<'a> {
    fn new(piece: Piece<'a>) -> Self {
        match piece {
            Piece::Run(run) => PieceChars::Run(run.chars()),
            Piece::Char(c) => PieceChars::One(Some(c)),
            Piece::InvalidAmpersand => PieceChars::One(Some('&')),
        }
    }
}

impl Iterator for PieceChars<'_> {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        match self {
            PieceChars::Run(chars) => chars.next(),
            PieceChars::One(c) => c.take(),
        }
    }
}

impl fmt::Display for XmlText<'_> {
    /// The decoded text. An `&` that starts no valid reference is shown as is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in self.pieces() {
            match piece {
                Piece::Run(run) => f.write_str(run)?,
                Piece::Char(c) => f.write_char(c)?,
                Piece::InvalidAmpersand => f.write_char('&')?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::{String, ToString};

    use super::*;

    fn written(text: XmlText<'_>, attribute: bool) -> String {
        let mut buf = [0u8; 128];
        let mut w = ByteWriter::new(&mut buf);
        if attribute {
            text.write_attribute_value(&mut w).unwrap();
        } else {
            text.write_content(&mut w).unwrap();
        }
        String::from_utf8(w.written().to_vec()).unwrap()
    }

    #[test]
    fn escaped_is_written_verbatim_and_plain_is_escaped() {
        assert_eq!(
            written(XmlText::Escaped("a &amp; b &gt; &#x41;"), false),
            "a &amp; b &gt; &#x41;"
        );
        assert_eq!(
            written(XmlText::Plain("a &amp; <b> \"'"), false),
            "a &amp;amp; &lt;b&gt; &quot;&apos;"
        );
    }

    #[test]
    fn escaped_attribute_value_from_single_quotes_gets_its_double_quotes_escaped() {
        assert_eq!(
            written(XmlText::Escaped("say \"hi\" &amp; go"), true),
            "say &quot;hi&quot; &amp; go"
        );
        assert_eq!(written(XmlText::Plain("en\"x"), true), "en&quot;x");
    }

    #[test]
    fn failed_plain_write_writes_nothing() {
        let mut buf = [0u8; 4];
        let mut w = ByteWriter::new(&mut buf);
        assert_eq!(XmlText::Plain("a&b").write_content(&mut w), Err(BufferTooSmall));
        assert!(w.is_empty());
    }

    #[test]
    fn decode_into_replaces_references_only_in_escaped_text() {
        let mut out = [0u8; 64];
        assert_eq!(
            XmlText::Escaped("&lt;id&gt;&#65;&#x263A;&amp;amp;").decode_into(&mut out),
            Ok("<id>A\u{263a}&amp;")
        );
        assert_eq!(XmlText::Plain("&lt;").decode_into(&mut out), Ok("&lt;"));
        assert_eq!(
            XmlText::Escaped("x&bogus;").decode_into(&mut out),
            Err(DecodeError::InvalidReference { offset: 1 })
        );
        let mut small = [0u8; 3];
        assert_eq!(
            XmlText::Plain("abcd").decode_into(&mut small),
            Err(DecodeError::BufferTooSmall)
        );
        assert_eq!(
            XmlText::Escaped("&amp;&amp;&amp;&amp;").decode_into(&mut small),
            Err(DecodeError::BufferTooSmall)
        );
    }

    #[test]
    fn eq_plain_decodes_predefined_and_numeric_references() {
        let text = XmlText::Escaped("a&amp;b&lt;c&gt;&quot;&apos;&#233;&#x6F22;");
        assert!(text.eq_plain("a&b<c>\"'é漢"));
        assert!(!text.eq_plain("a&amp;b&lt;c&gt;&quot;&apos;&#233;&#x6F22;"));
        assert!(!text.eq_plain("a&b<c>\"'é"), "a prefix is not equal");
        assert!(!text.eq_plain("a&b<c>\"'é漢!"), "a longer text is not equal");
        assert!(XmlText::Plain("&amp;").eq_plain("&amp;"));
        assert!(!XmlText::Plain("&amp;").eq_plain("&"));
        assert!(XmlText::Escaped("").eq_plain(""));
        assert!(!XmlText::Escaped("&amp;").eq_plain(""));
    }

    #[test]
    fn eq_plain_never_matches_an_invalid_reference() {
        assert!(!XmlText::Escaped("a&b").eq_plain("a&b"));
        assert!(!XmlText::Escaped("&#0;").eq_plain("\0"));
        assert_eq!(
            XmlText::escaped("a&b"),
            Err(DecodeError::InvalidReference { offset: 1 })
        );
        assert_eq!(
            XmlText::escaped("&amp;&x"),
            Err(DecodeError::InvalidReference { offset: 5 })
        );
        assert_eq!(XmlText::escaped("&amp;"), Ok(XmlText::Escaped("&amp;")));
    }

    #[test]
    fn eq_plain_is_exact_for_long_texts() {
        // Far longer than any stack chunk: a reference every few characters, differing only at the end.
        let plain: String = (0..5000).map(|i| ["x<", "&y", "é>", "'z"][i % 4]).collect();
        let escaped = plain
            .replace('&', "&amp;")
            .replace('<', "&#60;")
            .replace('>', "&#x3e;")
            .replace('\'', "&apos;");
        assert!(XmlText::Escaped(&escaped).eq_plain(&plain));
        let mut other = plain.clone();
        other.pop();
        other.push('y');
        assert!(!XmlText::Escaped(&escaped).eq_plain(&other));
        assert!(!XmlText::Escaped(&escaped).eq_plain(&plain[..plain.len() - 1]));
    }

    #[test]
    fn equality_compares_decoded_text() {
        assert_eq!(XmlText::Escaped("a &amp; &#x3C;b&gt;"), XmlText::Plain("a & <b>"));
        assert_eq!(XmlText::Escaped("&#65;"), XmlText::Escaped("A"));
        assert_ne!(XmlText::Escaped("&amp;"), XmlText::Plain("&amp;"));
        assert_ne!(XmlText::Escaped("ab"), XmlText::Plain("abc"));
        assert_eq!(XmlText::Escaped("&x"), XmlText::Escaped("&x"));
        assert_ne!(XmlText::Escaped("&x"), XmlText::Plain("&x"));
        assert_eq!(XmlText::Escaped("&lt;"), "<");
    }

    #[test]
    fn display_shows_decoded_text() {
        assert_eq!(XmlText::Escaped("&lt;a&gt; &amp; &#x42;").to_string(), "<a> & B");
        assert_eq!(XmlText::Plain("&lt;").to_string(), "&lt;");
        assert_eq!(XmlText::Escaped("a&b").to_string(), "a&b");
    }

    #[test]
    fn as_plain_borrows_when_no_decoding_is_needed() {
        assert_eq!(XmlText::Escaped("abc").as_plain(), Some("abc"));
        assert_eq!(XmlText::Escaped("a&amp;").as_plain(), None);
        assert_eq!(XmlText::Plain("a&amp;").as_plain(), Some("a&amp;"));
        assert_eq!(XmlText::Escaped("a&amp;").as_held(), "a&amp;");
    }
}
