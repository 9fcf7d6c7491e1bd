//! The writing half of one participant's connection: one task per connection draining a bounded
//! queue ([`super::QUEUE`] entries).
//!
//! Each wake-up takes everything queued (up to [`BATCH`] bytes), gathers it into one buffer the task
//! keeps, and writes it with one system call, so a burst of copies, responses and REPORTs costs one
//! write rather than one per message. The buffer grows to the largest batch once and is reused.
//!
//! When the socket fails, the copies still queued are lost: a copy whose sender wants failures
//! reported and that no answer will account for (sent with `Failure-Report: partial`) is reported
//! here, as 408, naming the recipient. Copies sent with `yes` are accounted for by the leg's pending
//! answers when the leg is removed.

use super::{Delivery, Switch};
use bytes::Bytes;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

/// Bytes gathered into one write at most (a larger single message is written on its own).
const BATCH: usize = 64 * 1024;

/// One message for a participant, in pieces written back to back (see [`super::copy`]).
pub(super) struct Outgoing {
    pieces: [Bytes; 3],
    /// The delivery to report as failed if this copy is lost before being written.
    unanswered: Option<Arc<Delivery>>,
}

impl Outgoing {
    /// A message already encoded whole (a response, a REPORT).
    pub(super) fn whole(bytes: Bytes) -> Outgoing {
        Outgoing {
            pieces: [bytes, Bytes::new(), Bytes::new()],
            unanswered: None,
        }
    }

    /// A copy from its three pieces; `unanswered` as on the field.
    pub(super) fn copy(pieces: [Bytes; 3], unanswered: Option<Arc<Delivery>>) -> Outgoing {
        Outgoing { pieces, unanswered }
    }

    fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }
}

/// Writes what is queued for the participant `user` until its queue closes or the socket fails.
pub(super) async fn write_queue(
    switch: Arc<Switch>,
    user: String,
    mut write: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let mut batch: Vec<u8> = Vec::new();
    // The deliveries of the copies in `batch` that the module docs report if the write fails.
    let mut in_batch: Vec<Arc<Delivery>> = Vec::new();
    // A message taken from the queue that did not fit the last batch.
    let mut carried: Option<Outgoing> = None;
    loop {
        let first = match carried.take() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => break,
            },
        };
        batch.clear();
        in_batch.clear();
        add(&mut batch, &mut in_batch, first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(item) if batch.len() + item.len() <= BATCH => add(&mut batch, &mut in_batch, item),
                Ok(item) => {
                    carried = Some(item);
                    break;
                }
                Err(_) => break,
            }
        }
        if write.write_all(&batch).await.is_err() {
            for delivery in &in_batch {
                switch.answered(delivery, Some((408, &user)));
            }
            return lost(&switch, &user, carried, rx);
        }
        switch.written();
        // A buffer that one large message grew does not stay large.
        if batch.capacity() > 4 * BATCH {
            batch = Vec::new();
        }
    }
    let _ = write.shutdown().await;
}

fn add(batch: &mut Vec<u8>, in_batch: &mut Vec<Arc<Delivery>>, item: Outgoing) {
    for piece in &item.pieces {
        batch.extend_from_slice(piece);
    }
    in_batch.extend(item.unanswered);
}

/// The socket failed: every copy still queued (and `first`) is reported per the module docs.
fn lost(switch: &Switch, user: &str, first: Option<Outgoing>, mut rx: mpsc::Receiver<Outgoing>) {
    rx.close();
    let mut next = first.or_else(|| rx.try_recv().ok());
    while let Some(item) = next {
        if let Some(delivery) = &item.unanswered {
            switch.answered(delivery, Some((408, user)));
        }
        next = rx.try_recv().ok();
    }
}
