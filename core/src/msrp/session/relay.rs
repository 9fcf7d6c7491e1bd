//! An MSRP relay (RFC 4976 §6) as a sans-IO machine: forwarding by To-Path, path rewriting,
//! hop-by-hop responses, failure REPORTs and re-chunking.
//!
//! The relay knows a few connections ([`ConnectionId`]), each to a peer identified by an MSRP URI
//! (its authority is what routing compares). Bytes read from a connection go into
//! [`Relay::handle_input`]; bytes to write come from [`Relay::poll_transmit`]. Bodies stream through: a
//! forwarded chunk is written to the next hop's bounded output buffer as its bytes arrive, so when that
//! buffer is full `handle_input` consumes less (back-pressure) and the caller drains `poll_transmit`
//! first. Authentication (AUTH, §6.3) is not handled here: the caller decides which connections exist.
//!
//! ## What happens to a request (in this order)
//!
//! | condition | action |
//! |---|---|
//! | response | completes the forwarded transaction; non-2xx and Failure-Report not `no`: failure REPORT upstream with that code (§6.4.3) |
//! | first To-Path URI is not this relay | 403 (Failure-Report permitting), dropped |
//! | no connection to the next To-Path URI's authority | 481 (Failure-Report permitting), dropped |
//! | SEND | 200 upstream at once when Failure-Report is `yes` (§6.4.1); forwarded in chunks of at most the next hop's `chunk_limit`, with a new transaction-id, To-Path minus this relay, From-Path with this relay prepended, Byte-Range `start-*/total` |
//! | REPORT or other method | forwarded the same way, never answered (§6.4.2) |
//!
//! ## Forwarded SEND transactions
//!
//! | Failure-Report | timer | next hop answers non-2xx | no answer in `transaction_timeout` | next hop's connection lost |
//! |---|---|---|---|---|
//! | yes | yes | REPORT with its code | REPORT 408 | REPORT 408 |
//! | partial | no | REPORT with its code | - | REPORT 408 |
//! | no | no | - | - | - |
//!
//! When the connection a chunk arrives on is lost mid-chunk, the forwarded chunk is closed with `#`.

use core::fmt;
use core::time::Duration;

use heapless::{Deque, String, Vec};

use super::sender::{reason_phrase, Tid};
use super::{MessageId, MAX_PATH_LEN, MAX_URI_LEN};
use crate::msrp::uri::MsrpUri;
use crate::msrp::wire::builder::{write_report, write_response};
use crate::msrp::wire::{
    ByteRange, ChunkEvent, ChunkReader, Continuation, FrameError, ReportRequest, Status, Writer,
};
use crate::time::Instant;

/// Connections a relay serves at once. Each costs about 8 KiB (reader, output buffer, templates).
pub const MAX_RELAY_CONNECTIONS: usize = 4;
/// Output buffered per connection; a forwarded chunk waits for the caller to drain it.
pub const RELAY_OUT_BUFFER: usize = 4096;
/// Forwarded transactions awaiting their response.
pub const MAX_RELAY_PENDING: usize = 16;
/// Bytes of header fields (other than the paths and Byte-Range) carried into forwarded chunks.
pub const MAX_FORWARDED_HEADERS: usize = 512;
/// Responses and REPORTs queued per connection.
const MAX_RELAY_CONTROL: usize = 16;

/// A connection, as the caller names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnectionId(pub u32);

/// Why a connection cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RelayError {
    /// [`MAX_RELAY_CONNECTIONS`] connections exist already.
    TooManyConnections,
    /// The peer URI does not parse or is longer than [`MAX_URI_LEN`].
    BadPeerUri,
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RelayError::TooManyConnections => "relay already serves MAX_RELAY_CONNECTIONS connections",
            RelayError::BadPeerUri => "peer URI is not a valid MSRP URI of at most MAX_URI_LEN bytes",
        })
    }
}

// Both enums live inline in fixed per-connection state (no allocator to box with); their size is the
// bounded worst case either way.
#[allow(clippy::large_enum_variant)]
enum RelayControl {
    Response {
        tid: Tid,
        code: u16,
        to: String<MAX_URI_LEN>,
    },
    Report {
        to_path: String<MAX_PATH_LEN>,
        message_id: MessageId,
        range: ByteRange,
        code: u16,
    },
}

/// What to repeat at the top of every chunk forwarded for one incoming request.
struct Template {
    method: String<16>,
    to_path: String<MAX_PATH_LEN>,
    from_path: String<MAX_PATH_LEN>,
    /// The original From-Path: where failure REPORTs go.
    report_path: String<MAX_PATH_LEN>,
    message_id: MessageId,
    headers: Vec<u8, MAX_FORWARDED_HEADERS>,
    has_body: bool,
    is_send: bool,
    failure_report: ReportRequest,
    total: Option<u64>,
}

