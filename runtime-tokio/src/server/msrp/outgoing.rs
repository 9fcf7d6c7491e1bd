//! The writing side of the relay: each connection's shared writer ([`LegIo`]) and the batch of
//! forwarded bytes a reading connection builds for the far one ([`Outgoing`]).
//!
//! ## One write per read
//!
//! A connection reads up to [`super::leg::READ_BUFFER`] bytes at once; what it forwards from that read
//! is a few *pieces*: rewritten heads and end-lines (built here, *staged*), and body bytes, which
//! stay in the read buffer and are only referenced (never copied). All pieces of one read go out in
//! one `writev`, so a read that holds the tail of one chunk, its end-line, the next head and the start
//! of the next body costs one system call, as a plain copy-proxy's would. Only a batch grown past
//! [`MAX_PIECES`] or [`MAX_STAGED`] is written before the read is done.
//!
//! | piece | where its bytes are | when |
//! |---|---|---|
//! | head, end-line, queued responses and REPORTs of the far endpoint | [`Outgoing::staged`] | always |
//! | body piece shorter than [`COPY_BELOW`] | [`Outgoing::staged`] (copied) | many small messages: keeps the batch short |
//! | longer body piece | the read buffer (a range) | the batch is written before the buffer moves |
//!
//! ## Holding the far connection
//!
//! The batch holds the far connection's writer from the first forwarded head until the end of a read
//! at which no message is in flight. Responses and REPORTs queued for the far endpoint meanwhile
//! ([`LegIo::queue`]) are staged after the end-line of the message that was in flight, so they never
//! land inside a chunk, and the rest are written when the writer is released.

use super::lock;
use std::io::IoSlice;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::OwnedMutexGuard;

/// Body pieces shorter than this are copied into the batch rather than referenced.
const COPY_BELOW: usize = 4 * 1024;
/// A batch with this many pieces is written at once (well under the kernel's `IOV_MAX` of 1024).
const MAX_PIECES: usize = 64;
/// A batch with this many staged bytes is written at once.
const MAX_STAGED: usize = 64 * 1024;

/// The writing side of one connection, shared by the two legs' tasks.
pub(crate) struct LegIo {
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    /// Complete responses and REPORTs waiting for the end of the chunk being forwarded.
    control: Mutex<Vec<u8>>,
}

impl LegIo {
    pub(super) fn new(writer: OwnedWriteHalf) -> Arc<LegIo> {
        Arc::new(LegIo {
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            control: Mutex::new(Vec::new()),
        })
    }

    /// Shuts the write side (a connection released for its endpoint's new one: the endpoint sees it
    /// close), after a forwarded chunk that holds the writer.
    pub(super) async fn shut(&self) {
        use tokio::io::AsyncWriteExt;
        let _ = self.writer.lock().await.shutdown().await;
    }

    pub(super) fn queue(&self, bytes: &[u8]) {
        lock(&self.control).extend_from_slice(bytes);
    }

    /// Writes the queued control messages unless a forwarded chunk holds the connection (its holder
    /// writes them when the chunk ends).
    pub(super) async fn try_flush(&self) {
        loop {
            let Ok(mut writer) = self.writer.try_lock() else {
                return;
            };
            let batch = std::mem::take(&mut *lock(&self.control));
            if batch.is_empty() || writer.write_all(&batch).await.is_err() {
                return;
            }
        }
    }
}

/// Where the bytes of one piece of a batch are.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// In [`Outgoing::staged`].
    Staged(Range<usize>),
    /// In the read buffer being processed.
    Input(Range<usize>),
}

/// A message being forwarded: what its end-line needs.
struct InFlight {
    tid: String,
    has_body: bool,
}

/// Forwarded bytes on their way to the far connection, and the far connection's writer while they
/// are. Boxed in the connection: it exists only while messages stream through.
pub(super) struct Outgoing {
    /// `None` once writing failed: the rest of the message is read and dropped (its transaction is
    /// reported by the far connection's task).
    writer: Option<OwnedMutexGuard<OwnedWriteHalf>>,
    to: Arc<LegIo>,
    staged: Vec<u8>,
    pieces: Vec<Piece>,
    in_flight: Option<InFlight>,
}

