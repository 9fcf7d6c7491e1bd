//! Writing into a caller's buffer, shared by every encoder of the crate.
//!
//! Every builder of the wire codecs (SDP, CPIM, IMDN, XML documents) appends to a `&mut [u8]` the caller
//! owns and fails with [`BufferTooSmall`] instead of truncating or allocating. (This module used to be
//! `xml::writer`; that path remains as an alias.) The writer never leaves a
//! half-written piece behind: a push that does not fit writes nothing.
//!
//! ## Text without `core::fmt`
//!
//! The device firmware must not link `core::fmt` (its machinery is ~9 KB of flash), so the paths a
//! device runs write text from pieces instead of `write!`:
//!
//! - [`Decimal`] renders an integer into a small stack buffer, to push or to pass on as `&str`;
//! - [`ByteWriter::push_all`] appends several `&str` pieces;
//! - a type that describes itself in words (error kinds that end up in a SIP reason phrase) has a
//!   `describe(&self, out: TextSink)` method that hands its text to `out` piece by piece. Its
//!   `Display` impl is [`display_pieces`] over the same method, so host and device print the same
//!   words from one source, and the device path never names `core::fmt`.

use core::fmt;

/// The caller's buffer cannot hold the output; retry with a larger one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output buffer too small: pass a larger buffer")
    }
}

/// Where a `describe` method sends its text, one piece at a time (see the module docs). A `dyn`
/// closure keeps every `describe` a single, non-generic function.
pub type TextSink<'s> = &'s mut dyn FnMut(&str);

/// `Display` through a `describe` method: forwards each piece to the formatter and reports the
/// first error.
pub fn display_pieces(f: &mut fmt::Formatter<'_>, describe: impl FnOnce(TextSink)) -> fmt::Result {
    let mut result = Ok(());
    describe(&mut |piece| {
        if result.is_ok() {
            result = f.write_str(piece);
        }
    });
    result
}

/// Reads an unsigned decimal number exactly as `str::parse::<u32>` does (an optional `+`, then one or
/// more ASCII digits; `None` when empty, for any other byte, or above `u32::MAX`). One copy for every
/// integer field the core reads: `parse::<u8>`, `<u16>` and `<u32>` each linked their own ~180 B.
/// Narrower fields convert with `try_from`, which fails exactly where their own `parse` would.
pub fn parse_decimal(text: &str) -> Option<u32> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0u32, |value, b| {
        let digit = u32::from(b.checked_sub(b'0').filter(|d| *d < 10)?);
        value.checked_mul(10)?.checked_add(digit)
    })
}

/// The decimal digits of an unsigned integer, rendered without `core::fmt`.
#[derive(Clone, Copy)]
pub struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    /// Renders `n` (at most 20 digits: `u64::MAX`).
    pub fn new(n: u64) -> Self {
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        let mut rest = n;
        while let Some(slot) = start.checked_sub(1).and_then(|at| digits.get_mut(at)) {
            *slot = b'0' + (rest % 10) as u8;
            start -= 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }

    /// The digits, most significant first, with no leading zeros (`"0"` for zero).
    pub fn as_str(&self) -> &str {
        let digits = self.digits.get(self.start..).unwrap_or(&[]);
        core::str::from_utf8(digits).unwrap_or("0")
    }
}

/// The two lowercase hex digits of `byte`, high nibble first (the one hex table of the crate: digest
/// responses, branches and tags, CPIM escapes).
pub(crate) fn hex_pair(byte: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digit = |nibble: u8| DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0');
    [digit(byte >> 4), digit(byte & 0x0f)]
}