#[allow(clippy::large_enum_variant)]
enum Inbound {
    Idle,
    Forwarding {
        to: ConnectionId,
        template: Template,
        tid: Tid,
        next_offset: u64,
        end: Option<Continuation>,
    },
    Rejecting {
        tid: Tid,
        code: u16,
        failure_report: ReportRequest,
        to: String<MAX_URI_LEN>,
    },
    Skipping,
}

/// A forwarded chunk open on an output.
struct OpenChunk {
    from: ConnectionId,
    tid: Tid,
    start: u64,
    written: u64,
}

struct Leg {
    id: ConnectionId,
    peer: String<MAX_URI_LEN>,
    chunk_limit: u32,
    reader: ChunkReader,
    inbound: Inbound,
    out: [u8; RELAY_OUT_BUFFER],
    out_len: usize,
    open: Option<OpenChunk>,
    control: Deque<RelayControl, MAX_RELAY_CONTROL>,
}

struct Pending {
    tid: Tid,
    on: ConnectionId,
    origin: ConnectionId,
    report_path: String<MAX_PATH_LEN>,
    message_id: MessageId,
    range: ByteRange,
    failure_report: ReportRequest,
    deadline: Option<Instant>,
}

/// The relay machine. See the module docs.
pub struct Relay {
    own_uri: String<MAX_URI_LEN>,
    timeout: Duration,
    legs: Vec<Leg, MAX_RELAY_CONNECTIONS>,
    pending: Vec<Pending, MAX_RELAY_PENDING>,
    counter: u32,
}

fn copy<const N: usize>(s: &str) -> Option<String<N>> {
    let mut out = String::new();
    out.push_str(s).ok()?;
    Some(out)
}

impl Relay {
    /// A relay known as `own_uri` (the URI it hands out in Use-Path), with the RFC's 30 s timer.
    pub fn new(own_uri: &str) -> Result<Self, RelayError> {
        MsrpUri::parse(own_uri).map_err(|_| RelayError::BadPeerUri)?;
        Ok(Relay {
            own_uri: copy(own_uri).ok_or(RelayError::BadPeerUri)?,
            timeout: Duration::from_secs(30),
            legs: Vec::new(),
            pending: Vec::new(),
            counter: 0,
        })
    }

    /// Changes the forwarded-transaction timeout.
    pub fn set_transaction_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Registers a connection to `peer` (an MSRP URI; its authority routes To-Paths), whose chunks
    /// carry at most `chunk_limit` body bytes.
    pub fn add_connection(
        &mut self,
        id: ConnectionId,
        peer: &str,
        chunk_limit: u32,
    ) -> Result<(), RelayError> {
        MsrpUri::parse(peer).map_err(|_| RelayError::BadPeerUri)?;
        let leg = Leg {
            id,
            peer: copy(peer).ok_or(RelayError::BadPeerUri)?,
            chunk_limit: chunk_limit.max(1),
            reader: ChunkReader::new(),
            inbound: Inbound::Idle,
            out: [0; RELAY_OUT_BUFFER],
            out_len: 0,
            open: None,
            control: Deque::new(),
        };
        self.legs.push(leg).map_err(|_| RelayError::TooManyConnections)
    }

    fn leg(&mut self, id: ConnectionId) -> Option<&mut Leg> {
        self.legs.iter_mut().find(|l| l.id == id)
    }

    fn fresh_tid(&mut self) -> Tid {
        self.counter = self.counter.wrapping_add(1);
        let mut tid = Tid::new();
        let _ = fmt::write(&mut tid, format_args!("rly{:08x}", self.counter));
        tid
    }

