//! Writing into a caller's buffer, shared by every encoder of the crate.
//!
//! Every builder of the wire codecs (SDP, CPIM, IMDN, XML documents) appends to a `&mut [u8]` the caller
//! owns and fails with [`BufferTooSmall`] instead of truncating or allocating. (This module used to be
//! `xml::writer`; that path remains as an alias.) The writer never leaves a
//! half-written piece behind: a push that does not fit writes nothing.

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
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at = at.saturating_sub(1);
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + (rest % 10) as u8;
            }
            rest /= 10;
            if rest == 0 || at == 0 {
                break;
            }
        }
        self.push(digits.get(at..).unwrap_or(&[]))
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
}
