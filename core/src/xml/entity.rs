//! Character and entity references: checking them (while reading) and decoding them (on demand).
//!
//! Only the five predefined entities and numeric references exist in documents without a DTD, which is
//! all this reader accepts, so decoding needs no table and never grows the text: the output of
//! [`decode`] is at most as long as its input.

use core::fmt;

use crate::write::ByteWriter;

/// Why text could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// The output buffer is smaller than the decoded text.
    BufferTooSmall,
    /// An `&` does not start a valid reference (unknown name, missing `;`, or a code point that is not
    /// an XML character).
    InvalidReference {
        /// Byte offset of the `&` in the decoded text.
        offset: usize,
    },
}

impl From<crate::write::BufferTooSmall> for DecodeError {
    fn from(_: crate::write::BufferTooSmall) -> Self {
        DecodeError::BufferTooSmall
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BufferTooSmall => f.write_str("XML text: output buffer too small to decode into"),
            DecodeError::InvalidReference { offset } => {
                write!(
                    f,
                    "XML text: invalid entity or character reference at byte {offset}"
                )
            }
        }
    }
}

/// True for the characters XML 1.0 allows in a document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Reads the reference starting at the `&` that begins `text`: its replacement and its length.
pub(crate) fn reference(text: &str) -> Option<(char, usize)> {
    // The longest reference worth reading is `&#x10FFFF;` plus a few leading zeros.
    let end = text.bytes().take(16).position(|b| b == b';')?;
    let name = text.get(1..end)?;
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let digits = name.strip_prefix('#')?;
            let code = match digits.strip_prefix('x') {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    crate::write::parse_decimal(digits)?
                }
                _ => return None,
            };
            char::from_u32(code).filter(|c| is_xml_char(*c))?
        }
    };
    Some((c, end + 1))
}

/// True when `text` contains a reference, i.e. [`decode`] would change it.
pub fn needs_decoding(text: &str) -> bool {
    text.as_bytes().contains(&b'&')
}

/// Replaces the references in `text` by their characters, writing into `out`.
pub fn decode<'o>(text: &str, out: &'o mut [u8]) -> Result<&'o str, DecodeError> {
    let mut w = ByteWriter::new(out);
    let mut plain_from = 0;
    let mut i = 0;
    while let Some(rel) = crate::substring::memchr(b'&', text.as_bytes().get(i..).unwrap_or(&[])) {
        let at = i + rel;
        let (c, len) = text
            .get(at..)
            .and_then(reference)
            .ok_or(DecodeError::InvalidReference { offset: at })?;
        w.push(text.as_bytes().get(plain_from..at).unwrap_or(&[]))?;
        let mut enc = [0u8; 4];
        w.push_str(c.encode_utf8(&mut enc))?;
        i = at + len;
        plain_from = i;
    }
    w.push(text.as_bytes().get(plain_from..).unwrap_or(&[]))?;
    let (buf, len) = w.finish();
    let done: &'o [u8] = buf;
    core::str::from_utf8(done.get(..len).unwrap_or(&[]))
        .map_err(|_| DecodeError::InvalidReference { offset: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_predefined_and_numeric_references() {
        let mut out = [0u8; 32];
        assert_eq!(
            decode("a&lt;b&gt;&amp;&quot;&apos;&#65;&#x263A;", &mut out).unwrap(),
            "a<b>&\"'A\u{263a}"
        );
    }

    #[test]
    fn rejects_unknown_and_non_characters() {
        let mut out = [0u8; 32];
        assert_eq!(
            decode("x&nbsp;", &mut out),
            Err(DecodeError::InvalidReference { offset: 1 })
        );
        assert_eq!(
            decode("&#0;", &mut out),
            Err(DecodeError::InvalidReference { offset: 0 })
        );
        assert_eq!(
            decode("&#xD800;", &mut out),
            Err(DecodeError::InvalidReference { offset: 0 })
        );
        assert_eq!(
            decode("&amp", &mut out),
            Err(DecodeError::InvalidReference { offset: 0 })
        );
        assert_eq!(
            decode("&#x;", &mut out),
            Err(DecodeError::InvalidReference { offset: 0 })
        );
    }

    #[test]
    fn small_buffer_is_typed() {
        let mut out = [0u8; 2];
        assert_eq!(decode("abc", &mut out), Err(DecodeError::BufferTooSmall));
    }
}
