//! Writing messages into caller buffers.
//!
//! [`MessageWriter`] writes a start line, then headers in the order given, then (in
//! [`MessageWriter::finish`]) a `Content-Length` computed from the body, the empty line and the body.
//! Nothing is allocated; running out of buffer is [`BuildError::BufferTooSmall`].
//!
//! ## Canonical form
//!
//! [`emit`] writes a parsed [`Message`] in this project's canonical form, chosen so that
//! `parse(emit(m))` has the same start line, the same header values in the same order and the same body,
//! and `emit` of that is byte-identical:
//!
//! - start line with single SPs;
//! - one output line per input header line, in order; comma lists are neither split nor merged
//!   (merging would move values between lines, which RFC 3261 §7.3.1 allows but proxies then diff);
//! - known names in their full canonical spelling (`v` and `VIA` become `Via`), unknown names as written;
//! - folded values unfolded: each run of LWS containing a line break becomes one SP;
//! - every `Content-Length` dropped and one written last, equal to the body length.

#[cfg(test)]
use crate::sip::header::CSeq; // the tests name it through `super::*`
use crate::sip::header::{is_lws_byte, HeaderName, NameAddr};
use crate::sip::message::{Message, StartLine};
use crate::sip::method::Method;
use crate::write::{ByteWriter, Decimal};
use core::fmt;

/// Why a message could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BuildError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// A value contains a line break, which would inject header lines.
    LineBreakInValue,
    /// The request to answer lacks a header the response must copy (named).
    MissingHeader(&'static str),
    /// A header of the request to answer is malformed (named).
    MalformedHeader(&'static str),
    /// A response was given where a request is needed, or the reverse.
    WrongKind,
}

impl From<crate::write::BufferTooSmall> for BuildError {
    fn from(_: crate::write::BufferTooSmall) -> Self {
        BuildError::BufferTooSmall
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BufferTooSmall => f.write_str("output buffer too small for the message"),
            BuildError::LineBreakInValue => f.write_str("header value contains CR or LF"),
            BuildError::MissingHeader(name) => {
                write!(f, "the request has no {name} header to copy")
            }
            BuildError::MalformedHeader(name) => {
                write!(f, "the {name} header of the request is malformed")
            }
            BuildError::WrongKind => f.write_str("expected a request, got a response (or the reverse)"),
        }
    }
}

/// Writes one message into a caller buffer.
#[derive(Debug)]
pub struct MessageWriter<'b> {
    out: ByteWriter<'b>,
}

impl fmt::Write for MessageWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl<'b> MessageWriter<'b> {
    /// Starts a request: `METHOD SP uri SP SIP/2.0`.
    pub fn request(buf: &'b mut [u8], method: Method<'_>, uri: &str) -> Result<Self, BuildError> {
        let mut w = MessageWriter {
            out: ByteWriter::new(buf),
        };
        no_line_break(uri)?;
        w.put_all(&[method.as_str(), " ", uri, " SIP/2.0\r\n"])?;
        Ok(w)
    }

    /// Starts a response: `SIP/2.0 SP code SP reason`.
    pub fn response(buf: &'b mut [u8], code: u16, reason: &str) -> Result<Self, BuildError> {
        let mut w = MessageWriter {
            out: ByteWriter::new(buf),
        };
        no_line_break(reason)?;
        w.put(b"SIP/2.0 ")?;
        w.put_code(code)?;
        w.put_all(&[" ", reason, "\r\n"])?;
        Ok(w)
    }

    /// Adds a header line with the name's canonical spelling. Content-Length is ignored here because
    /// [`MessageWriter::finish`] writes the right one.
    pub fn header(&mut self, name: HeaderName<'_>, value: &str) -> Result<&mut Self, BuildError> {
        no_line_break(value)?;
        self.header_unchecked(name, value, false)
    }

    /// Adds a header line whose value is `pieces` joined, with the checks of [`MessageWriter::header`].
    /// The device path's way to write a value made of parts (numbers via [`crate::write::Decimal`]),
    /// which keeps `core::fmt` out of the firmware.
    pub fn header_parts(&mut self, name: HeaderName<'_>, pieces: &[&str]) -> Result<&mut Self, BuildError> {
        if name == HeaderName::ContentLength {
            return Ok(self);
        }
        self.put_all(&[name.as_str(), ": "])?;
        let start = self.out.len();
        self.put_all(pieces)?;
        self.end_checked_value(start)
    }

