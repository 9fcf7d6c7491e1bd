//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7 as replaced by RFC 6026 Figure 5).
//!
//! ## State table
//!
//! On reliable transports timer G is never started and timer I is zero. "TU 1xx/2xx/300-699" are calls
//! to [`ServerInvite::send_response`]; a response the state does not accept returns
//! [`SendError::WrongState`] and changes nothing. Other inputs not listed are absorbed silently.
//!
//! | row (test name suffix) | state | input | action | next state |
//! |---|---|---|---|---|
//! | `start` | - | `new()` (INVITE received) | nothing (the TU sends 100 Trying, see below) | Proceeding |
//! | `proceeding_invite_resends_provisional` | Proceeding | INVITE retransmission | retransmit latest provisional, if any | Proceeding |
//! | `proceeding_tu_1xx_sent` | Proceeding | TU 1xx | transmit | Proceeding |
//! | `proceeding_tu_2xx_to_accepted` | Proceeding | TU 2xx | transmit; start L = 64*T1 | Accepted |
//! | `proceeding_tu_300_699_to_completed` | Proceeding | TU 300-699 | transmit; start G = T1 (unreliable), H = 64*T1 | Completed |
//! | `proceeding_transport_error_stays` | Proceeding | transport error | `TransportError` (RFC 6026: no state change) | Proceeding |
//! | `completed_invite_resends_final` | Completed | INVITE retransmission | retransmit final response | Completed |
//! | `completed_timer_g_retransmits_capped_at_t2` | Completed | timer G (unreliable only) | retransmit final; G = min(2*G, T2) | Completed |
//! | `completed_timer_h_times_out` | Completed | timer H | `TimedOut` | Terminated |
//! | `completed_ack_to_confirmed` | Completed | ACK | stop G and H; start I = T4 (0 if reliable) | Confirmed |
//! | `completed_transport_error_stays` | Completed | transport error | `TransportError` (RFC 6026: no state change) | Completed |
//! | `confirmed_absorbs_ack_and_invite` | Confirmed | ACK, INVITE | - | Confirmed |
//! | `confirmed_timer_i_terminates` | Confirmed | timer I | - | Terminated |
//! | `accepted_absorbs_invite` | Accepted | INVITE retransmission | - (not passed to the TU) | Accepted |
//! | `accepted_tu_2xx_sent` | Accepted | TU 2xx | transmit | Accepted |
//! | `accepted_ack_passed_up` | Accepted | ACK | `AckReceived` | Accepted |
//! | `accepted_transport_error_stays` | Accepted | transport error | `TransportError` | Accepted |
//! | `accepted_timer_l_terminates` | Accepted | timer L | - | Terminated |
//!
//! **100 Trying is the TU's.** RFC 3261 §17.2.1 wants a 100 Trying unless the TU answers within 200 ms;
//! only the TU knows that, so the TU (or the owner on its behalf) either responds before 200 ms or sends
//! a 100 with [`ServerInvite::send_response`]. A proxy sends it at once.

use crate::log::debug;
use crate::time::Instant;

use super::output::{OutputQueue, Pending};
use super::timers::{Reliability, TimerConfig, TimerName, Timers};
use super::{Event, Output, SendError, StatusClass};

/// The states of [`ServerInvite`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ServerInviteState {
    /// The INVITE was received; no final response yet.
    Proceeding,
    /// A 300-699 was sent; retransmitting it until the ACK.
    Completed,
    /// The ACK arrived; absorbing its retransmissions.
    Confirmed,
    /// A 2xx was sent (RFC 6026); absorbing INVITE retransmissions, passing ACKs up.
    Accepted,
    /// Done; destroy the transaction.
    Terminated,
}

/// A request that matched an existing INVITE server transaction (§17.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ServerRequest {
    /// A retransmission of the INVITE that created the transaction.
    Retransmission,
    /// An ACK (to a non-2xx final response when Completed, to a 2xx when Accepted).
    Ack,
}

