//! The MSRP wire format (RFC 4975 §9): zero-copy views, streaming framing and a builder.
//!
//! - [`head`]: the start line and header fields of one request or response ([`Head`]), with typed
//!   accessors for the header values MSRP defines ([`ByteRange`], [`ReportRequest`], [`Status`]).
//! - [`framer`]: finding where a message ends. [`parse_message`] works on a slice holding a whole
//!   message; [`ChunkReader`] is a push parser over a byte stream that hands out body bytes as they
//!   arrive, so a chunk never has to fit in memory.
//! - [`builder`]: writing requests, responses and REPORTs into caller buffers ([`Writer`]).
//!
//! A message is framed by its end-line `-------<transaction-id><flag>CRLF`, where the flag is `$` (the
//! message is complete), `+` (more chunks follow) or `#` (the message was aborted). The body, when
//! present, follows a blank line and is separated from the end-line by one CRLF, which belongs to
//! neither. The end-line is found with `memchr` on CR followed by a comparison with
//! `CRLF "-------" transaction-id`, so scanning the body runs at memory-search speed.

pub mod builder;
pub mod framer;
pub mod head;

pub use builder::{BuildError, Writer};
pub use framer::{parse_message, ChunkEvent, ChunkReader, FrameError, Message, Parsed, DEFAULT_MAX_HEAD_LEN};
pub use head::{ByteRange, Head, HeadError, Header, Method, ReportRequest, StartLine, Status, MAX_HEADERS};

use core::fmt;

/// Longest transaction-id RFC 4975 allows (`ident = ALPHANUM 3*31ident-char`).
pub const MAX_TRANSACTION_ID_LEN: usize = 32;

/// The seven dashes that open every end-line.
pub const END_LINE_DASHES: &[u8] = b"-------";

/// Longest `CRLF end-line` sequence: CRLF, seven dashes, a transaction-id, the flag and CRLF.
pub const MAX_END_LINE_LEN: usize = 2 + 7 + MAX_TRANSACTION_ID_LEN + 1 + 2;

/// The continuation flag closing a request (RFC 4975 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Continuation {
    /// `$`: this chunk ends the message.
    Complete,
    /// `+`: more chunks of the message follow.
    More,
    /// `#`: the sender aborted the message.
    Aborted,
}

impl Continuation {
    /// The flag for a byte, if it is one.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'$' => Some(Continuation::Complete),
            b'+' => Some(Continuation::More),
            b'#' => Some(Continuation::Aborted),
            _ => None,
        }
    }
    /// The flag's byte on the wire.
    pub fn as_byte(self) -> u8 {
        match self {
            Continuation::Complete => b'$',
            Continuation::More => b'+',
            Continuation::Aborted => b'#',
        }
    }
}

impl fmt::Display for Continuation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Continuation::Complete => "$",
            Continuation::More => "+",
            Continuation::Aborted => "#",
        })
    }
}

/// Whether `tid` is acceptable as a transaction-id: 1 to 32 `ident-char`s. (The RFC asks for at least
/// four; shorter ones are accepted, as unknown values are kept rather than rejected.)
pub fn is_valid_transaction_id(tid: &str) -> bool {
    !tid.is_empty()
        && tid.len() <= MAX_TRANSACTION_ID_LEN
        && tid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'%' | b'='))
}
