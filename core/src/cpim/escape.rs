//! The CPIM header escape mechanism (RFC 3862 §2.3), borrowed from Java string literals.
//!
//! Decoding is lenient as §2.3.1 asks: an unknown escape stands for the character after the backslash
//! and a lone backslash at the end is dropped. Encoding escapes exactly what §2.3.1 requires: backslash,
//! backspace, tab, LF, CR as their short forms and every other control character as `\uxxxx`.

use core::fmt;

use crate::write::{BufferTooSmall, ByteWriter};

/// Why a header value could not be unescaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UnescapeError {
    /// The output buffer cannot hold the decoded value.
    BufferTooSmall,
    /// A `\u` escape names a code point that is not a Unicode scalar value (a lone surrogate).
    InvalidCodePoint {
        /// Byte offset of the backslash in the escaped value.
        offset: usize,
    },
}

impl fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnescapeError::BufferTooSmall => {
                f.write_str("CPIM header value: output buffer too small to unescape into")
            }
            UnescapeError::InvalidCodePoint { offset } => {
                write!(
                    f,
                    "CPIM header value: \\u escape at byte {offset} is not a Unicode scalar value"
                )
            }
        }
    }
}

impl From<BufferTooSmall> for UnescapeError {
    fn from(_: BufferTooSmall) -> Self {
        UnescapeError::BufferTooSmall
    }
}

/// True when `value` contains an escape sequence, i.e. [`unescape`] would change it.
pub fn needs_unescape(value: &str) -> bool {
    value.as_bytes().contains(&b'\\')
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    if bytes.len() != 4 {
        return None;
    }
    let mut v = 0u32;
    for &b in bytes {
        let d = (b as char).to_digit(16)?;
        v = v * 16 + d;
    }
    Some(v)
}

/// Decodes the escapes of `value` into `out` and returns the decoded text.
pub fn unescape<'o>(value: &str, out: &'o mut [u8]) -> Result<&'o str, UnescapeError> {
    let mut w = ByteWriter::new(out);
    let bytes = value.as_bytes();
    let mut i = 0;
    let mut plain_from = 0;
    while let Some(rel) = crate::substring::memchr(b'\\', bytes.get(i..).unwrap_or(&[])) {
        let at = i + rel;
        w.push(bytes.get(plain_from..at).unwrap_or(&[]))?;
        let next = bytes.get(at + 1).copied();
        let consumed = match next {
            None => 1,
            Some(b'u') => match bytes.get(at + 2..at + 6).and_then(hex4) {
                Some(cp) => {
                    let c = char::from_u32(cp).ok_or(UnescapeError::InvalidCodePoint { offset: at })?;
                    let mut enc = [0u8; 4];
                    w.push_str(c.encode_utf8(&mut enc))?;
                    6
                }
                None => {
                    w.push_byte(b'u')?;
                    2
                }
            },
            Some(c) => {
                let decoded = match c {
                    b'b' => 0x08,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'r' => b'\r',
                    other => other,
                };
                // `other` may be the first byte of a multi-byte character: copy the whole character.
                if decoded == c && c >= 0x80 {
                    let ch_len = value
                        .get(at + 1..)
                        .and_then(|s| s.chars().next())
                        .map_or(1, char::len_utf8);
                    w.push(bytes.get(at + 1..at + 1 + ch_len).unwrap_or(&[]))?;
                    1 + ch_len
                } else {
                    w.push_byte(decoded)?;
                    2
                }
            }
        };
        i = at + consumed;
        plain_from = i;
    }
    w.push(bytes.get(plain_from..).unwrap_or(&[]))?;
    let (buf, len) = w.finish();
    let done: &'o [u8] = buf;
    // Every piece pushed is either a whole UTF-8 slice of `value` or an encoded char.
    core::str::from_utf8(done.get(..len).unwrap_or(&[])).map_err(|_| UnescapeError::BufferTooSmall)
}

/// Appends `value` to `w` with the escapes RFC 3862 §2.3.1 requires.
pub fn push_escaped(w: &mut ByteWriter<'_>, value: &str) -> Result<(), BufferTooSmall> {
    let mut plain_from = 0;
    for (i, b) in value.bytes().enumerate() {
        let short: Option<&[u8]> = match b {
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            0x00..=0x1f | 0x7f => None,
            _ => continue,
        };
        w.push(value.as_bytes().get(plain_from..i).unwrap_or(&[]))?;
        match short {
            Some(s) => w.push(s)?,
            None => {
                let [hi, lo] = crate::write::hex_pair(b);
                w.push(&[b'\\', b'u', b'0', b'0', hi, lo])?;
            }
        }
        plain_from = i + 1;
    }
    w.push(value.as_bytes().get(plain_from..).unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_short_form_and_unicode_escapes() {
        let mut out = [0u8; 64];
        let got = unescape(r#"a\\b\"c\'d\be\tf\ng\rh\u00e9\u0001"#, &mut out).unwrap();
        assert_eq!(got, "a\\b\"c'd\u{8}e\tf\ng\rh\u{e9}\u{1}");
    }

    #[test]
    fn unknown_escape_is_the_next_character_and_trailing_backslash_is_dropped() {
        let mut out = [0u8; 16];
        assert_eq!(unescape(r"\q\é\", &mut out).unwrap(), "qé");
        assert_eq!(unescape(r"\u12", &mut out).unwrap(), "u12");
    }

    #[test]
    fn surrogate_escape_is_rejected_with_its_offset() {
        let mut out = [0u8; 16];
        assert_eq!(
            unescape(r"ab\ud800", &mut out),
            Err(UnescapeError::InvalidCodePoint { offset: 2 })
        );
    }

    #[test]
    fn escaping_round_trips_control_characters() {
        let original = "tab\tnl\nbs\\bell\u{7}del\u{7f}";
        let mut buf = [0u8; 64];
        let mut w = ByteWriter::new(&mut buf);
        push_escaped(&mut w, original).unwrap();
        assert_eq!(w.written(), br"tab\tnl\nbs\\bell\u0007del\u007f".as_slice());
        let escaped = core::str::from_utf8(w.written()).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(unescape(escaped, &mut out).unwrap(), original);
    }
}