/// An INVITE server transaction holding its latest response's bytes in `B`.
#[derive(Debug)]
pub struct ServerInvite<B> {
    state: ServerInviteState,
    config: TimerConfig,
    reliability: Reliability,
    response: Option<B>,
    timers: Timers,
    outputs: OutputQueue,
}

impl<B: AsRef<[u8]>> ServerInvite<B> {
    shared_machine_methods!(ServerInviteState);

    /// Creates the transaction for an INVITE just received at `now`.
    pub fn new(now: Instant, config: TimerConfig, reliability: Reliability) -> Self {
        let _ = now;
        ServerInvite {
            state: ServerInviteState::Proceeding,
            config,
            reliability,
            response: None,
            timers: Timers::default(),
            outputs: OutputQueue::default(),
        }
    }

    shared_server_methods!();

    fn accept_response(&mut self, now: Instant, status_code: u16, response: B) -> Result<(), SendError> {
        use ServerInviteState::*;
        let class = StatusClass::of(status_code);
        match (self.state, class) {
            (_, StatusClass::Invalid) => return Err(SendError::InvalidStatus(status_code)),
            (Proceeding, StatusClass::Provisional) | (Accepted, StatusClass::Success) => {}
            (Proceeding, StatusClass::Success) => {
                self.timers
                    .start_expiry(TimerName::L, now, self.config.transaction_timeout());
                self.state = Accepted;
            }
            (Proceeding, StatusClass::Failure) => {
                if !self.reliability.is_reliable() {
                    self.timers
                        .start_retransmit(TimerName::G, now, self.config.first_interval());
                }
                self.timers
                    .start_expiry(TimerName::H, now, self.config.transaction_timeout());
                self.state = Completed;
            }
            _ => return Err(SendError::WrongState),
        }
        self.response = Some(response);
        self.outputs.push(Pending::Transmit);
        self.fire_due(now);
        Ok(())
    }

    /// A request matching this transaction arrived: a retransmitted INVITE or an ACK.
    pub fn handle_request(&mut self, now: Instant, request: ServerRequest) {
        use ServerInviteState::*;
        match (self.state, request) {
            (Proceeding, ServerRequest::Retransmission) if self.response.is_some() => {
                self.outputs.push(Pending::Transmit)
            }
            (Completed, ServerRequest::Retransmission) => self.outputs.push(Pending::Transmit),
            (Completed, ServerRequest::Ack) => {
                self.timers.stop_all();
                self.timers
                    .start_expiry(TimerName::I, now, self.config.t4_or_zero(self.reliability));
                self.state = Confirmed;
            }
            (Accepted, ServerRequest::Ack) => self.outputs.event(Event::AckReceived),
            (state, request) => debug!("INVITE server absorbs {:?} in {:?}", request, state),
        }
        self.fire_due(now);
    }

    /// The transport failed to send a response. RFC 6026 §7.1: the TU is told, the state is kept (the
    /// timers end the transaction), so INVITE retransmissions are still absorbed.
    pub fn handle_transport_error(&mut self, now: Instant) {
        if !self.is_terminated() && self.state != ServerInviteState::Confirmed {
            self.outputs.event(Event::TransportError);
        }
        self.fire_due(now);
    }

    /// The next output, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output<'_>> {
        let pending = self.outputs.pop()?;
        let bytes = self.response.as_ref().map_or(&[][..], |r| r.as_ref());
        Some(pending.resolve(bytes))
    }

    fn fire_due(&mut self, now: Instant) {
        use ServerInviteState::*;
        while let Some(name) = self.timers.take_due(now) {
            match (self.state, name) {
                (Completed, TimerName::G) => {
                    self.outputs.push(Pending::Transmit);
                    let next = super::timers::double(self.timers.interval()).min(self.config.cap());
                    self.timers.start_retransmit(TimerName::G, now, next);
                }
                (Completed, TimerName::H) => {
                    self.outputs.event(Event::TimedOut);
                    self.terminate();
                }
                (Confirmed, TimerName::I) | (Accepted, TimerName::L) => self.terminate(),
                _ => {}
            }
        }
    }
}