impl Outgoing {
    /// Takes the far connection's writer (waiting while another message holds it).
    pub(super) async fn open(to: Arc<LegIo>) -> Box<Outgoing> {
        let writer = to.writer.clone().lock_owned().await;
        Box::new(Outgoing {
            writer: Some(writer),
            to,
            staged: Vec::with_capacity(1024),
            pieces: Vec::with_capacity(8),
            in_flight: None,
        })
    }

    /// Whether the next message to `to` can be added to this batch.
    pub(super) fn reusable_for(&self, to: &Arc<LegIo>) -> bool {
        self.writer.is_some() && self.in_flight.is_none() && Arc::ptr_eq(&self.to, to)
    }

    pub(super) fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Starts a message with transaction-id `tid`: `write_head` appends its rewritten head, up to and
    /// including the blank line before a body.
    pub(super) fn begin(&mut self, tid: String, has_body: bool, write_head: impl FnOnce(&mut Vec<u8>, &str)) {
        if self.writer.is_some() {
            let start = self.staged.len();
            write_head(&mut self.staged, &tid);
            self.staged_since(start);
        }
        self.in_flight = Some(InFlight { tid, has_body });
    }

    /// Adds body bytes `input[range]` of the message in flight; returns whether the batch should be
    /// written now.
    pub(super) fn body(&mut self, input: &[u8], range: Range<usize>) -> bool {
        if self.writer.is_none() || self.in_flight.is_none() {
            return false;
        }
        if range.len() < COPY_BELOW {
            self.stage(input.get(range).unwrap_or(&[]));
        } else {
            match self.pieces.last_mut() {
                Some(Piece::Input(last)) if last.end == range.start => last.end = range.end,
                _ => self.pieces.push(Piece::Input(range)),
            }
        }
        self.pieces.len() >= MAX_PIECES || self.staged.len() >= MAX_STAGED
    }

    /// Ends the message in flight with its end-line (`flag`: `$`, `+` or `#`), followed by the
    /// responses and REPORTs queued for the far endpoint meanwhile; returns the message's
    /// transaction-id (`None`: no message was in flight).
    pub(super) fn end(&mut self, flag: u8) -> Option<String> {
        let message = self.in_flight.take()?;
        let mut line = Vec::with_capacity(message.tid.len() + 12);
        if message.has_body {
            line.extend_from_slice(b"\r\n");
        }
        line.extend_from_slice(b"-------");
        line.extend_from_slice(message.tid.as_bytes());
        line.push(flag);
        line.extend_from_slice(b"\r\n");
        self.stage(&line);
        if self.writer.is_some() {
            let control = std::mem::take(&mut *lock(&self.to.control));
            self.stage(&control);
        }
        Some(message.tid)
    }

    fn stage(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || self.writer.is_none() {
            return;
        }
        let start = self.staged.len();
        self.staged.extend_from_slice(bytes);
        self.staged_since(start);
    }

    /// Records `staged[start..]` as the batch's next piece.
    fn staged_since(&mut self, start: usize) {
        let end = self.staged.len();
        if end == start {
            return;
        }
        match self.pieces.last_mut() {
            Some(Piece::Staged(last)) if last.end == start => last.end = end,
            _ => self.pieces.push(Piece::Staged(start..end)),
        }
    }

    /// Writes the batch (`input`: the read buffer its body pieces refer to) with as few `writev`
    /// calls as the socket allows, then empties it.
    pub(super) async fn write(&mut self, input: &[u8]) {
        if let Some(writer) = &mut self.writer {
            for window in self.pieces.chunks(MAX_PIECES) {
                let mut slices: [&[u8]; MAX_PIECES] = [&[]; MAX_PIECES];
                for (slot, piece) in slices.iter_mut().zip(window) {
                    *slot = match piece {
                        Piece::Staged(r) => self.staged.get(r.clone()).unwrap_or(&[]),
                        Piece::Input(r) => input.get(r.clone()).unwrap_or(&[]),
                    };
                }
                let slices = slices.get(..window.len()).unwrap_or(&[]);
                if write_all_vectored(writer, slices).await.is_err() {
                    self.writer = None;
                    break;
                }
            }
        }
        self.staged.clear();
        self.pieces.clear();
    }

    /// Writes the batch and gives the far connection back, writing what was queued for it meanwhile.
    pub(super) async fn release(mut self: Box<Self>, input: &[u8]) {
        self.write(input).await;
        let to = self.to.clone();
        drop(self);
        to.try_flush().await;
    }
}