    /// Adds a header line whose value is formatted (`format_args!("{} INVITE", seq)`). Host code only:
    /// it links `core::fmt` (devices use [`MessageWriter::header_parts`]).
    pub fn header_fmt(
        &mut self,
        name: HeaderName<'_>,
        value: fmt::Arguments<'_>,
    ) -> Result<&mut Self, BuildError> {
        if name == HeaderName::ContentLength {
            return Ok(self);
        }
        self.put_all(&[name.as_str(), ": "])?;
        let start = self.out.len();
        fmt::Write::write_fmt(self, value).map_err(|_| BuildError::BufferTooSmall)?;
        self.end_checked_value(start)
    }

    /// Ends a header line whose value began at `start`, refusing a value with a line break in it.
    fn end_checked_value(&mut self, start: usize) -> Result<&mut Self, BuildError> {
        if self
            .out
            .written()
            .get(start..)
            .is_some_and(|v| v.iter().any(|&b| b == b'\r' || b == b'\n'))
        {
            return Err(BuildError::LineBreakInValue);
        }
        self.put(b"\r\n")?;
        Ok(self)
    }

    fn header_unchecked(
        &mut self,
        name: HeaderName<'_>,
        value: &str,
        unfold: bool,
    ) -> Result<&mut Self, BuildError> {
        if name == HeaderName::ContentLength {
            return Ok(self);
        }
        self.put_all(&[name.as_str(), ": "])?;
        if unfold {
            self.put_unfolded(value)?;
        } else {
            self.put(value.as_bytes())?;
        }
        self.put(b"\r\n")?;
        Ok(self)
    }

    /// Writes `Content-Length`, the empty line and the body; returns the message length.
    pub fn finish(mut self, body: &[u8]) -> Result<usize, BuildError> {
        self.put(b"Content-Length: ")?;
        let length = u64::try_from(body.len()).unwrap_or(u64::MAX);
        self.out.push_u64(length)?;
        self.put(b"\r\n\r\n")?;
        self.put(body)?;
        Ok(self.out.len())
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing was written (never true after a constructor succeeded).
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        Ok(self.out.push(bytes)?)
    }

    fn put_all(&mut self, parts: &[&str]) -> Result<(), BuildError> {
        Ok(self.out.push_all(parts)?)
    }

    fn put_code(&mut self, code: u16) -> Result<(), BuildError> {
        let code = code.min(999);
        self.put(&[
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ])
    }

    /// Writes a value with each LWS run that contains a line break replaced by one SP.
    fn put_unfolded(&mut self, value: &str) -> Result<(), BuildError> {
        let bytes = value.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let Some(rel) = crate::substring::memchr2(b'\r', b'\n', bytes.get(i..).unwrap_or(&[])) else {
                return self.put(bytes.get(i..).unwrap_or(&[]));
            };
            let brk = i + rel;
            let mut run_start = brk;
            while run_start > i && bytes.get(run_start - 1).is_some_and(|&b| is_lws_byte(b)) {
                run_start -= 1;
            }
            let mut run_end = brk;
            while bytes.get(run_end).is_some_and(|&b| is_lws_byte(b)) {
                run_end += 1;
            }
            self.put(bytes.get(i..run_start).unwrap_or(&[]))?;
            self.put(b" ")?;
            i = run_end;
        }
        Ok(())
    }
}

fn no_line_break(s: &str) -> Result<(), BuildError> {
    match crate::substring::memchr2(b'\r', b'\n', s.as_bytes()) {
        Some(_) => Err(BuildError::LineBreakInValue),
        None => Ok(()),
    }
}

/// Writes `message` in canonical form (see the module docs); returns the length written.
pub fn emit(message: &Message<'_, '_>, buf: &mut [u8]) -> Result<usize, BuildError> {
    let mut w = match *message.start_line() {
        StartLine::Request { method, uri, version } => {
            let mut w = MessageWriter {
                out: ByteWriter::new(buf),
            };
            w.put_all(&[method.as_str(), " ", uri, " ", version, "\r\n"])?;
            w
        }
        StartLine::Response {
            version,
            code,
            reason,
        } => {
            let mut w = MessageWriter {
                out: ByteWriter::new(buf),
            };
            w.put_all(&[version, " "])?;
            w.put_code(code)?;
            w.put_all(&[" ", reason, "\r\n"])?;
            w
        }
    };
    for h in message.headers() {
        w.header_unchecked(HeaderName::parse(h.name), h.value, true)?;
    }
    w.finish(message.body())
}

