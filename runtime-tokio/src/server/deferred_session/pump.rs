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

/// A [`BodySource`] sending one stored body.
pub(super) struct OneBody<'a> {
    pub handle: Option<MessageHandle>,
    pub body: &'a [u8],
}

impl BodySource for OneBody<'_> {
    fn read(&mut self, message: MessageHandle, offset: u64, buf: &mut [u8]) -> BodyRead {
        if self.handle != Some(message) {
            return BodyRead { len: 0, end: true };
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.body.len());
        let rest = self.body.get(start..).unwrap_or(&[]);
        let len = rest.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..len), rest.get(..len)) {
            to.copy_from_slice(from);
        }
        BodyRead {
            len,
            end: start + len >= self.body.len(),
        }
    }
}

/// A [`BodySink`] gathering incoming bodies in memory, each at most `limit` bytes (the session
/// answers 413 above its `max_message_size`, which is the same figure).
pub(super) struct Gather {
    pub limit: u64,
    pub bodies: std::collections::HashMap<String, Vec<u8>>,
}

impl BodySink for Gather {
    fn body(&mut self, id: &str, offset: u64, bytes: &[u8]) {
        let end = offset.saturating_add(bytes.len() as u64);
        if end > self.limit {
            return;
        }
        let (Ok(start), Ok(end)) = (usize::try_from(offset), usize::try_from(end)) else {
            return;
        };
        let body = self.bodies.entry(id.to_owned()).or_default();
        if body.len() < end {
            body.resize(end, 0);
        }
        if let Some(slot) = body.get_mut(start..end) {
            slot.copy_from_slice(bytes);
        }
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
