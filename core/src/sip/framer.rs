//! Stream framing (RFC 3261 §18.3): find where the first message in a TCP/TLS/WebSocket byte stream
//! ends, without parsing it.
//!
//! Push-parser shape: call [`frame`] with everything received so far and act on the answer:
//!
//! | buffer starts with | answer | caller does |
//! |---|---|---|
//! | CR/LF bytes (RFC 5626 keep-alive ping `CRLFCRLF`, or stray CRLFs §7.5) | `KeepAlive(n)` | drops `n` bytes (answers a double-CRLF ping with a CRLF pong) and calls again |
//! | a message whose headers and Content-Length body are all there | `Complete(n)` | parses `buf[..n]` with [`crate::sip::message::Message::parse_stream`], drops `n` bytes |
//! | an unfinished message | `Partial` | reads more |
//!
//! Only the header lines starting with `c`/`l` are examined (for `Content-Length` / `l`), so framing
//! costs one `memchr` walk over the line ends.

use crate::sip::message::find_head_end;
use core::fmt;

/// Largest message accepted on a stream by default: 65 535 bytes, the largest UDP payload, so a message
/// that could be relayed over UDP is never refused on TCP, while a peer cannot make us buffer more.
pub const MAX_MESSAGE_SIZE: usize = 65_535;

/// What the start of a stream buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Framed {
    /// The first `n` bytes are one whole message.
    Complete(usize),
    /// More bytes are needed.
    Partial,
    /// The first `n` bytes are CR/LF keep-alive bytes to discard.
    KeepAlive(usize),
}

/// Why a stream cannot be framed; the connection should be closed (RFC 3261 §18.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// The message would exceed the size limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The header section has no Content-Length, which streams require.
    MissingContentLength,
    /// Content-Length is not a decimal number.
    BadContentLength,
    /// Several Content-Length headers disagree (a request-smuggling vector).
    ConflictingContentLength,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { limit } => {
                write!(f, "message larger than the {limit}-byte limit")
            }
            FrameError::MissingContentLength => f.write_str("message on a stream has no Content-Length"),
            FrameError::BadContentLength => f.write_str("Content-Length is not a decimal number"),
            FrameError::ConflictingContentLength => f.write_str("several Content-Length headers disagree"),
        }
    }
}

/// Frames the first message of `buf` with the default [`MAX_MESSAGE_SIZE`].
pub fn frame(buf: &[u8]) -> Result<Framed, FrameError> {
    frame_with_limit(buf, MAX_MESSAGE_SIZE)
}

/// Frames the first message of `buf`, refusing messages larger than `limit` bytes.
pub fn frame_with_limit(buf: &[u8], limit: usize) -> Result<Framed, FrameError> {
    let keep_alive = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    if keep_alive > 0 {
        return Ok(Framed::KeepAlive(keep_alive));
    }
    let window = buf.get(..limit.min(buf.len())).unwrap_or(buf);
    let Some((head_len, body_start)) = find_head_end(window, false) else {
        return if buf.len() >= limit {
            Err(FrameError::TooLarge { limit })
        } else {
            Ok(Framed::Partial)
        };
    };
    let head = buf.get(..head_len).unwrap_or(buf);
    let body_len = content_length(head)?.ok_or(FrameError::MissingContentLength)?;
    let total = body_start
        .checked_add(body_len)
        .ok_or(FrameError::TooLarge { limit })?;
    if total > limit {
        Err(FrameError::TooLarge { limit })
    } else if buf.len() >= total {
        Ok(Framed::Complete(total))
    } else {
        Ok(Framed::Partial)
    }
}

/// Finds the Content-Length in a header section (start line included, which is skipped).
fn content_length(head: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut found = None;
    for lf in crate::substring::memchr_iter(b'\n', head) {
        let line = head.get(lf + 1..).unwrap_or(&[]);
        if !matches!(line.first(), Some(b'c' | b'C' | b'l' | b'L')) {
            continue;
        }
        let line = line
            .get(..crate::substring::memchr(b'\r', line).unwrap_or(line.len()))
            .unwrap_or(line);
        let Some(colon) = crate::substring::memchr(b':', line) else {
            continue;
        };
        let name = trim(line.get(..colon).unwrap_or(&[]));
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = trim(line.get(colon + 1..).unwrap_or(&[]));
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(FrameError::BadContentLength);
        }
        let n = value
            .iter()
            .try_fold(0usize, |n, d| {
                n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
            })
            .unwrap_or(usize::MAX);
        if found.is_some_and(|prev| prev != n) {
            return Err(FrameError::ConflictingContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 5\r\nCall-ID: x\r\n\r\nhello";

    #[test]
    fn every_split_position_is_partial_until_the_last_byte() {
        for cut in 0..MSG.len() {
            let got = frame(&MSG[..cut]).unwrap();
            assert_eq!(got, Framed::Partial, "cut at {cut}");
        }
        assert_eq!(frame(MSG), Ok(Framed::Complete(MSG.len())));
    }

    #[test]
    fn a_second_message_behind_the_first_is_left_alone() {
        let mut two = [0u8; 256];
        two[..MSG.len()].copy_from_slice(MSG);
        two[MSG.len()..2 * MSG.len()].copy_from_slice(MSG);
        assert_eq!(frame(&two[..2 * MSG.len()]), Ok(Framed::Complete(MSG.len())));
    }

    #[test]
    fn leading_crlfs_are_keep_alives() {
        let mut buf = [0u8; 256];
        buf[..4].copy_from_slice(b"\r\n\r\n");
        buf[4..4 + MSG.len()].copy_from_slice(MSG);
        assert_eq!(frame(&buf[..4 + MSG.len()]), Ok(Framed::KeepAlive(4)));
        assert_eq!(frame(&buf[4..4 + MSG.len()]), Ok(Framed::Complete(MSG.len())));
        assert_eq!(frame(b"\r\n"), Ok(Framed::KeepAlive(2)));
        assert_eq!(frame(b""), Ok(Framed::Partial));
    }

    #[test]
    fn content_length_is_mandatory_numeric_and_consistent() {
        let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n";
        assert_eq!(frame(no_cl), Err(FrameError::MissingContentLength));
        let bad = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
        assert_eq!(frame(bad), Err(FrameError::BadContentLength));
        let two = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 13\r\ncontent-length : 5\r\n\r\n";
        assert_eq!(frame(two), Err(FrameError::ConflictingContentLength));
        let same = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\nL:0\r\n\r\n";
        assert_eq!(frame(same), Ok(Framed::Complete(same.len())));
    }

    #[test]
    fn size_limit_applies_to_headers_and_declared_body() {
        assert_eq!(
            frame_with_limit(&[b'a'; 64], 64),
            Err(FrameError::TooLarge { limit: 64 })
        );
        let big = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert_eq!(
            frame(big),
            Err(FrameError::TooLarge {
                limit: MAX_MESSAGE_SIZE
            })
        );
        assert_eq!(
            frame_with_limit(MSG, MSG.len() - 1),
            Err(FrameError::TooLarge { limit: MSG.len() - 1 })
        );
    }
}
