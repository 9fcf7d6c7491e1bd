//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6; RFC 6026 does not change it).
//!
//! ## State table
//!
//! On reliable transports timer E is never started and timer K is zero. Inputs not listed for a state
//! are absorbed silently.
//!
//! | row (test name suffix) | state | input | action | next state |
//! |---|---|---|---|---|
//! | `start` | - | `new()` | transmit request; start E = T1 (unreliable), F = 64*T1 | Trying |
//! | `trying_timer_e_retransmits_capped_at_t2` | Trying | timer E (unreliable only) | retransmit; E = min(2*E, T2) | Trying |
//! | `trying_timer_f_times_out` | Trying | timer F | `TimedOut` | Terminated |
//! | `trying_transport_error` | Trying | transport error | `TransportError` | Terminated |
//! | `trying_1xx_to_proceeding` | Trying | 1xx | `ProvisionalReceived` | Proceeding |
//! | `trying_200_699_completes` | Trying | 200-699 | `FinalReceived`; start K = T4 (0 if reliable) | Completed |
//! | `proceeding_timer_e_retransmits_at_t2` | Proceeding | timer E (unreliable only) | retransmit; E = T2 | Proceeding |
//! | `proceeding_timer_f_times_out` | Proceeding | timer F | `TimedOut` | Terminated |
//! | `proceeding_transport_error` | Proceeding | transport error | `TransportError` | Terminated |
//! | `proceeding_1xx_passed_up` | Proceeding | 1xx | `ProvisionalReceived` | Proceeding |
//! | `proceeding_200_699_completes` | Proceeding | 200-699 | `FinalReceived`; start K | Completed |
//! | `completed_responses_absorbed` | Completed | any response | - | Completed |
//! | `completed_timer_k_terminates` | Completed | timer K | - | Terminated |

use crate::log::debug;
use crate::time::Instant;

use super::output::{OutputQueue, Pending};
use super::timers::{Reliability, TimerConfig, TimerName, Timers};
use super::{Event, Output, StatusClass};

/// The states of [`ClientNonInvite`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientNonInviteState {
    /// The request was sent; no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; absorbing its retransmissions.
    Completed,
    /// Done; destroy the transaction.
    Terminated,
}

/// A non-INVITE client transaction holding the request's bytes in `B`.
#[derive(Debug)]
pub struct ClientNonInvite<B> {
    state: ClientNonInviteState,
    config: TimerConfig,
    reliability: Reliability,
    request: B,
    timers: Timers,
    outputs: OutputQueue,
}

impl<B: AsRef<[u8]>> ClientNonInvite<B> {
    shared_machine_methods!(ClientNonInviteState);

    /// Starts the transaction: queues the request for transmission and starts timers E and F.
    pub fn new(now: Instant, config: TimerConfig, reliability: Reliability, request: B) -> Self {
        ClientNonInvite {
            state: ClientNonInviteState::Trying,
            config,
            reliability,
            request,
            timers: Timers::for_client(now, &config, reliability, TimerName::E, TimerName::F),
            outputs: OutputQueue::transmitting(),
        }
    }

    /// The request's bytes, as given to [`ClientNonInvite::new`].
    pub fn request(&self) -> &B {
        &self.request
    }

    /// A response matching this transaction (§17.1.3) arrived with `status_code`.
    pub fn handle_response(&mut self, now: Instant, status_code: u16) {
        use ClientNonInviteState::*;
        match (self.state, StatusClass::of(status_code)) {
            (Trying | Proceeding, StatusClass::Provisional) => {
                self.state = Proceeding;
                self.outputs.event(Event::ProvisionalReceived(status_code));
            }
            (Trying | Proceeding, StatusClass::Success | StatusClass::Failure) => {
                self.timers.stop_all();
                self.timers
                    .start_expiry(TimerName::K, now, self.config.t4_or_zero(self.reliability));
                self.state = Completed;
                self.outputs.event(Event::FinalReceived(status_code));
            }
            (state, _) => debug!("non-INVITE client absorbs {} in {:?}", status_code, state),
        }
        self.fire_due(now);
    }

    /// The transport failed to send the request.
    pub fn handle_transport_error(&mut self, now: Instant) {
        if matches!(
            self.state,
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding
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
        use ClientNonInviteState::*;
        while let Some(name) = self.timers.take_due(now) {
            match (self.state, name) {
                (Trying, TimerName::E) => {
                    self.outputs.push(Pending::Transmit);
                    let next = super::timers::double(self.timers.interval()).min(self.config.cap());
                    self.timers.start_retransmit(TimerName::E, now, next);
                }
                (Proceeding, TimerName::E) => {
                    self.outputs.push(Pending::Transmit);
                    self.timers.start_retransmit(TimerName::E, now, self.config.cap());
                }
                (Trying | Proceeding, TimerName::F) => {
                    self.outputs.event(Event::TimedOut);
                    self.terminate();
                }
                (Completed, TimerName::K) => self.terminate(),
                _ => {}
            }
        }
    }
}