/// Writes every slice of `slices` (at most [`MAX_PIECES`]), in order, with one `writev` per call the
/// socket accepts.
async fn write_all_vectored(writer: &mut OwnedWriteHalf, slices: &[&[u8]]) -> std::io::Result<()> {
    let (mut index, mut offset) = (0, 0);
    while index < slices.len() {
        let mut io = [IoSlice::new(&[]); MAX_PIECES];
        let rest = slices.get(index..).unwrap_or(&[]);
        for (i, (slot, slice)) in io.iter_mut().zip(rest).enumerate() {
            *slot = IoSlice::new(if i == 0 {
                slice.get(offset..).unwrap_or(&[])
            } else {
                slice
            });
        }
        let io = io.get(..rest.len()).unwrap_or(&[]);
        let mut written = writer.write_vectored(io).await?;
        if written == 0 && io.iter().any(|s| !s.is_empty()) {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        // Skip what was written: whole slices, then part of the next.
        while let Some(slice) = slices.get(index) {
            let left = slice.len() - offset;
            if written < left {
                offset += written;
                break;
            }
            written -= left;
            index += 1;
            offset = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A connected pair: the writing side of one end as a [`LegIo`], and the other end to read from.
    /// The writing end's send buffer is small, so that a large batch takes many partial `writev`s.
    async fn pair() -> (Arc<LegIo>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(16 * 1024).unwrap();
        let near = socket.connect(listener.local_addr().unwrap()).await.unwrap();
        let (far, _) = listener.accept().await.unwrap();
        let (_, write) = near.into_split();
        (LegIo::new(write), far)
    }

    fn input(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn pieces_are_referenced_when_long_copied_when_short_and_merged_when_adjacent() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (to, _peer) = pair().await;
            let data = input(64 * 1024);
            let mut out = Outgoing::open(to).await;
            out.begin("t1".into(), true, |h, tid| {
                h.extend_from_slice(format!("HEAD {tid}\r\n\r\n").as_bytes())
            });
            assert!(!out.body(&data, 0..10_000));
            assert!(!out.body(&data, 10_000..20_000));
            assert!(!out.body(&data, 20_000..20_100));
            out.end(b'$');
            assert_eq!(
                out.pieces,
                [
                    Piece::Staged(0..11),
                    Piece::Input(0..20_000),
                    Piece::Staged(11..11 + 100 + 14)
                ]
            );
        });
    }

    /// Many messages, some bodies long and some short, written into a socket whose reader is slower
    /// than the writer (partial `writev`s): the far end gets exactly the framed stream, in order, and
    /// control messages queued while a message is in flight come after its end-line.
    #[test]
    fn a_batch_arrives_whole_and_in_order_through_partial_writes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (to, mut peer) = pair().await;
            let data = input(3 << 20);
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                // Bounded: a writer that lost its place in the batch would write on and on.
                (&mut peer).take(8 << 20).read_to_end(&mut got).await.unwrap();
                got
            });
            let mut expected = Vec::new();
            let writing = async {
                let mut out = Outgoing::open(to.clone()).await;
                let mut at = 0;
                for (n, len) in [1_000_000usize, 3, 700, 2_000_000, 5_000].into_iter().enumerate() {
                    let tid = format!("m{n}");
                    out.begin(tid.clone(), true, |h, tid| {
                        h.extend_from_slice(format!("HEAD {tid}\r\n\r\n").as_bytes())
                    });
                    expected.extend_from_slice(format!("HEAD {tid}\r\n\r\n").as_bytes());
                    // Split the body in uneven pieces, as reads would.
                    let end = (at + len).min(data.len());
                    let mut from = at;
                    while from < end {
                        let to = (from + 300_001).min(end);
                        if out.body(&data, from..to) {
                            out.write(&data).await;
                        }
                        from = to;
                    }
                    expected.extend_from_slice(&data[at..end]);
                    at = end;
                    to.queue(format!("CONTROL {n}\r\n").as_bytes());
                    out.end(b'$');
                    expected.extend_from_slice(format!("\r\n-------{tid}$\r\nCONTROL {n}\r\n").as_bytes());
                }
                out.release(&data).await;
            };
            tokio::time::timeout(std::time::Duration::from_secs(30), writing)
                .await
                .expect("the batch was written in time");
            // Closes the writing side so that the reader sees the end.
            drop(to);
            let got = reader.await.unwrap();
            assert_eq!(got.len(), expected.len());
            assert!(got == expected, "the forwarded stream differs");
        });
    }
}
