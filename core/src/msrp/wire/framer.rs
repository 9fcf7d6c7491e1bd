//! Framing: where a message's header block, body and end-line are.
//!
//! Two entry points share the same scanning code:
//!
//! - [`parse_message`]: the whole message is in one slice (fuzzing, the CLI, tests). Returns
//!   [`Parsed::Complete`] with the number of bytes used, or [`Parsed::Partial`].
//! - [`ChunkReader`]: a push parser for a byte stream. The header block is copied into a bounded buffer
//!   of `HEAD` bytes (a const generic, [`DEFAULT_MAX_HEAD_LEN`] by default); body bytes are handed out as
//!   slices of the caller's input as soon as they are known not to be part of the end-line, so a chunk
//!   of any size streams through a small buffer.
//!
//! ## Finding the end-line
//!
//! The body ends at the first `CRLF "-------" tid` followed by a flag byte and CRLF. The scanner looks
//! for the part every end-line shares, `CRLF "-------"`, with a substring searcher (`EndLineFinder`:
//! `memmem` on hosts, a compact search on devices, see `substring`; built once per reader because
//! building a `memmem` searcher costs about as much as scanning a 4 KiB read), then
//! compares the transaction id at each hit; a key whose id, flag or CRLF is wrong is body data and the
//! search goes on after it. Searching for the 9-byte prefix rather than for CR matters for file data:
//! CR is one byte in 256 of random data, and restarting a `memchr` every 256 bytes cost half the
//! throughput, while the prefix essentially never occurs by chance. When no hit is found, the longest suffix of the input that could still start an
//! end-line is held back (never more than [`MAX_END_LINE_LEN`] - 1 bytes) and everything before it is
//! body. A body that is empty may omit the CRLF before the end-line (`...CRLF CRLF -------tid$`), which
//! the scanner also accepts.

use core::fmt;

use crate::substring;

use super::head::{Head, HeadError};
use super::{
    is_valid_transaction_id, Continuation, END_LINE_DASHES, MAX_END_LINE_LEN, MAX_TRANSACTION_ID_LEN,
};

/// Default capacity of a [`ChunkReader`]'s header buffer. A request with a three-hop To-Path and
/// From-Path of ~80-byte URIs, Message-ID, Byte-Range, report headers and a Content-Type needs about
/// 700 bytes; 2 KiB leaves room for relays and extension headers while staying small on a device.
/// The header block plus the first [`MAX_END_LINE_LEN`] bytes after it must fit.
pub const DEFAULT_MAX_HEAD_LEN: usize = 2048;

/// Why a byte stream is not MSRP. After any of these the stream cannot be resynchronised: close the
/// connection (RFC 4975 §5.4 then treats its sessions as failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// The header block did not end within the header buffer (`HEAD` bytes).
    HeadTooLarge,
    /// The first line is not `MSRP <transaction-id> ...`.
    BadStartLine,
    /// The header block does not parse (see [`HeadError`]).
    Head(HeadError),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::HeadTooLarge => f.write_str(
                "MSRP header block exceeds the reader's header buffer; raise HEAD or reject the peer",
            ),
            FrameError::BadStartLine => f.write_str("stream does not start with 'MSRP <transaction-id> '"),
            FrameError::Head(e) => write!(f, "malformed MSRP header block: {}", e),
        }
    }
}

impl From<HeadError> for FrameError {
    fn from(e: HeadError) -> Self {
        FrameError::Head(e)
    }
}

/// The `CRLF "-------" tid` search key of one transaction.
#[derive(Clone, Debug, Default)]
pub(crate) struct EndLineKey {
    bytes: heapless::Vec<u8, { 2 + 7 + MAX_TRANSACTION_ID_LEN }>,
}

impl EndLineKey {
    pub(crate) fn new(tid: &[u8]) -> Self {
        let mut bytes = heapless::Vec::new();
        // Capacity is exactly CRLF + dashes + the longest valid tid; callers validate the tid first.
        let _ = bytes.extend_from_slice(b"\r\n");
        let _ = bytes.extend_from_slice(END_LINE_DASHES);
        let _ = bytes.extend_from_slice(tid.get(..tid.len().min(MAX_TRANSACTION_ID_LEN)).unwrap_or(&[]));
        EndLineKey { bytes }
    }
    fn key(&self) -> &[u8] {
        &self.bytes
    }
}

/// The part of the end-line every transaction shares.
const END_LINE_PREFIX: &[u8] = b"\r\n-------";

/// A reusable searcher for [`END_LINE_PREFIX`]: build it once and keep it across reads.
#[derive(Clone, Debug)]
pub(crate) struct EndLineFinder(substring::Finder);

