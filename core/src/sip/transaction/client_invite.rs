//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5 as replaced by RFC 6026 Figure 5).
//!
//! ## State table
//!
//! "Unreliable only" rows do not exist on reliable transports, where timer A is never started and
//! timer D is zero (Completed is left at once). Inputs not listed for a state are absorbed silently
//! (e.g. a 1xx in Completed, a 300-699 in Accepted, a transport error in Proceeding).
//!
//! | row (test name suffix) | state | input | action | next state |
//! |---|---|---|---|---|
//! | `start` | - | `new()` | transmit INVITE; start A = T1 (unreliable), B = 64*T1 | Calling |
//! | `calling_timer_a_retransmits_and_doubles` | Calling | timer A (unreliable only) | retransmit; A = 2*A, no cap | Calling |
//! | `calling_timer_b_times_out` | Calling | timer B | `TimedOut` | Terminated |
//! | `calling_1xx_to_proceeding` | Calling | 1xx | `ProvisionalReceived`; stop A and B | Proceeding |
//! | `calling_2xx_to_accepted` | Calling | 2xx | `FinalReceived`; start M = 64*T1 | Accepted |
//! | `calling_300_699_acks_and_completes` | Calling | 300-699 | `SendAck`, `FinalReceived`; start D | Completed |
//! | `calling_transport_error` | Calling | transport error | `TransportError` | Terminated |
//! | `proceeding_1xx_passed_up` | Proceeding | 1xx | `ProvisionalReceived` | Proceeding |
//! | `proceeding_2xx_to_accepted` | Proceeding | 2xx | `FinalReceived`; start M | Accepted |
//! | `proceeding_300_699_acks_and_completes` | Proceeding | 300-699 | `SendAck`, `FinalReceived`; start D | Completed |
//! | `completed_300_699_reacks_absorbed` | Completed | 300-699 | `SendAck` only (not to TU) | Completed |
//! | `completed_transport_error` | Completed | transport error | `TransportError` | Terminated |
//! | `completed_timer_d_terminates` | Completed | timer D (max(32 s, 64*T1); 0 if reliable) | - | Terminated |
//! | `accepted_2xx_passed_up` | Accepted | 2xx | `FinalReceived` | Accepted |
//! | `accepted_timer_m_terminates` | Accepted | timer M | - | Terminated |
//!
//! Entering Terminated always emits [`Event::Terminated`] last and stops every timer. Timer B is only
//! running in Calling: once a provisional response arrives the INVITE may legitimately stay unanswered
//! for as long as the callee rings, and the TU bounds that (Expires, CANCEL).

use crate::log::debug;
use crate::time::Instant;

use super::output::{OutputQueue, Pending};
use super::timers::{Reliability, TimerConfig, TimerName, Timers};
use super::{Event, Output, StatusClass};

/// The states of [`ClientInvite`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientInviteState {
    /// The INVITE was sent; no response yet.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A 300-699 response arrived and was acknowledged; absorbing its retransmissions.
    Completed,
    /// A 2xx arrived (RFC 6026); passing further 2xx responses to the TU.
    Accepted,
    /// Done; destroy the transaction.
    Terminated,
}

/// An INVITE client transaction holding the INVITE's bytes in `B`.
#[derive(Debug)]
pub struct ClientInvite<B> {
    state: ClientInviteState,
    config: TimerConfig,
    reliability: Reliability,
    request: B,
    timers: Timers,
    outputs: OutputQueue,
}

impl<B: AsRef<[u8]>> ClientInvite<B> {
    shared_machine_methods!(ClientInviteState);

    /// Starts the transaction: queues the INVITE for transmission and starts timers A and B.
    pub fn new(now: Instant, config: TimerConfig, reliability: Reliability, request: B) -> Self {
        ClientInvite {
            state: ClientInviteState::Calling,
            config,
            reliability,
            request,
            timers: Timers::for_client(now, &config, reliability, TimerName::A, TimerName::B),
            outputs: OutputQueue::transmitting(),
        }
    }

    /// The INVITE's bytes, as given to [`ClientInvite::new`].
    pub fn request(&self) -> &B {
        &self.request
    }

    /// A response matching this transaction (§17.1.3) arrived with `status_code`.
    pub fn handle_response(&mut self, now: Instant, status_code: u16) {
        use ClientInviteState::*;
        match (self.state, StatusClass::of(status_code)) {
            (Calling | Proceeding, StatusClass::Provisional) => {
                self.timers.stop_all();
                self.state = Proceeding;
                self.outputs.event(Event::ProvisionalReceived(status_code));
            }
            (Calling | Proceeding, StatusClass::Success) => {
                self.timers.stop_all();
                self.timers
                    .start_expiry(TimerName::M, now, self.config.transaction_timeout());
                self.state = Accepted;
                self.outputs.event(Event::FinalReceived(status_code));
            }
            (Calling | Proceeding, StatusClass::Failure) => {
                self.timers.stop_all();
                self.timers
                    .start_expiry(TimerName::D, now, self.config.timer_d(self.reliability));
                self.state = Completed;
                self.outputs.push(Pending::SendAck(status_code));
                self.outputs.event(Event::FinalReceived(status_code));
            }
            (Completed, StatusClass::Failure) => self.outputs.push(Pending::SendAck(status_code)),
            (Accepted, StatusClass::Success) => self.outputs.event(Event::FinalReceived(status_code)),
            (state, _) => debug!("INVITE client absorbs {} in {:?}", status_code, state),
        }
        self.fire_due(now);
    }

    /// The transport failed to send the INVITE or an ACK.
    pub fn handle_transport_error(&mut self, now: Instant) {
        if matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Completed
        ) {
            self.outputs.event(Event::TransportError);
            self.terminate();
        }
        self.fire_due(now);
    }

    /// The next output, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output<'_>> {
        let pending = self.outputs.pop()?;
        Some(pending.resolve(self.request.as_ref()))
    }

    fn fire_due(&mut self, now: Instant) {
        while let Some(name) = self.timers.take_due(now) {
            match (self.state, name) {
                (ClientInviteState::Calling, TimerName::A) => {
                    self.outputs.push(Pending::Transmit);
                    let doubled = super::timers::double(self.timers.interval());
                    self.timers.start_retransmit(TimerName::A, now, doubled);
                }
                (ClientInviteState::Calling, TimerName::B) => {
                    self.outputs.event(Event::TimedOut);
                    self.terminate();
                }
                (ClientInviteState::Completed, TimerName::D)
                | (ClientInviteState::Accepted, TimerName::M) => self.terminate(),
                _ => {}
            }
        }
    }
}
