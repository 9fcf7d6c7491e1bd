//! Writing MSRP messages into caller buffers.
//!
//! [`Writer`] appends pieces (start line, header fields, blank line, body, end-line) to a `&mut [u8]`
//! and fails with [`BuildError::BufferTooSmall`] instead of truncating. A large body does not need to
//! be written at once: write the header block, then body bytes in as many calls (and buffers) as you
//! like, then [`Writer::end_line`]. The helpers [`write_response`] and [`write_report`] build the two
//! messages every endpoint must produce.

use core::fmt;

use super::head::{ByteRange, Method, Status};
use super::{Continuation, END_LINE_DASHES};
use crate::write::{BufferTooSmall, ByteWriter, Decimal};

/// Why a message could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BuildError {
    /// The caller's buffer cannot hold the message; nothing useful was written.
    BufferTooSmall,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer too small for the MSRP message; pass a larger buffer or send a smaller chunk")
    }
}

impl From<BufferTooSmall> for BuildError {
    fn from(_: BufferTooSmall) -> Self {
        BuildError::BufferTooSmall
    }
}

/// Appends MSRP text to a caller buffer (the crate's [`ByteWriter`] with the MSRP pieces on top).
#[derive(Debug)]
pub struct Writer<'b> {
    out: ByteWriter<'b>,
}

impl<'b> Writer<'b> {
    /// An empty writer over `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer {
            out: ByteWriter::new(buf),
        }
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        self.out.remaining()
    }
    /// The free part of the buffer, to fill directly (then call [`Writer::advance`]).
    pub fn spare(&mut self) -> &mut [u8] {
        self.out.spare()
    }
    /// Marks `n` bytes of [`Writer::spare`] as written.
    pub fn advance(&mut self, n: usize) -> Result<(), BuildError> {
        Ok(self.out.advance(n)?)
    }
    /// Forgets everything written after the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
    }
    /// The written bytes.
    pub fn written(&self) -> &[u8] {
        self.out.written()
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        Ok(self.out.push(bytes)?)
    }
    /// Appends formatted text.
    pub fn fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), BuildError> {
        Ok(self.out.push_fmt(args)?)
    }
    /// Appends `pieces` in order (the device path's way to write text: no `core::fmt`).
    fn pieces(&mut self, pieces: &[&str]) -> Result<(), BuildError> {
        Ok(self.out.push_all(pieces)?)
    }
    /// `MSRP <tid> <METHOD>` CRLF.
    pub fn request_line(&mut self, tid: &str, method: Method<'_>) -> Result<(), BuildError> {
        self.pieces(&["MSRP ", tid, " ", method.as_str(), "\r\n"])
    }
    /// `MSRP <tid> <code>[ <comment>]` CRLF.
    pub fn response_line(&mut self, tid: &str, code: u16, comment: Option<&str>) -> Result<(), BuildError> {
        let code = StatusDigits::new(code);
        match comment {
            Some(c) => self.pieces(&["MSRP ", tid, " ", code.as_str(), " ", c, "\r\n"]),
            None => self.pieces(&["MSRP ", tid, " ", code.as_str(), "\r\n"]),
        }
    }
    /// `<name>: <value>` CRLF.
    pub fn header(&mut self, name: &str, value: &str) -> Result<(), BuildError> {
        self.pieces(&[name, ": ", value, "\r\n"])
    }
    /// `Byte-Range: ...` CRLF (`start-end/total`, `*` for an unknown end or total).
    pub fn byte_range(&mut self, range: &ByteRange) -> Result<(), BuildError> {
        let start = Decimal::new(range.start);
        let end = range.end.map(Decimal::new);
        let total = range.total.map(Decimal::new);
        let (end, total) = (star_or(&end), star_or(&total));
        self.pieces(&["Byte-Range: ", start.as_str(), "-", end, "/", total, "\r\n"])
    }
    /// `Status: NNN NNN[ comment]` CRLF.
    pub fn status(&mut self, status: &Status<'_>) -> Result<(), BuildError> {
        let namespace = StatusDigits::new(status.namespace);
        let code = StatusDigits::new(status.code);
        let (namespace, code) = (namespace.as_str(), code.as_str());
        match status.comment {
            Some(c) => self.pieces(&["Status: ", namespace, " ", code, " ", c, "\r\n"]),
            None => self.pieces(&["Status: ", namespace, " ", code, "\r\n"]),
        }
    }
    /// The blank line between headers and body.
    pub fn blank_line(&mut self) -> Result<(), BuildError> {
        self.bytes(b"\r\n")
    }
    /// The end-line. `after_body`: a body was written, so the CRLF that closes it comes first.
    pub fn end_line(&mut self, tid: &str, flag: Continuation, after_body: bool) -> Result<(), BuildError> {
        let start = self.len();
        let r = (|| {
            if after_body {
                self.bytes(b"\r\n")?;
            }
            self.bytes(END_LINE_DASHES)?;
            self.bytes(tid.as_bytes())?;
            self.bytes(&[flag.as_byte(), b'\r', b'\n'])
        })();
        if r.is_err() {
            self.truncate(start);
        }
        r
    }
}