impl EndLineFinder {
    pub(crate) fn new() -> Self {
        EndLineFinder(substring::Finder::new(END_LINE_PREFIX))
    }
}

/// The result of scanning body bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyScan {
    /// The body ends after `body_len` bytes; the end-line (with its leading CRLF) ends at `end`.
    End {
        body_len: usize,
        end: usize,
        flag: Continuation,
    },
    /// The first `safe` bytes are body; the rest may begin the end-line and needs more input.
    Body { safe: usize },
}

/// Checks a candidate end-line at `hay[at..]` (`at` points at the key). `None` when more bytes are
/// needed, `Some(None)` when it is not an end-line, `Some(Some((flag, end)))` when it is.
fn end_line_at(hay: &[u8], at: usize, key_len: usize) -> Option<Option<(Continuation, usize)>> {
    let flag_at = at.checked_add(key_len)?;
    let tail = match hay.get(flag_at..flag_at + 3) {
        Some(t) => t,
        None => {
            // Too short to decide unless what we have already disagrees.
            let have = hay.get(flag_at..).unwrap_or(&[]);
            let flag_ok = have.first().is_none_or(|b| Continuation::from_byte(*b).is_some());
            let cr_ok = have.get(1).is_none_or(|b| *b == b'\r');
            return if flag_ok && cr_ok { None } else { Some(None) };
        }
    };
    match tail {
        [flag, b'\r', b'\n'] => Some(Continuation::from_byte(*flag).map(|flag| (flag, flag_at + 3))),
        _ => Some(None),
    }
}

/// Scans body bytes for the end-line. `at_body_start`: nothing of this body has been consumed yet, so
/// an end-line without its leading CRLF (an empty body) is accepted at offset 0.
pub(crate) fn scan_body(
    hay: &[u8],
    key: &EndLineKey,
    finder: &EndLineFinder,
    at_body_start: bool,
) -> BodyScan {
    let key = key.key();
    if at_body_start {
        let bare = key.get(2..).unwrap_or(&[]);
        let n = hay.len().min(bare.len());
        if hay.get(..n) == bare.get(..n) {
            if n < bare.len() {
                return BodyScan::Body { safe: 0 };
            }
            match end_line_at(hay, 0, bare.len()) {
                None => return BodyScan::Body { safe: 0 },
                Some(Some((flag, end))) => {
                    return BodyScan::End {
                        body_len: 0,
                        end,
                        flag,
                    }
                }
                Some(None) => {}
            }
        }
    }
    let mut from = 0;
    loop {
        let window = hay.get(from..).unwrap_or(&[]);
        match find_key(window, key, finder) {
            Some(i) => {
                let at = from + i;
                match end_line_at(hay, at, key.len()) {
                    None => return BodyScan::Body { safe: at },
                    Some(Some((flag, end))) => {
                        return BodyScan::End {
                            body_len: at,
                            end,
                            flag,
                        }
                    }
                    Some(None) => from = at + 1,
                }
            }
            None => {
                let held = partial_key_suffix(window, key);
                return BodyScan::Body {
                    safe: hay.len() - held,
                };
            }
        }
    }
}

/// First complete occurrence of `key` in `hay`: `finder` locates the shared prefix, then the whole
/// key is compared.
fn find_key(hay: &[u8], key: &[u8], finder: &EndLineFinder) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = finder.0.find(hay.get(from..)?) {
        let at = from + i;
        if hay.get(at..)?.starts_with(key) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Length of the longest suffix of `hay` that is a proper prefix of `key`.
fn partial_key_suffix(hay: &[u8], key: &[u8]) -> usize {
    let longest = hay.len().min(key.len().saturating_sub(1));
    let tail_start = hay.len() - longest;
    let tail = hay.get(tail_start..).unwrap_or(&[]);
    // Candidates start at a CR (every key starts with CRLF); try the longest first.
    for i in memchr::memchr_iter(b'\r', tail) {
        let suffix = tail.get(i..).unwrap_or(&[]);
        if key.starts_with(suffix) {
            return suffix.len();
        }
    }
    0
}

/// Where a header block ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadEnd {
    /// Length of the header block (start line and headers, including the last CRLF).
    pub head_len: usize,
    /// Where the body (or the bare end-line of a bodiless message) begins.
    pub body_start: usize,
}

