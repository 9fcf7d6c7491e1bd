//! SIP transactions (RFC 3261 §17, with the corrections of RFC 6026).
//!
//! A transaction is a request and every response to it, together with the retransmissions an unreliable
//! transport needs. This module provides the four RFC 3261 machines, sans-IO and without allocation:
//!
//! | machine | states | timers | module |
//! |---|---|---|---|
//! | [`ClientInvite`] | Calling, Proceeding, Completed, Accepted, Terminated | A, B, D, M | [`client_invite`] |
//! | [`ClientNonInvite`] | Trying, Proceeding, Completed, Terminated | E, F, K | [`client_non_invite`] |
//! | [`ServerInvite`] | Proceeding, Completed, Confirmed, Accepted, Terminated | G, H, I, L | [`server_invite`] |
//! | [`ServerNonInvite`] | Trying, Proceeding, Completed, Terminated | J | [`server_non_invite`] |
//!
//! Each machine's module documentation holds its state table, row by row; the tests in
//! `core/tests/transaction_tables.rs` are named after those rows.
//!
//! ## Independence from the message codec
//!
//! The machines never parse. The owner (the transaction layer of a UA or proxy) has already parsed the
//! message to find the transaction (see [`TransactionKey`]) and hands the machine only what it decides on:
//! a response's status code, "the request was retransmitted", "an ACK arrived". The bytes a machine may
//! have to retransmit are given to it once, in a buffer type `B: AsRef<[u8]>` the owner chooses (`Vec<u8>`
//! or `bytes::Bytes` on a server, `heapless::Vec<u8, N>` or `&'static [u8]` on a device), and it hands
//! them back as [`Output::Transmit`] whenever they must go on the wire.
//!
//! The one message a transaction must *build* is the ACK to a non-2xx final response (§17.1.1.3). The
//! INVITE client transaction does not build it: it emits [`Output::SendAck`] and the owner builds the ACK
//! from the original request and the response it just passed in (`sip::builder::ack_for_non_2xx`) and
//! sends it to the same address, port and transport as the INVITE. A retransmitted final response in
//! Completed produces another `SendAck`, which the owner answers the same way.
//!
//! ## The run loop and the drain invariant
//!
//! Every machine follows the crate's run loop: call a `handle_*` method with the current time, then call
//! `poll_output()` until it returns `None`, then ask `poll_timeout()` for the next deadline and call
//! `handle_timeout(now)` once the clock reaches it. Outputs wait in a bounded queue of
//! [`OUTPUT_QUEUE_CAPACITY`] entries; no single `handle_*` call produces more than three, so a caller
//! that drains after every call never loses one. A caller that does not drain loses the *oldest* outputs
//! first (a warning is logged), so the final `Terminated` event always survives. `Output::Transmit`
//! resolves to the bytes the machine holds when it is polled, which is why draining before handing a
//! server transaction its next response matters.
//!
//! After any `handle_*(now, ..)` call and a full drain, `poll_timeout()` is either `None` or strictly
//! later than `now`: timers that are already due, including the zero-length timers D, I, J and K of
//! reliable transports, fire inside the call that started them. Once the `Terminated` event has been
//! polled a machine produces no further output and `poll_timeout()` is `None` forever.
//!
//! ## What the TU keeps
//!
//! - An INVITE server transaction does not send `100 Trying` by itself: RFC 3261 §17.2.1 asks for one
//!   unless the TU answers within 200 ms, and only the TU knows whether it will. The TU sends it with
//!   [`ServerInvite::send_response`] like any other provisional response.
//! - 2xx retransmissions for INVITE are the TU's job (§13.3.1.4); the server transaction only forwards
//!   them while Accepted. Likewise the ACK to a 2xx is the TU's (the client transaction is Accepted and
//!   passes every 2xx up).
//! - Matching incoming messages to transactions uses [`TransactionKey`]; [`TransactionTable`] does the
//!   bookkeeping for a bounded number of transactions.

