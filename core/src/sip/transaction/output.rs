//! What a transaction asks its owner to do, and the bounded queue it waits in.

use heapless::Deque;

use crate::log::warning;

/// How many outputs a transaction can hold between drains. No `handle_*` call produces more than three
/// (e.g. `SendAck`, `FinalReceived`, `Terminated`), so four leaves room for one undrained output.
pub const OUTPUT_QUEUE_CAPACITY: usize = 4;

/// One thing for the owner to do, returned by `poll_output()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Pass these bytes to the transport (the request for a client transaction, the latest response
    /// for a server transaction), to the same destination as before.
    Transmit(&'a [u8]),
    /// INVITE client only: build the ACK for the non-2xx final response with this status code (the one
    /// just passed to `handle_response`) and transmit it to the INVITE's destination (§17.1.1.3).
    SendAck {
        /// The status code of the final response being acknowledged.
        status_code: u16,
    },
    /// Something for the transaction user.
    Event(Event),
}

/// What a transaction reports to its transaction user (TU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// Client: a provisional response to pass to the TU.
    ProvisionalReceived(u16),
    /// Client: a final response to pass to the TU. For INVITE this includes every 2xx received while
    /// Accepted (retransmissions and other forks, RFC 6026 §7.2).
    FinalReceived(u16),
    /// Server INVITE, Accepted: an ACK for the 2xx, to pass to the TU (RFC 6026 §7.1).
    AckReceived,
    /// Timer B, F or H fired: the transaction failed for lack of an answer (B, F) or an ACK (H).
    TimedOut,
    /// The owner reported a transport error and the transaction informs the TU.
    TransportError,
    /// The transaction has terminated; the owner may destroy it. Always the last output.
    Terminated,
}

/// A queued output, resolved to bytes only when polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    Transmit,
    SendAck(u16),
    Event(Event),
}

impl Pending {
    pub(crate) fn resolve(self, bytes: &[u8]) -> Output<'_> {
        match self {
            Pending::Transmit => Output::Transmit(bytes),
            Pending::SendAck(status_code) => Output::SendAck { status_code },
            Pending::Event(event) => Output::Event(event),
        }
    }
}

/// The bounded output queue every machine embeds.
#[derive(Debug, Default)]
pub(crate) struct OutputQueue {
    queue: Deque<Pending, OUTPUT_QUEUE_CAPACITY>,
}

impl OutputQueue {
    /// A queue holding one [`Pending::Transmit`]: a client transaction's first output is its request.
    pub(crate) fn transmitting() -> Self {
        let mut outputs = OutputQueue::default();
        outputs.push(Pending::Transmit);
        outputs
    }

    pub(crate) fn push(&mut self, pending: Pending) {
        if self.queue.is_full() {
            warning!("transaction outputs were not drained; dropping the oldest");
            let _ = self.queue.pop_front();
        }
        let _ = self.queue.push_back(pending);
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.push(Pending::Event(event));
    }

    pub(crate) fn pop(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