/// Finds the first line's transaction-id: `Ok(None)` when the line is not complete yet.
pub(crate) fn start_line_tid(buf: &[u8]) -> Result<Option<&[u8]>, FrameError> {
    const PREFIX: &[u8] = b"MSRP ";
    let n = buf.len().min(PREFIX.len());
    if buf.get(..n) != PREFIX.get(..n) {
        return Err(FrameError::BadStartLine);
    }
    let rest = buf.get(PREFIX.len()..).unwrap_or(&[]);
    let limit = rest.len().min(MAX_TRANSACTION_ID_LEN + 1);
    match memchr::memchr(b' ', rest.get(..limit).unwrap_or(&[])) {
        Some(sp) => {
            let tid = rest.get(..sp).unwrap_or(&[]);
            if core::str::from_utf8(tid).is_ok_and(is_valid_transaction_id) {
                Ok(Some(tid))
            } else {
                Err(FrameError::Head(HeadError::BadTransactionId))
            }
        }
        None if limit > MAX_TRANSACTION_ID_LEN || memchr::memchr(b'\n', rest).is_some() => {
            Err(FrameError::Head(HeadError::BadTransactionId))
        }
        None => Ok(None),
    }
}

/// Finds the end of the header block, searching from `from` (a resume point; use 0 the first time).
pub(crate) fn find_head_end(buf: &[u8], key: &EndLineKey, from: usize) -> Option<HeadEnd> {
    let line_end = substring::find(buf, b"\r\n")?;
    let from = from.max(line_end);
    let window = buf.get(from..)?;
    let blank = substring::find(window, b"\r\n\r\n").map(|i| from + i);
    let end_line = substring::find(window, key.key()).map(|i| from + i);
    match (blank, end_line) {
        (Some(b), e) if e.is_none_or(|e| b < e) => Some(HeadEnd {
            head_len: b + 2,
            body_start: b + 4,
        }),
        (_, Some(e)) => Some(HeadEnd {
            head_len: e + 2,
            body_start: e + 2,
        }),
        _ => None,
    }
}

/// A whole message found in a slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Start line and headers.
    pub head: Head<'a>,
    /// The body without the CRLF that precedes the end-line (empty for bodiless messages).
    pub body: &'a [u8],
    /// The end-line's flag.
    pub continuation: Continuation,
}

/// The outcome of [`parse_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
// Returned by value once per message; boxing is not an option without an allocator.
#[allow(clippy::large_enum_variant)]
pub enum Parsed<'a> {
    /// A message, and how many bytes of the input it used.
    Complete(Message<'a>, usize),
    /// More bytes are needed.
    Partial,
}

/// Parses one message from the start of `input`.
pub fn parse_message(input: &[u8]) -> Result<Parsed<'_>, FrameError> {
    let Some(tid) = start_line_tid(input)? else {
        return Ok(Parsed::Partial);
    };
    let key = EndLineKey::new(tid);
    let Some(end) = find_head_end(input, &key, 0) else {
        return Ok(Parsed::Partial);
    };
    let rest = input.get(end.body_start..).unwrap_or(&[]);
    match scan_body(rest, &key, &EndLineFinder::new(), true) {
        BodyScan::Body { .. } => Ok(Parsed::Partial),
        BodyScan::End {
            body_len,
            end: used,
            flag,
        } => {
            let head = Head::parse(input.get(..end.head_len).unwrap_or(&[]))?;
            let body = rest.get(..body_len).unwrap_or(&[]);
            Ok(Parsed::Complete(
                Message {
                    head,
                    body,
                    continuation: flag,
                },
                end.body_start + used,
            ))
        }
    }
}