/// The methods every machine shares, generated inside each machine's `impl` block. Expects the fields
/// `state` (an enum `$state` with a `Terminated` variant), `timers` and `outputs`, and a `fire_due`.
macro_rules! shared_machine_methods {
    ($state:ident) => {
        /// The current state.
        pub fn state(&self) -> $state {
            self.state
        }

        /// `true` once Terminated.
        pub fn is_terminated(&self) -> bool {
            self.state == $state::Terminated
        }

        /// When timer `name` fires, if it is running (for diagnostics and tests).
        pub fn timer(&self, name: TimerName) -> Option<Instant> {
            self.timers.deadline_of(name)
        }

        /// A timer may be due: fires every timer whose deadline is at or before `now`.
        pub fn handle_timeout(&mut self, now: Instant) {
            self.fire_due(now);
        }

        /// The next deadline at which to call `handle_timeout`; `None` when no timer runs.
        pub fn poll_timeout(&self) -> Option<Instant> {
            self.timers.earliest()
        }

        /// `true` while outputs wait to be polled.
        pub(crate) fn has_output(&self) -> bool {
            !self.outputs.is_empty()
        }

        /// Enters Terminated (once), stopping every timer and queueing the final event.
        fn terminate(&mut self) {
            self.timers.stop_all();
            if self.state != $state::Terminated {
                self.state = $state::Terminated;
                self.outputs.event(Event::Terminated);
            }
        }
    };
}

/// The response-side methods both server machines share, generated inside their `impl` blocks. Expects
/// a `response: Option<B>` field and an `accept_response(now, status_code, response)` method.
macro_rules! shared_server_methods {
    () => {
        /// The latest response handed to `send_response`.
        pub fn last_response(&self) -> Option<&B> {
            self.response.as_ref()
        }

        /// The TU sends a response with `status_code`, whose bytes are `response`.
        pub fn send_response(
            &mut self,
            now: Instant,
            status_code: u16,
            response: B,
        ) -> Result<(), SendError> {
            // Timers already due fire whatever the TU's response turns out to be.
            self.fire_due(now);
            self.accept_response(now, status_code, response)
        }
    };
}

pub mod client_invite;
pub mod client_non_invite;
pub mod from_message;
pub mod key;
mod output;
pub mod server_invite;
pub mod server_non_invite;
pub mod table;
pub mod timers;

pub use client_invite::{ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use from_message::{
    cancel_target_key, classify_request, client_key_for_response, server_key_for_request, MatchError,
    ReceivedRequest,
};
pub use key::{generate_branch, Branch, KeyError, Rfc2543Pieces, Role, TransactionKey, MAGIC_COOKIE};
pub use output::{Event, Output, OUTPUT_QUEUE_CAPACITY};
pub use server_invite::{ServerInvite, ServerInviteState, ServerRequest};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use table::{DispatchError, TableError, Transaction, TransactionTable};
pub use timers::{Reliability, TimerConfig, TimerName};

use core::fmt;

/// Why a server transaction refused a response from its TU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// The status code is outside 100..=699.
    InvalidStatus(u16),
    /// The transaction's state does not accept this response (a second final response, a provisional
    /// response after a final one, a non-2xx after a 2xx, or anything after Terminated).
    WrongState,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::InvalidStatus(code) => {
                write!(
                    f,
                    "status code {code} is not a SIP status (100..=699); send a valid response"
                )
            }
            SendError::WrongState => f.write_str(
                "the transaction already sent its final response or has terminated; \
                 a response here would violate RFC 3261 §17.2 (send it in a new transaction or drop it)",
            ),
        }
    }
}

/// Classifies a status code the way the state machines do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusClass {
    Provisional,
    Success,
    Failure,
    Invalid,
}

impl StatusClass {
    pub(crate) fn of(code: u16) -> Self {
        match code {
            100..=199 => StatusClass::Provisional,
            200..=299 => StatusClass::Success,
            300..=699 => StatusClass::Failure,
            _ => StatusClass::Invalid,
        }
    }
}
