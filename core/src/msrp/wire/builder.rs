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
use crate::write::{BufferTooSmall, ByteWriter};

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
    /// `MSRP <tid> <METHOD>` CRLF.
    pub fn request_line(&mut self, tid: &str, method: Method<'_>) -> Result<(), BuildError> {
        self.fmt(format_args!("MSRP {} {}\r\n", tid, method.as_str()))
    }
    /// `MSRP <tid> <code>[ <comment>]` CRLF.
    pub fn response_line(&mut self, tid: &str, code: u16, comment: Option<&str>) -> Result<(), BuildError> {
        match comment {
            Some(c) => self.fmt(format_args!("MSRP {} {:03} {}\r\n", tid, code, c)),
            None => self.fmt(format_args!("MSRP {} {:03}\r\n", tid, code)),
        }
    }
    /// `<name>: <value>` CRLF.
    pub fn header(&mut self, name: &str, value: &str) -> Result<(), BuildError> {
        self.fmt(format_args!("{}: {}\r\n", name, value))
    }
    /// `Byte-Range: ...` CRLF.
    pub fn byte_range(&mut self, range: &ByteRange) -> Result<(), BuildError> {
        self.fmt(format_args!("Byte-Range: {}\r\n", range))
    }
    /// `Status: NNN NNN[ comment]` CRLF.
    pub fn status(&mut self, status: &Status<'_>) -> Result<(), BuildError> {
        match status.comment {
            Some(c) => self.fmt(format_args!(
                "Status: {:03} {:03} {}\r\n",
                status.namespace, status.code, c
            )),
            None => self.fmt(format_args!(
                "Status: {:03} {:03}\r\n",
                status.namespace, status.code
            )),
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