/// The digits, or `*` for an unknown value (Byte-Range).
fn star_or(value: &Option<Decimal>) -> &str {
    value.as_ref().map_or("*", Decimal::as_str)
}

/// A status code or namespace as MSRP writes it: at least three digits, zero-padded (`000`, `200`),
/// like `{:03}`.
struct StatusDigits {
    digits: [u8; 3],
    wide: Option<Decimal>,
}

impl StatusDigits {
    fn new(n: u16) -> Self {
        let digit = |place: u16| b'0' + ((n / place) % 10) as u8;
        StatusDigits {
            digits: [digit(100), digit(10), digit(1)],
            wide: (n > 999).then(|| Decimal::new(u64::from(n))),
        }
    }

    fn as_str(&self) -> &str {
        match &self.wide {
            Some(wide) => wide.as_str(),
            None => core::str::from_utf8(&self.digits).unwrap_or("000"),
        }
    }
}

/// A transaction response (RFC 4975 §7.2): To-Path is the previous hop (first URI of the request's
/// From-Path), From-Path is the responder's own URI. Returns the length written.
pub fn write_response(
    buf: &mut [u8],
    tid: &str,
    code: u16,
    comment: Option<&str>,
    to_path: &str,
    from_path: &str,
) -> Result<usize, BuildError> {
    let mut w = Writer::new(buf);
    w.response_line(tid, code, comment)?;
    w.header("To-Path", to_path)?;
    w.header("From-Path", from_path)?;
    w.end_line(tid, Continuation::Complete, false)?;
    Ok(w.len())
}

/// A bodiless REPORT (RFC 4975 §7.1.2): To-Path is the reported request's whole From-Path.
#[allow(clippy::too_many_arguments)]
pub fn write_report(
    buf: &mut [u8],
    tid: &str,
    to_path: &str,
    from_path: &str,
    message_id: &str,
    range: Option<&ByteRange>,
    status: &Status<'_>,
) -> Result<usize, BuildError> {
    let mut w = Writer::new(buf);
    w.request_line(tid, Method::Report)?;
    w.header("To-Path", to_path)?;
    w.header("From-Path", from_path)?;
    w.header("Message-ID", message_id)?;
    if let Some(r) = range {
        w.byte_range(r)?;
    }
    w.status(status)?;
    w.end_line(tid, Continuation::Complete, false)?;
    Ok(w.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn written(write: impl FnOnce(&mut Writer<'_>) -> Result<(), BuildError>) -> std::string::String {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        write(&mut w).unwrap();
        std::string::String::from_utf8(w.written().to_vec()).unwrap()
    }

    #[test]
    fn lines_match_the_formatted_text() {
        for code in [0u16, 7, 42, 200, 413, 999, 1000, 65535] {
            let line = written(|w| w.response_line("t1", code, None));
            assert_eq!(line, format!("MSRP t1 {:03}\r\n", code));
            let line = written(|w| w.response_line("t1", code, Some("OK")));
            assert_eq!(line, format!("MSRP t1 {:03} OK\r\n", code));
            let status = Status {
                namespace: 0,
                code,
                comment: None,
            };
            assert_eq!(
                written(|w| w.status(&status)),
                format!("Status: 000 {:03}\r\n", code)
            );
        }
        for (start, end, total) in [
            (1, Some(0), Some(0)),
            (1, None, None),
            (18446744073709551615, Some(9), None),
        ] {
            let range = ByteRange { start, end, total };
            assert_eq!(
                written(|w| w.byte_range(&range)),
                format!("Byte-Range: {}\r\n", range)
            );
        }
        assert_eq!(
            written(|w| w.request_line("ab", Method::Send)),
            "MSRP ab SEND\r\n"
        );
        assert_eq!(
            written(|w| w.header("To-Path", "msrp://a")),
            "To-Path: msrp://a\r\n"
        );
    }

    #[test]
    fn a_line_that_does_not_fit_writes_nothing() {
        let mut buf = [0u8; 12];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.header("To-Path", "msrp://a"), Err(BuildError::BufferTooSmall));
        assert!(w.is_empty());
    }
}