/// What a [`ChunkReader`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkEvent<'a> {
    /// The header block is complete: read it with [`ChunkReader::head`].
    Head,
    /// Body bytes, in order, borrowed from the input.
    Body(&'a [u8]),
    /// The end-line: the message (request or response) is over.
    End(Continuation),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReaderState {
    Head,
    Body { at_start: bool },
    Done,
}

/// Push parser over an MSRP byte stream.
///
/// ```text
/// loop {
///     let (used, event) = reader.feed(&buf[pos..filled])?;
///     pos += used;
///     match event { None => break /* read more, keeping buf[pos..filled] */, Some(e) => handle(e) }
/// }
/// ```
///
/// `None` means "give me more bytes": everything not consumed (at most [`MAX_END_LINE_LEN`] - 1 bytes,
/// a possible start of the end-line) must be presented again, followed by new bytes. For a
/// [`ChunkEvent::Body`] the caller may also consume only a prefix of the slice (back-pressure) and
/// present the rest again later. After [`ChunkEvent::End`], [`ChunkReader::head`] stays readable until
/// the next `feed`.
#[derive(Clone, Debug)]
pub struct ChunkReader<const HEAD: usize = DEFAULT_MAX_HEAD_LEN> {
    head: [u8; HEAD],
    head_len: usize,
    head_block_len: usize,
    scanned: usize,
    key: EndLineKey,
    /// Built at the first body, then kept for every later message.
    finder: Option<EndLineFinder>,
    state: ReaderState,
}

impl<const HEAD: usize> Default for ChunkReader<HEAD> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const HEAD: usize> ChunkReader<HEAD> {
    /// A reader waiting for the first start line.
    pub const fn new() -> Self {
        ChunkReader {
            head: [0; HEAD],
            head_len: 0,
            head_block_len: 0,
            scanned: 0,
            key: EndLineKey {
                bytes: heapless::Vec::new(),
            },
            finder: None,
            state: ReaderState::Head,
        }
    }

    /// Whether the reader is between messages (nothing of a next message seen yet).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, ReaderState::Done) || (self.state == ReaderState::Head && self.head_len == 0)
    }

    /// The raw header block of the current message (valid after [`ChunkEvent::Head`]).
    pub fn header_block(&self) -> &[u8] {
        self.head.get(..self.head_block_len).unwrap_or(&[])
    }

    /// Parses the current header block.
    pub fn head(&self) -> Result<Head<'_>, HeadError> {
        Head::parse(self.header_block())
    }

    /// Consumes bytes; see the type docs for the calling convention.
    pub fn feed<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<ChunkEvent<'a>>), FrameError> {
        if self.state == ReaderState::Done {
            if input.is_empty() {
                return Ok((0, None));
            }
            self.state = ReaderState::Head;
            self.head_len = 0;
            self.head_block_len = 0;
            self.scanned = 0;
        }
        match self.state {
            ReaderState::Head => self.feed_head(input),
            ReaderState::Body { at_start } => Ok(self.feed_body(input, at_start)),
            ReaderState::Done => Ok((0, None)),
        }
    }

    fn feed_head<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<ChunkEvent<'a>>), FrameError> {
        let space = HEAD - self.head_len;
        let take = input.len().min(space);
        let before = self.head_len;
        let dst = self
            .head
            .get_mut(before..before + take)
            .ok_or(FrameError::HeadTooLarge)?;
        dst.copy_from_slice(input.get(..take).unwrap_or(&[]));
        self.head_len += take;
        let buf = self.head.get(..self.head_len).unwrap_or(&[]);
        if self.key.bytes.is_empty() {
            match start_line_tid(buf)? {
                Some(tid) => self.key = EndLineKey::new(tid),
                None if self.head_len == HEAD => return Err(FrameError::HeadTooLarge),
                None => return Ok((take, None)),
            }
        }
        let resume = self.scanned.saturating_sub(MAX_END_LINE_LEN);
        match find_head_end(buf, &self.key, resume) {
            Some(end) => {
                // Bytes past the body start were copied speculatively: give them back.
                let used = end.body_start.saturating_sub(before);
                self.head_block_len = end.head_len;
                self.state = ReaderState::Body { at_start: true };
                self.key_reset_pending();
                Ok((used, Some(ChunkEvent::Head)))
            }
            None if self.head_len == HEAD => Err(FrameError::HeadTooLarge),
            None => {
                // A terminator may begin in the last bytes: give them back so that the body never
                // starts inside bytes already consumed.
                let held = partial_key_suffix(buf, self.key.key()).max(partial_key_suffix(buf, b"\r\n\r\n"));
                let held = held.min(take);
                self.head_len -= held;
                self.scanned = self.head_len;
                Ok((take - held, None))
            }
        }
    }

    fn key_reset_pending(&mut self) {
        self.scanned = 0;
    }

    fn feed_body<'a>(&mut self, input: &'a [u8], at_start: bool) -> (usize, Option<ChunkEvent<'a>>) {
        let finder = self.finder.get_or_insert_with(EndLineFinder::new);
        match scan_body(input, &self.key, finder, at_start) {
            BodyScan::End {
                body_len: 0,
                end,
                flag,
            } => {
                self.state = ReaderState::Done;
                self.key = EndLineKey::default();
                (end, Some(ChunkEvent::End(flag)))
            }
            BodyScan::End { body_len, .. } | BodyScan::Body { safe: body_len } if body_len > 0 => {
                self.state = ReaderState::Body { at_start: false };
                (
                    body_len,
                    Some(ChunkEvent::Body(input.get(..body_len).unwrap_or(&[]))),
                )
            }
            _ => (0, None),
        }
    }
}