/// Starts a response to `request` per RFC 3261 §8.2.6.2: copies every Via (in order), From, To, Call-ID
/// and CSeq, and adds `;tag=to_tag` to To when the request's To has no tag and `code` is above 100.
/// Add further headers to the returned writer, then [`MessageWriter::finish`] it.
pub fn response_to<'b>(
    request: &Message<'_, '_>,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    buf: &'b mut [u8],
) -> Result<MessageWriter<'b>, BuildError> {
    if !request.is_request() {
        return Err(BuildError::WrongKind);
    }
    let mut w = MessageWriter::response(buf, code, reason)?;
    for via in request.headers_named(HeaderName::Via) {
        w.header_unchecked(HeaderName::Via, via.value, true)?;
    }
    let from = request
        .header(HeaderName::From)
        .ok_or(BuildError::MissingHeader("From"))?;
    w.header_unchecked(HeaderName::From, from, true)?;
    let to = request
        .header(HeaderName::To)
        .ok_or(BuildError::MissingHeader("To"))?;
    let has_tag = NameAddr::parse(to)
        .map_err(|_| BuildError::MalformedHeader("To"))?
        .tag()
        .is_some();
    match to_tag {
        Some(tag) if !has_tag && code > 100 => {
            no_line_break(tag)?;
            w.put_all(&["To: "])?;
            w.put_unfolded(to)?;
            w.put_all(&[";tag=", tag, "\r\n"])?;
        }
        _ => {
            w.header_unchecked(HeaderName::To, to, true)?;
        }
    }
    let call_id = request.call_id().ok_or(BuildError::MissingHeader("Call-ID"))?;
    w.header_unchecked(HeaderName::CallId, call_id, true)?;
    let cseq = request
        .cseq()
        .ok_or(BuildError::MissingHeader("CSeq"))?
        .map_err(|_| BuildError::MalformedHeader("CSeq"))?;
    let seq = Decimal::new(cseq.seq.into());
    w.header_parts(HeaderName::CSeq, &[seq.as_str(), " ", cseq.method.as_str()])?;
    Ok(w)
}

/// Builds the ACK for a non-2xx final response to `invite` (RFC 3261 §17.1.1.3): same Request-URI,
/// Call-ID, From and CSeq number as the INVITE, method ACK, only the INVITE's top Via, the response's To
/// (with its tag), the INVITE's Route headers, and the INVITE's Max-Forwards (70 when it had none).
pub fn ack_for_non_2xx(
    invite: &Message<'_, '_>,
    response: &Message<'_, '_>,
    buf: &mut [u8],
) -> Result<usize, BuildError> {
    let (Some(uri), true) = (invite.request_uri(), response.status_code().is_some()) else {
        return Err(BuildError::WrongKind);
    };
    let mut w = MessageWriter::request(buf, Method::Ack, uri)?;
    let top_via = invite
        .values(HeaderName::Via)
        .next()
        .ok_or(BuildError::MissingHeader("Via"))?;
    w.header_unchecked(HeaderName::Via, top_via, true)?;
    match invite.header(HeaderName::MaxForwards) {
        Some(mf) => w.header_unchecked(HeaderName::MaxForwards, mf, true)?,
        None => w.header(HeaderName::MaxForwards, "70")?,
    };
    for route in invite.headers_named(HeaderName::Route) {
        w.header_unchecked(HeaderName::Route, route.value, true)?;
    }
    let from = invite
        .header(HeaderName::From)
        .ok_or(BuildError::MissingHeader("From"))?;
    w.header_unchecked(HeaderName::From, from, true)?;
    let to = response
        .header(HeaderName::To)
        .ok_or(BuildError::MissingHeader("To"))?;
    w.header_unchecked(HeaderName::To, to, true)?;
    let call_id = invite.call_id().ok_or(BuildError::MissingHeader("Call-ID"))?;
    w.header_unchecked(HeaderName::CallId, call_id, true)?;
    let cseq = invite
        .cseq()
        .ok_or(BuildError::MissingHeader("CSeq"))?
        .map_err(|_| BuildError::MalformedHeader("CSeq"))?;
    let seq = Decimal::new(cseq.seq.into());
    w.header_parts(HeaderName::CSeq, &[seq.as_str(), " ", Method::Ack.as_str()])?;
    w.finish(&[])
}

#[cfg(test)]
mod tests;
