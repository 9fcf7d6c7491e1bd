//! An owned, indexed SIP message: the bytes as received plus the offsets the core's zero-copy view found.
//!
//! The core's [`Message`] borrows both the input and a slot array, which cannot cross an `.await`. The
//! server parses each message exactly once with the core, then keeps the byte ranges of the start line,
//! the header lines and the body next to the (reference-counted) bytes, so any task can look values up
//! again without re-parsing. Typed values are parsed on demand with the core's header parsers.

use bytes::Bytes;
use simple_im_core::sip::header::{split_list, NameAddr, Via};
use simple_im_core::sip::{check, Header, HeaderName, Message, ParseConfig, StartLine, DEFAULT_MAX_HEADERS};
use std::ops::Range;

/// The start line of an owned message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// `METHOD uri SIP/2.0`.
    Request { method: Range<usize>, uri: Range<usize> },
    /// `SIP/2.0 code reason`.
    Response { code: u16, reason: Range<usize> },
}

/// Why received bytes are not a message the server acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Not even a SIP message: dropped silently (there is nothing to answer).
    Unparsable(String),
    /// A message that parsed but breaks RFC 3261; for a request, answered with 400 and this reason.
    Invalid {
        message: Box<SipMessage>,
        reason: String,
    },
}

/// One received (or built) SIP message with its index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipMessage {
    raw: Bytes,
    start: Start,
    headers: Vec<(Range<usize>, Range<usize>)>,
    body: Range<usize>,
}

/// Header slots for one parse: more than any sane message, like the core's default.
const SLOTS: usize = 2 * DEFAULT_MAX_HEADERS;

impl SipMessage {
    /// Parses a datagram (`stream == false`) or one framed stream message, then validates it.
    pub fn parse(raw: Bytes, stream: bool) -> Result<SipMessage, Rejected> {
        let mut slots = [Header::EMPTY; SLOTS];
        let config = ParseConfig::default();
        let parsed = if stream {
            Message::parse_stream(&raw, &mut slots, &config)
        } else {
            Message::parse_datagram(&raw, &mut slots, &config)
        };
        let msg = parsed.map_err(|e| Rejected::Unparsable(e.to_string()))?;
        let range = |part: &str| -> Range<usize> {
            let at = msg.offset_of(part).unwrap_or(0);
            at..at + part.len()
        };
        let start = match *msg.start_line() {
            StartLine::Request { method, uri, .. } => {
                let text = msg.start_line_text();
                let method_len = method.as_str().len().min(text.len());
                let at = msg.offset_of(text).unwrap_or(0);
                Start::Request {
                    method: at..at + method_len,
                    uri: range(uri),
                }
            }
            StartLine::Response { code, reason, .. } => Start::Response {
                code,
                reason: range(reason),
            },
        };
        let headers = msg
            .headers()
            .iter()
            .map(|h| (range(h.name), range(h.value)))
            .collect();
        let body = range_of_body(&msg);
        let verdict = check(&msg).map_err(|e| e.to_string());
        let message = SipMessage {
            raw: raw.clone(),
            start,
            headers,
            body,
        };
        match verdict {
            Ok(()) => Ok(message),
            Err(reason) => Err(Rejected::Invalid {
                message: Box::new(message),
                reason,
            }),
        }
    }