/// An append-only cursor over a caller buffer.
#[derive(Debug)]
pub struct ByteWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> ByteWriter<'b> {
    /// A writer that starts at the beginning of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        ByteWriter { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Gives the buffer back with the number of bytes written.
    pub fn finish(self) -> (&'b mut [u8], usize) {
        (self.buf, self.len)
    }

    /// Appends `bytes`, or writes nothing and fails when they do not fit.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        let end = self.len.checked_add(bytes.len()).ok_or(BufferTooSmall)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.len)
    }

    /// The free part of the buffer, to fill directly (then call [`ByteWriter::advance`]).
    pub fn spare(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.len..).unwrap_or(&mut [])
    }

    /// Marks `n` bytes of [`ByteWriter::spare`] as written.
    pub fn advance(&mut self, n: usize) -> Result<(), BufferTooSmall> {
        if n > self.remaining() {
            return Err(BufferTooSmall);
        }
        self.len += n;
        Ok(())
    }

    /// Forgets everything written after the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Appends formatted text, or writes nothing and fails when it does not all fit.
    pub fn push_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), BufferTooSmall> {
        let start = self.len;
        if fmt::write(self, args).is_err() {
            self.len = start;
            return Err(BufferTooSmall);
        }
        Ok(())
    }

    /// Appends a string.
    pub fn push_str(&mut self, s: &str) -> Result<(), BufferTooSmall> {
        self.push(s.as_bytes())
    }

    /// Appends one byte.
    pub fn push_byte(&mut self, b: u8) -> Result<(), BufferTooSmall> {
        self.push(&[b])
    }

    /// Appends the decimal form of `n`.
    pub fn push_u64(&mut self, n: u64) -> Result<(), BufferTooSmall> {
        self.push_str(Decimal::new(n).as_str())
    }

    /// Appends `pieces` in order, or writes nothing and fails when they do not all fit.
    pub fn push_all(&mut self, pieces: &[&str]) -> Result<(), BufferTooSmall> {
        let start = self.len;
        let result = pieces.iter().try_for_each(|piece| self.push_str(piece));
        if result.is_err() {
            self.len = start;
        }
        result
    }

    /// Appends `text` with the five XML special characters replaced by entity references, so it is
    /// safe both as character data and inside a double- or single-quoted attribute value.
    pub fn push_xml_escaped(&mut self, text: &str) -> Result<(), BufferTooSmall> {
        let start = self.len;
        let mut plain_from = 0;
        for (i, b) in text.bytes().enumerate() {
            let entity: &[u8] = match b {
                b'<' => b"&lt;",
                b'>' => b"&gt;",
                b'&' => b"&amp;",
                b'"' => b"&quot;",
                b'\'' => b"&apos;",
                _ => continue,
            };
            let r = self
                .push(text.as_bytes().get(plain_from..i).unwrap_or(&[]))
                .and_then(|()| self.push(entity));
            if r.is_err() {
                self.len = start;
                return r;
            }
            plain_from = i + 1;
        }
        let r = self.push(text.as_bytes().get(plain_from..).unwrap_or(&[]));
        if r.is_err() {
            self.len = start;
        }
        r
    }
}

/// `write!` into a writer; a piece that does not fit fails the whole `write!` (use
/// [`ByteWriter::push_fmt`] to also undo the pieces written before it).
impl fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse_decimal` (and `try_from` for narrower fields) answers as `str::parse` does.
    #[test]
    fn parse_decimal_agrees_with_str_parse() {
        let fixed = [
            "",
            "+",
            "-",
            "-0",
            "0",
            "+0",
            "007",
            "42",
            " 42",
            "42 ",
            "4 2",
            "++1",
            "+-1",
            "1a",
            "٣",
            "255",
            "256",
            "65535",
            "65536",
            "4294967295",
            "4294967296",
            "99999999999999999999",
        ];
        let numbers = (0..2000u64).map(|i| std::format!("{}", i * i * i * 613));
        for text in fixed.iter().map(|t| std::string::String::from(*t)).chain(numbers) {
            let ours = parse_decimal(&text);
            assert_eq!(ours, text.parse::<u32>().ok(), "{text:?}");
            assert_eq!(
                ours.and_then(|n| u16::try_from(n).ok()),
                text.parse::<u16>().ok(),
                "{text:?}"
            );
            assert_eq!(
                ours.and_then(|n| u8::try_from(n).ok()),
                text.parse::<u8>().ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn failed_push_writes_nothing() {
        let mut buf = [0u8; 4];
        let mut w = ByteWriter::new(&mut buf);
        w.push(b"ab").unwrap();
        assert_eq!(w.push(b"cde"), Err(BufferTooSmall));
        assert_eq!(w.written(), b"ab");
        assert_eq!(w.push_xml_escaped("<"), Err(BufferTooSmall));
        assert_eq!(w.written(), b"ab");
    }

    #[test]
    fn decimal_and_escaping() {
        let mut buf = [0u8; 64];
        let mut w = ByteWriter::new(&mut buf);
        w.push_u64(0).unwrap();
        w.push_u64(18_446_744_073_709_551_615).unwrap();
        w.push_xml_escaped("a<b&'\"").unwrap();
        assert_eq!(
            w.written(),
            b"018446744073709551615a&lt;b&amp;&apos;&quot;".as_slice()
        );
    }

    #[test]
    fn decimal_matches_display() {
        for n in [0, 7, 10, 99, 100, 65_535, 4_294_967_295, u64::MAX] {
            assert_eq!(Decimal::new(n).as_str(), std::format!("{n}"));
        }
    }

    #[test]
    fn push_all_is_all_or_nothing() {
        let mut buf = [0u8; 6];
        let mut w = ByteWriter::new(&mut buf);
        w.push_all(&["ab", "cd"]).unwrap();
        assert_eq!(w.push_all(&["e", "fg"]), Err(BufferTooSmall));
        assert_eq!(w.written(), b"abcd");
    }

    #[test]
    fn display_pieces_joins_what_describe_hands_out() {
        struct Two;
        impl fmt::Display for Two {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                display_pieces(f, |out| {
                    out("one, ");
                    out(Decimal::new(2).as_str());
                })
            }
        }
        assert_eq!(std::format!("{Two}"), "one, 2");
    }
}