    /// The next deadline of a forwarded transaction.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().filter_map(|p| p.deadline).min()
    }

    /// Fires due transaction timers: REPORT 408 upstream (§6.4.1).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(i) = self
            .pending
            .iter()
            .position(|p| p.deadline.is_some_and(|d| d <= now))
        {
            let p = self.pending.swap_remove(i);
            self.report_failure(p, 408);
        }
    }

    fn report_failure(&mut self, p: Pending, code: u16) {
        if p.failure_report == ReportRequest::No {
            return;
        }
        let report = RelayControl::Report {
            to_path: p.report_path,
            message_id: p.message_id,
            range: p.range,
            code,
        };
        if let Some(leg) = self.leg(p.origin) {
            if leg.control.push_back(report).is_err() {
                crate::log::warning!("relay control queue full; a failure REPORT was dropped");
            }
        }
    }

    /// A connection is gone: its forwarded transactions fail upstream (REPORT 408), chunks it was
    /// feeding are closed with `#`, and it is forgotten.
    pub fn connection_lost(&mut self, id: ConnectionId) {
        while let Some(i) = self.pending.iter().position(|p| p.on == id) {
            let p = self.pending.swap_remove(i);
            self.report_failure(p, 408);
        }
        for i in 0..self.legs.len() {
            let Some(leg) = self.legs.get_mut(i) else { break };
            if leg.open.as_ref().is_some_and(|o| o.from == id) {
                if let Some(open) = leg.open.take() {
                    let mut w = Writer::new(leg.out.get_mut(leg.out_len..).unwrap_or(&mut []));
                    if w.end_line(&open.tid, Continuation::Aborted, true).is_ok() {
                        leg.out_len += w.len();
                    }
                }
            }
        }
        // Requests that were being forwarded into the lost connection: report what was received.
        let mut reports: Vec<(ConnectionId, Pending), MAX_RELAY_CONNECTIONS> = Vec::new();
        for leg in self.legs.iter_mut().filter(|l| l.id != id) {
            if let Inbound::Forwarding {
                to,
                template,
                next_offset,
                ..
            } = &mut leg.inbound
            {
                if *to == id && template.is_send {
                    let p = Pending {
                        tid: Tid::new(),
                        on: id,
                        origin: leg.id,
                        report_path: template.report_path.clone(),
                        message_id: template.message_id.clone(),
                        range: ByteRange {
                            start: next_offset.saturating_add(1),
                            end: None,
                            total: template.total,
                        },
                        failure_report: template.failure_report,
                        deadline: None,
                    };
                    let _ = reports.push((leg.id, p));
                    // The rest of the chunk is read and dropped.
                    template.is_send = false;
                    template.failure_report = ReportRequest::No;
                }
            }
        }
        for (_, p) in reports {
            self.report_failure(p, 408);
        }
        self.legs.retain(|l| l.id != id);
    }

    /// Feeds bytes read from connection `from`; returns how many were consumed (the rest must be
    /// presented again: an end-line fragment, or bytes held back until the next hop's buffer drains).
    pub fn handle_input(
        &mut self,
        now: Instant,
        from: ConnectionId,
        input: &[u8],
    ) -> Result<usize, FrameError> {
        let Some(index) = self.legs.iter().position(|l| l.id == from) else {
            return Ok(0);
        };
        self.flush_all(now);
        let mut pos = 0;
        loop {
            if self
                .legs
                .get(index)
                .is_some_and(|l| matches!(l.inbound, Inbound::Forwarding { end: Some(_), .. }))
            {
                break; // an end-line waits for room at the next hop
            }
            let Some(leg) = self.legs.get_mut(index) else {
                break;
            };
            // Half the control queue stays free for failure REPORTs caused by other connections; new
            // requests wait until the caller drains (back-pressure instead of dropping).
            if leg.reader.is_idle() && leg.control.len() > MAX_RELAY_CONTROL / 2 {
                break;
            }
            let (used, event) = leg.reader.feed(input.get(pos..).unwrap_or(&[]))?;
            match event {
                None => {
                    pos += used;
                    break;
                }
                Some(ChunkEvent::Head) => {
                    pos += used;
                    self.on_head(index);
                }
                Some(ChunkEvent::Body(bytes)) => {
                    let taken = self.on_body(now, index, bytes);
                    pos += taken;
                    if taken < bytes.len() {
                        break;
                    }
                }
                Some(ChunkEvent::End(flag)) => {
                    pos += used;
                    if let Some(Leg {
                        inbound: Inbound::Forwarding { end, .. },
                        ..
                    }) = self.legs.get_mut(index)
                    {
                        *end = Some(flag);
                    } else {
                        self.finish_simple(index);
                    }
                    self.flush_all(now);
                }
            }
        }
        Ok(pos)
    }

    /// Copies pending output of some connection into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(ConnectionId, usize)> {
        self.flush_all(now);
        let leg = self.legs.iter_mut().find(|l| l.out_len > 0)?;
        let n = leg.out_len.min(buf.len());
        buf.get_mut(..n)?.copy_from_slice(leg.out.get(..n)?);
        leg.out.copy_within(n..leg.out_len, 0);
        leg.out_len -= n;
        Some((leg.id, n))
    }

    /// Moves queued control messages and pending end-lines into output buffers where possible.
    fn flush_all(&mut self, now: Instant) {
        for i in 0..self.legs.len() {
            self.finish_forward(now, i);
        }
        for leg in self.legs.iter_mut() {
            while leg.open.is_none() {
                let Some(control) = leg.control.front() else { break };
                let spare = leg.out.get_mut(leg.out_len..).unwrap_or(&mut []);
                let written = match control {
                    RelayControl::Response { tid, code, to } => {
                        write_response(spare, tid, *code, Some(reason_phrase(*code)), to, &self.own_uri)
                    }
                    RelayControl::Report {
                        to_path,
                        message_id,
                        range,
                        code,
                    } => {
                        self.counter = self.counter.wrapping_add(1);
                        let mut tid = Tid::new();
                        let _ = fmt::write(&mut tid, format_args!("rrp{:08x}", self.counter));
                        let status = Status {
                            namespace: 0,
                            code: *code,
                            comment: Some(reason_phrase(*code)),
                        };
                        write_report(
                            spare,
                            &tid,
                            to_path,
                            &self.own_uri,
                            message_id,
                            Some(range),
                            &status,
                        )
                    }
                };
                match written {
                    Ok(n) => {
                        leg.out_len += n;
                        leg.control.pop_front();
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

mod forward;
