//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8; RFC 6026 does not change it).
//!
//! ## State table
//!
//! On reliable transports timer J is zero, so Completed is left at once. "TU 1xx/200-699" are calls to
//! [`ServerNonInvite::send_response`]; a response the state does not accept returns
//! [`SendError::WrongState`]. Other inputs not listed are absorbed silently.
//!
//! | row (test name suffix) | state | input | action | next state |
//! |---|---|---|---|---|
//! | `start` | - | `new()` (request received) | nothing | Trying |
//! | `trying_request_absorbed` | Trying | request retransmission | - (nothing to resend yet) | Trying |
//! | `trying_tu_1xx_to_proceeding` | Trying | TU 1xx | transmit | Proceeding |
//! | `trying_tu_200_699_completes` | Trying | TU 200-699 | transmit; start J = 64*T1 (0 if reliable) | Completed |
//! | `proceeding_request_resends_provisional` | Proceeding | request retransmission | retransmit latest provisional | Proceeding |
//! | `proceeding_tu_1xx_sent` | Proceeding | TU 1xx | transmit | Proceeding |
//! | `proceeding_tu_200_699_completes` | Proceeding | TU 200-699 | transmit; start J | Completed |
//! | `proceeding_transport_error` | Proceeding | transport error | `TransportError` | Terminated |
//! | `completed_request_resends_final` | Completed | request retransmission | retransmit final | Completed |
//! | `completed_tu_response_refused` | Completed | TU any | `Err(WrongState)` | Completed |
//! | `completed_transport_error` | Completed | transport error | `TransportError` | Terminated |
//! | `completed_timer_j_terminates` | Completed | timer J | - | Terminated |

use crate::log::debug;
use crate::time::Instant;

use super::output::{OutputQueue, Pending};
use super::timers::{Reliability, TimerConfig, TimerName, Timers};
use super::{Event, Output, SendError, StatusClass};

/// The states of [`ServerNonInvite`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ServerNonInviteState {
    /// The request was received; no response yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; answering request retransmissions with it.
    Completed,
    /// Done; destroy the transaction.
    Terminated,
}

/// A non-INVITE server transaction holding its latest response's bytes in `B`.
#[derive(Debug)]
pub struct ServerNonInvite<B> {
    state: ServerNonInviteState,
    config: TimerConfig,
    reliability: Reliability,
    response: Option<B>,
    timers: Timers,
    outputs: OutputQueue,
}

impl<B: AsRef<[u8]>> ServerNonInvite<B> {
    shared_machine_methods!(ServerNonInviteState);

    /// Creates the transaction for a request just received at `now`.
    pub fn new(now: Instant, config: TimerConfig, reliability: Reliability) -> Self {
        let _ = now;
        ServerNonInvite {
            state: ServerNonInviteState::Trying,
            config,
            reliability,
            response: None,
            timers: Timers::default(),
            outputs: OutputQueue::default(),
        }
    }

    shared_server_methods!();

    fn accept_response(&mut self, now: Instant, status_code: u16, response: B) -> Result<(), SendError> {
        use ServerNonInviteState::*;
        match (self.state, StatusClass::of(status_code)) {
            (_, StatusClass::Invalid) => return Err(SendError::InvalidStatus(status_code)),
            (Trying | Proceeding, StatusClass::Provisional) => self.state = Proceeding,
            (Trying | Proceeding, StatusClass::Success | StatusClass::Failure) => {
                self.timers
                    .start_expiry(TimerName::J, now, self.config.timeout_or_zero(self.reliability));
                self.state = Completed;
            }
            _ => return Err(SendError::WrongState),
        }
        self.response = Some(response);
        self.outputs.push(Pending::Transmit);
        self.fire_due(now);
        Ok(())
    }

    /// A retransmission of the request arrived.
    pub fn handle_request(&mut self, now: Instant) {
        match self.state {
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed => {
                self.outputs.push(Pending::Transmit)
            }
            state => debug!("non-INVITE server absorbs a retransmission in {:?}", state),
        }
        self.fire_due(now);
    }

    /// The transport failed to send a response.
    pub fn handle_transport_error(&mut self, now: Instant) {
        if matches!(
            self.state,
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed
        ) {
            self.outputs.event(Event::TransportError);
            self.terminate();
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
        while let Some(name) = self.timers.take_due(now) {
            if (self.state, name) == (ServerNonInviteState::Completed, TimerName::J) {
                self.terminate();
            }
        }
    }
}
