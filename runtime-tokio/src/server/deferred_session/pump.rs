//! One MSRP connection driven for a core [`Session`]: input goes in, what the session has to write
//! goes out, and the caller handles the session's events between the two. The caller decides when to
//! write: the accepting side stores a completed message before it lets the session's 200 and success
//! REPORT out, which is what makes an acknowledged message durable.

use simple_im_core::msrp::session::{BodyRead, BodySink, BodySource, MessageHandle, Session};
use simple_im_core::msrp::wire::FrameError;
use simple_im_core::time::Instant;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes read from the socket at a time, and the transmit buffer's size (one chunk plus headers).
const IO_BUFFER: usize = 32 * 1024;

/// The largest body of one chunk we send.
pub(super) const CHUNK_SIZE: u32 = 16 * 1024;

/// A [`BodySource`] with nothing to send (the accepting side only answers).
pub(super) struct NoBody;

impl BodySource for NoBody {
    fn read(&mut self, _: MessageHandle, _: u64, _: &mut [u8]) -> BodyRead {
        BodyRead { len: 0, end: true }
    }
}

/// How many bytes of a message are kept in memory (and in the message's row): the rest goes to the
/// store as it arrives, and is read back in windows of this size when the message is pushed.
pub(super) const IN_MEMORY: usize = 64 * 1024;

/// A [`BodySource`] for one stored message: its first bytes, then a window of the rest that the
/// caller refills from the store when the session asks beyond it ([`Window::starved_at`]).
pub(super) struct Window {
    pub handle: Option<MessageHandle>,
    pub total: u64,
    head: Vec<u8>,
    window_start: u64,
    window: Vec<u8>,
    starved_at: Option<u64>,
}

impl Window {
    pub fn new(head: Vec<u8>, total: u64) -> Window {
        let window_start = head.len() as u64;
        Window {
            handle: None,
            total,
            head,
            window_start,
            window: Vec::new(),
            starved_at: None,
        }
    }

    /// The offset the session asked for and could not get, if it did since the last refill.
    pub fn starved_at(&self) -> Option<u64> {
        self.starved_at
    }

    /// Puts `bytes`, read from the store at `offset`, in the window.
    pub fn refill(&mut self, offset: u64, bytes: Vec<u8>) {
        self.window_start = offset;
        self.window = bytes;
        self.starved_at = None;
    }
}

fn copy_from(from: &[u8], skip: u64, buf: &mut [u8]) -> usize {
    let rest = usize::try_from(skip)
        .ok()
        .and_then(|s| from.get(s..))
        .unwrap_or(&[]);
    let len = rest.len().min(buf.len());
    if let (Some(to), Some(from)) = (buf.get_mut(..len), rest.get(..len)) {
        to.copy_from_slice(from);
    }
    len
}

impl BodySource for Window {
    fn read(&mut self, message: MessageHandle, offset: u64, buf: &mut [u8]) -> BodyRead {
        if self.handle != Some(message) || offset >= self.total {
            return BodyRead { len: 0, end: true };
        }
        let head_len = self.head.len() as u64;
        let window_end = self.window_start + self.window.len() as u64;
        let len = if offset < head_len {
            copy_from(&self.head, offset, buf)
        } else if offset >= self.window_start && offset < window_end {
            copy_from(&self.window, offset - self.window_start, buf)
        } else {
            self.starved_at = Some(offset);
            0
        };
        BodyRead {
            len,
            end: offset + len as u64 >= self.total,
        }
    }
}

/// A [`BodySink`] for incoming messages: each message's first [`IN_MEMORY`] bytes are kept in
/// `heads`, later bytes are queued in `spill` (offset and bytes, at most what one input feed
/// carried) for the caller to write to the store before it reads more. Bytes beyond `limit` (the
/// session's max-size, which it answers 413 for) are dropped.
pub(super) struct Gather {
    pub limit: u64,
    pub heads: std::collections::HashMap<String, Vec<u8>>,
    pub spill: Vec<(String, u64, Vec<u8>)>,
    /// Messages that spilled: their bodies are in the store beyond their heads.
    pub spilled: std::collections::HashSet<String>,
}

impl Gather {
    pub fn new(limit: u64) -> Gather {
        Gather {
            limit,
            heads: Default::default(),
            spill: Vec::new(),
            spilled: Default::default(),
        }
    }

    /// Forgets a message (received and stored, or aborted).
    pub fn forget(&mut self, id: &str) -> (Vec<u8>, bool) {
        (self.heads.remove(id).unwrap_or_default(), self.spilled.remove(id))
    }
}