    fn text(&self, range: &Range<usize>) -> &str {
        self.raw
            .get(range.clone())
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The bytes as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The start line.
    pub fn start(&self) -> &Start {
        &self.start
    }

    /// The method of a request (`None` for a response).
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            Start::Request { method, .. } => Some(self.text(method)),
            Start::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            Start::Request { uri, .. } => Some(self.text(uri)),
            Start::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            Start::Response { code, .. } => Some(*code),
            Start::Request { .. } => None,
        }
    }

    /// The reason phrase of a response.
    pub fn reason(&self) -> &str {
        match &self.start {
            Start::Response { reason, .. } => self.text(reason),
            Start::Request { .. } => "",
        }
    }

    /// Every header line as (name as written, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (self.text(n), self.text(v)))
    }

    /// The value of the first line called `name`.
    pub fn header(&self, name: HeaderName<'_>) -> Option<&str> {
        self.headers().find(|(n, _)| name.matches(n)).map(|(_, v)| v)
    }

    /// All values of `name`, across lines and (for list headers) comma-separated items.
    pub fn values<'s>(&'s self, name: HeaderName<'s>) -> impl Iterator<Item = &'s str> + 's {
        self.headers()
            .filter(move |(n, _)| name.matches(n))
            .flat_map(move |(_, v)| {
                let items: Vec<&str> = if name.is_list() {
                    split_list(v).collect()
                } else {
                    vec![v]
                };
                items
            })
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        self.raw.get(self.body.clone()).unwrap_or(&[])
    }

    /// The top Via, parsed.
    pub fn top_via(&self) -> Option<Via<'_>> {
        self.values(HeaderName::Via)
            .next()
            .and_then(|v| Via::parse(v).ok())
    }

    /// From, parsed.
    pub fn from(&self) -> Option<NameAddr<'_>> {
        self.header(HeaderName::From)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    /// To, parsed.
    pub fn to(&self) -> Option<NameAddr<'_>> {
        self.header(HeaderName::To).and_then(|v| NameAddr::parse(v).ok())
    }

    /// The CSeq method (the transaction key's method for responses).
    pub fn cseq_method(&self) -> Option<&str> {
        let cseq = self.header(HeaderName::CSeq)?;
        cseq.split_whitespace().nth(1)
    }

    /// Call-ID.
    pub fn call_id(&self) -> &str {
        self.header(HeaderName::CallId).unwrap_or("")
    }

    /// Re-runs the core's view over the bytes, for the core functions that take a [`Message`]
    /// (`response_to`, `ack_for_non_2xx`). `f` receives the view.
    pub fn with_view<T>(&self, f: impl FnOnce(&Message<'_, '_>) -> T) -> Option<T> {
        let mut slots = [Header::EMPTY; SLOTS];
        let msg = Message::parse_datagram(&self.raw, &mut slots, &ParseConfig::default()).ok()?;
        Some(f(&msg))
    }
}

fn range_of_body(msg: &Message<'_, '_>) -> Range<usize> {
    let body = msg.body();
    if body.is_empty() {
        return 0..0;
    }
    let at = msg.offset_of_bytes(body);
    at..at + body.len()
}

/// A header value with any folding (CRLF + whitespace) replaced by one space, ready to copy.
pub fn unfold(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\r', '\n']) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut in_break = false;
    for c in value.chars() {
        if c == '\r' || c == '\n' || (in_break && (c == ' ' || c == '\t')) {
            if !in_break {
                out.push(' ');
            }
            in_break = true;
        } else {
            in_break = false;
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

trait OffsetOfBytes {
    fn offset_of_bytes(&self, part: &[u8]) -> usize;
}

impl OffsetOfBytes for Message<'_, '_> {
    fn offset_of_bytes(&self, part: &[u8]) -> usize {
        let raw = self.raw();
        let base = raw.as_ptr() as usize;
        (part.as_ptr() as usize)
            .checked_sub(base)
            .filter(|at| at + part.len() <= raw.len())
            .unwrap_or(0)
    }
}

/// The top Via value as RFC 3581 §4 / RFC 3261 §18.2.1 want it after receipt from `peer`: an empty
/// `rport` filled with the source port, and `received` added when the client asked for `rport` or
/// wrote another host than the packet's source address.
pub fn via_with_received(value: &str, peer: std::net::SocketAddr) -> String {
    let value = unfold(value);
    let mut parts = value.split(';');
    let sent_by_part = parts.next().unwrap_or("");
    let mut out = sent_by_part.trim_end().to_owned();
    let mut asked_rport = false;
    let mut has_received = false;
    for param in parts {
        let name = param.split('=').next().unwrap_or("").trim().to_ascii_lowercase();
        if name == "rport" && !param.contains('=') {
            asked_rport = true;
            out.push_str(&format!(";rport={}", peer.port()));
            continue;
        }
        has_received |= name == "received";
        out.push(';');
        out.push_str(param.trim());
    }
    let host_matches = Via::parse(&value)
        .is_ok_and(|via| via.host.to_string().trim_matches(['[', ']']) == peer.ip().to_string());
    if !has_received && (asked_rport || !host_matches) {
        out.push_str(&format!(";received={}", peer.ip()));
    }
    out
}