impl BodySink for Gather {
    fn body(&mut self, id: &str, offset: u64, bytes: &[u8]) {
        let end = offset.saturating_add(bytes.len() as u64);
        if end > self.limit {
            return;
        }
        let in_memory = IN_MEMORY as u64;
        let split = usize::try_from(in_memory.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let (kept, rest) = bytes.split_at(split);
        if !kept.is_empty() {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let head = self.heads.entry(id.to_owned()).or_default();
            let head_end = start + kept.len();
            if head.len() < head_end {
                head.resize(head_end, 0);
            }
            if let Some(slot) = head.get_mut(start..head_end) {
                slot.copy_from_slice(kept);
            }
        }
        if rest.is_empty() {
            return;
        }
        let rest_offset = offset.max(in_memory);
        self.spilled.insert(id.to_owned());
        // Extend the last queued piece when this one follows it (a chunk arrives in several reads).
        if let Some((last_id, last_offset, last)) = self.spill.last_mut() {
            if last_id == id && *last_offset + last.len() as u64 == rest_offset {
                last.extend_from_slice(rest);
                return;
            }
        }
        self.spill.push((id.to_owned(), rest_offset, rest.to_vec()));
    }
}

/// The connection and its session.
pub(super) struct Pump {
    stream: TcpStream,
    pub session: Session,
    input: Vec<u8>,
    out: Vec<u8>,
    epoch: std::time::Instant,
}

impl Pump {
    /// Drives `session` over `stream`; `already_read` are bytes read from it before (by the listener).
    pub fn new(stream: TcpStream, session: Session, already_read: Vec<u8>) -> Pump {
        Pump {
            stream,
            session,
            input: already_read,
            out: vec![0u8; IO_BUFFER],
            epoch: std::time::Instant::now(),
        }
    }

    /// The session's clock.
    pub fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Feeds buffered input to the session (body bytes to `sink`); returns how much it consumed.
    pub fn feed(&mut self, sink: &mut impl BodySink) -> Result<usize, FrameError> {
        if self.input.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let consumed = self.session.handle_input(now, &self.input, sink)?;
        self.input.drain(..consumed.min(self.input.len()));
        Ok(consumed)
    }

    /// Writes everything the session has to send now.
    pub async fn flush(&mut self, source: &mut impl BodySource) -> io::Result<()> {
        loop {
            let now = self.now();
            let Some(len) = self.session.poll_transmit(now, &mut self.out, source) else {
                return Ok(());
            };
            let bytes = self.out.get(..len).unwrap_or(&[]);
            self.stream.write_all(bytes).await?;
        }
    }

    /// Reads more input, or fires the session's transaction timer when it comes first. `Ok(false)`
    /// when the peer closed the connection.
    pub async fn read_more(&mut self) -> io::Result<bool> {
        let mut chunk = vec![0u8; IO_BUFFER];
        let wait = self.session.poll_timeout().map(|deadline| {
            std::time::Duration::from_millis(deadline.as_millis().saturating_sub(self.now().as_millis()))
        });
        let read = match wait {
            Some(wait) => match tokio::time::timeout(wait, self.stream.read(&mut chunk)).await {
                Ok(read) => read?,
                Err(_) => {
                    let now = self.now();
                    self.session.handle_timeout(now);
                    return Ok(true);
                }
            },
            None => self.stream.read(&mut chunk).await?,
        };
        if read == 0 {
            let now = self.now();
            self.session.connection_lost(now);
            return Ok(false);
        }
        self.input.extend_from_slice(chunk.get(..read).unwrap_or(&[]));
        Ok(true)
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_keeps_the_first_bytes_and_queues_the_rest_for_the_store() {
        let mut sink = Gather::new(1_000_000);
        let whole: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        // Arrives in pieces of 30,000 bytes, one straddling the in-memory limit.
        for (i, piece) in whole.chunks(30_000).enumerate() {
            sink.body("m", (i * 30_000) as u64, piece);
        }
        assert_eq!(sink.heads["m"], &whole[..IN_MEMORY]);
        let (id, offset, rest) = &sink.spill[0];
        assert_eq!((id.as_str(), *offset), ("m", IN_MEMORY as u64));
        assert_eq!(rest, &whole[IN_MEMORY..], "adjacent pieces are merged");
        assert_eq!(sink.spill.len(), 1);
        sink.body("m", 999_990, &[1; 20]);
        assert_eq!(sink.spill.len(), 1, "bytes past the limit are dropped");
        assert_eq!(sink.forget("m"), (whole[..IN_MEMORY].to_vec(), true));
    }

    #[test]
    fn the_window_serves_the_head_then_asks_for_the_rest() {
        let mut window = Window::new(vec![1, 2, 3], 8);
        window.handle = Some(MessageHandle(7));
        let mut buf = [0u8; 8];
        let read = window.read(MessageHandle(7), 0, &mut buf);
        assert_eq!((read.len, read.end, &buf[..3]), (3, false, &[1, 2, 3][..]));
        assert_eq!(window.read(MessageHandle(7), 3, &mut buf).len, 0);
        assert_eq!(window.starved_at(), Some(3));
        window.refill(3, vec![4, 5, 6, 7, 8]);
        let read = window.read(MessageHandle(7), 3, &mut buf);
        assert_eq!((read.len, read.end, &buf[..5]), (5, true, &[4, 5, 6, 7, 8][..]));
        assert_eq!(window.starved_at(), None);
        assert!(
            window.read(MessageHandle(8), 0, &mut buf).end,
            "another message gets nothing"
        );
    }
}
