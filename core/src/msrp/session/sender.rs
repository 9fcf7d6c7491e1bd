//! The sending half of a session: queueing messages, cutting them into chunks, writing responses and
//! REPORTs, and tracking transactions until their responses arrive.

use heapless::String;

use super::{
    BodyRead, BodySource, Control, Event, Failure, MessageHandle, MessageId, RangeSet, SendError, Session,
    MIN_TRANSMIT_BUFFER,
};
use crate::msrp::uri::Path;
use crate::msrp::wire::builder::{write_report, write_response};
use crate::msrp::wire::{
    BuildError, ByteRange, Continuation, Method, ReportRequest, Status, Writer, MAX_END_LINE_LEN,
    MAX_TRANSACTION_ID_LEN,
};
use crate::time::Instant;

pub(super) type Tid = String<MAX_TRANSACTION_ID_LEN>;

/// An outgoing message, from `send` until it is settled.
pub(super) struct Outgoing {
    pub handle: MessageHandle,
    pub id: MessageId,
    pub content_type: super::ContentType,
    pub total: Option<u64>,
    /// Bytes of the body written so far (the 0-based offset of the next chunk).
    pub next_offset: u64,
    pub source_done: bool,
    pub all_sent: bool,
    pub stopped: bool,
    pub success_report: bool,
    pub failure_report: ReportRequest,
    pub delivered: RangeSet,
}

impl Outgoing {
    pub fn finished(&self) -> bool {
        self.all_sent || self.stopped
    }
    fn has_data(&self) -> bool {
        !self.finished()
    }
}

/// The chunk being written.
#[derive(Clone, Debug)]
pub(super) struct ChunkOut {
    handle: MessageHandle,
    tid: Tid,
    /// 0-based offset of the chunk's first byte.
    start: u64,
    written: u64,
    limit: u64,
    interruptible: bool,
    abort: bool,
}

/// A transaction awaiting its response.
#[derive(Clone, Debug)]
pub(super) struct PendingTransaction {
    pub tid: Tid,
    pub message: MessageHandle,
    /// 1-based first byte.
    pub start: u64,
    /// 1-based last byte (start - 1 for an empty chunk).
    pub end: u64,
    pub deadline: Option<Instant>,
}

impl ChunkOut {
    pub fn handle(&self) -> MessageHandle {
        self.handle
    }
    pub fn start_offset(&self) -> u64 {
        self.start
    }
}

impl<
        const HEAD: usize,
        const INCOMING: usize,
        const PENDING: usize,
        const CONTROL: usize,
        const EVENTS: usize,
        const RECENT: usize,
    > Session<HEAD, INCOMING, PENDING, CONTROL, EVENTS, RECENT>
{
    /// Queues a message of `total` bytes (or of unknown length, ended by the source), whose body will be
    /// pulled from the [`BodySource`] given to [`Session::poll_transmit`]. Reports follow the config.
    pub fn send(&mut self, content_type: &str, total: Option<u64>) -> Result<MessageHandle, SendError> {
        let (success, failure) = (self.config.success_report, self.config.failure_report);
        self.send_with_reports(content_type, total, success, failure)
    }

    /// [`Session::send`] with explicit Success-Report and Failure-Report values for this message.
    pub fn send_with_reports(
        &mut self,
        content_type: &str,
        total: Option<u64>,
        success_report: bool,
        failure_report: ReportRequest,
    ) -> Result<MessageHandle, SendError> {
        if self.failed {
            return Err(SendError::SessionFailed);
        }
        if self.outgoing.is_full() {
            return Err(SendError::QueueFull);
        }
        let mut ct = super::ContentType::new();
        if content_type.is_empty() || ct.push_str(content_type).is_err() {
            return Err(SendError::BadContentType);
        }
        let handle = MessageHandle(self.next_handle);
        self.next_handle = self.next_handle.wrapping_add(1);
        let id = self.fresh_id('m');
        let out = Outgoing {
            handle,
            id,
            content_type: ct,
            total,
            next_offset: 0,
            source_done: total == Some(0),
            all_sent: false,
            stopped: false,
            success_report,
            failure_report,
            delivered: RangeSet::new(),
        };
        self.outgoing.push(out).map_err(|_| SendError::QueueFull)?;
        Ok(handle)
    }

    /// The Message-ID given to an outgoing message.
    pub fn message_id(&self, message: MessageHandle) -> Option<&str> {
        self.outgoing
            .iter()
            .find(|o| o.handle == message)
            .map(|o| o.id.as_str())
    }

    /// Forgets an outgoing message (for example one whose success report never came).
    pub fn forget(&mut self, message: MessageHandle) {
        if let Some(cur) = self.current.as_mut().filter(|c| c.handle == message) {
            cur.abort = true;
        }
        if let Some(o) = self.outgoing.iter_mut().find(|o| o.handle == message) {
            o.stopped = true;
            o.success_report = false;
        }
        self.pending.retain(|p| p.message != message);
        self.settle();
    }

    /// Writes the next bytes to send into `buf` (at least [`MIN_TRANSMIT_BUFFER`] long) and returns
    /// their length; `None` when there is nothing to send now. Call again until `None` after every
    /// input, and when the body source has new data.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut impl BodySource,
    ) -> Option<usize> {
        if self.failed || buf.len() < MIN_TRANSMIT_BUFFER {
            return None;
        }
        let mut w = Writer::new(buf);
        if self.current.is_some() {
            self.continue_chunk(now, &mut w, source);
        } else if let Some(control) = self.control.pop_front() {
            if self.write_control(&mut w, &control).is_err() {
                crate::log::error!("MSRP response or REPORT does not fit the transmit buffer; dropped");
            }
        } else {
            if self.bind_pending {
                self.bind_pending = false;
                if !self.outgoing.iter().any(Outgoing::has_data) {
                    if self.write_bodiless_send(&mut w).is_ok() {
                        self.mark_bound();
                    }
                    return Some(w.len()).filter(|n| *n > 0);
                }
            }
            if let Some(i) = self.next_to_send() {
                self.start_chunk(now, &mut w, i, source);
            }
        }
        Some(w.len()).filter(|n| *n > 0)
    }

    fn mark_bound(&mut self) {
        if !self.bound {
            self.bound = true;
            self.push_event(Event::Bound);
        }
    }

    fn next_to_send(&self) -> Option<usize> {
        // Passive endpoints wait for the peer's first request (RFC 6135), and new chunks wait for room
        // in the transaction table.
        if !self.bound && self.setup == super::Setup::Passive {
            return None;
        }
        if self.pending.is_full() {
            return None;
        }
        // Round robin: the message after the one served last, so an interrupted chunk lets the others in.
        let after = self
            .last_served
            .and_then(|h| self.outgoing.iter().position(|o| o.handle == h))
            .map_or(0, |i| i + 1);
        let n = self.outgoing.len();
        (0..n)
            .map(|k| (after + k) % n)
            .find(|&i| self.outgoing.get(i).is_some_and(Outgoing::has_data))
    }

    fn write_control(&mut self, w: &mut Writer<'_>, control: &Control) -> Result<(), BuildError> {
        let to_first = Path(&self.remote_path).texts().next().unwrap_or("");
        let n = match control {
            Control::Response { tid, code } => write_response(
                w.spare(),
                tid,
                *code,
                Some(reason_phrase(*code)),
                to_first,
                &self.local_uri,
            )?,
            Control::Report {
                message_id,
                start,
                end,
                total,
                code,
            } => {
                let tid: Tid = self.fresh_id('r');
                let range = ByteRange {
                    start: *start,
                    end: Some(*end),
                    total: Some(*total),
                };
                let status = Status {
                    namespace: 0,
                    code: *code,
                    comment: Some(reason_phrase(*code)),
                };
                write_report(
                    w.spare(),
                    &tid,
                    &self.remote_path,
                    &self.local_uri,
                    message_id,
                    Some(&range),
                    &status,
                )?
            }
        };
        w.advance(n)
    }

    fn write_bodiless_send(&mut self, w: &mut Writer<'_>) -> Result<(), BuildError> {
        let tid: Tid = self.fresh_id('t');
        let mid: MessageId = self.fresh_id('b');
        w.request_line(&tid, Method::Send)?;
        w.header("To-Path", &self.remote_path)?;
        w.header("From-Path", &self.local_uri)?;
        w.header("Message-ID", &mid)?;
        w.byte_range(&ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0),
        })?;
        w.end_line(&tid, Continuation::Complete, false)
    }

    fn write_send_head(
        &self,
        w: &mut Writer<'_>,
        tid: &str,
        out: &Outgoing,
        range: &ByteRange,
    ) -> Result<(), BuildError> {
        w.request_line(tid, Method::Send)?;
        w.header("To-Path", &self.remote_path)?;
        w.header("From-Path", &self.local_uri)?;
        w.header("Message-ID", &out.id)?;
        w.byte_range(range)?;
        if out.success_report {
            w.header("Success-Report", "yes")?;
        }
        if out.failure_report != ReportRequest::Yes {
            w.header("Failure-Report", out.failure_report.as_str())?;
        }
        w.header("Content-Type", &out.content_type)?;
        w.blank_line()
    }

    fn start_chunk(&mut self, now: Instant, w: &mut Writer<'_>, index: usize, source: &mut impl BodySource) {
        let tid: Tid = self.fresh_id('t');
        let Some(out) = self.outgoing.get(index) else {
            return;
        };
        let start = out.next_offset;
        let remaining = out.total.map(|t| t.saturating_sub(start));
        let limit = remaining
            .unwrap_or(u64::MAX)
            .min(u64::from(self.config.chunk_size.max(1)));
        // An exact Byte-Range when the whole chunk fits this buffer; otherwise `*`, which allows
        // interrupting the chunk later.
        let exact = ByteRange {
            start: start + 1,
            end: Some(start + limit),
            total: out.total,
        };
        let open = ByteRange {
            start: start + 1,
            end: None,
            total: out.total,
        };
        let mark = w.len();
        let fits_exactly = out.total.is_some() && self.write_send_head(w, &tid, out, &exact).is_ok() && {
            let room = w.remaining().saturating_sub(MAX_END_LINE_LEN) as u64;
            room >= limit
        };
        let interruptible = !fits_exactly;
        if interruptible {
            w.truncate(mark);
            if self.write_send_head(w, &tid, out, &open).is_err() {
                crate::log::error!("MSRP SEND header does not fit the transmit buffer");
                w.truncate(mark);
                return;
            }
        }
        let handle = out.handle;
        self.last_served = Some(handle);
        self.current = Some(ChunkOut {
            handle,
            tid,
            start,
            written: 0,
            limit,
            interruptible,
            abort: false,
        });
        self.mark_bound();
        self.continue_chunk(now, w, source);
    }

    fn continue_chunk(&mut self, now: Instant, w: &mut Writer<'_>, source: &mut impl BodySource) {
        let Some(mut cur) = self.current.take() else {
            return;
        };
        let Some(index) = self.outgoing.iter().position(|o| o.handle == cur.handle) else {
            return;
        };
        if cur.abort {
            let _ = w.end_line(&cur.tid, Continuation::Aborted, true);
            return;
        }
        let others_waiting = !self.control.is_empty()
            || self
                .outgoing
                .iter()
                .any(|o| o.handle != cur.handle && o.has_data());
        if cur.interruptible && cur.written > 0 && others_waiting {
            if w.end_line(&cur.tid, Continuation::More, true).is_ok() {
                self.chunk_done(now, &cur, index);
            } else {
                self.current = Some(cur);
            }
            return;
        }
        let room = w.remaining().saturating_sub(MAX_END_LINE_LEN) as u64;
        let want = room.min(cur.limit.saturating_sub(cur.written)) as usize;
        let mut read = BodyRead { len: 0, end: false };
        if want > 0 {
            let offset = cur.start + cur.written;
            let spare = w.spare();
            read = source.read(cur.handle, offset, spare.get_mut(..want).unwrap_or(&mut []));
            read.len = read.len.min(want);
            let _ = w.advance(read.len);
        }
        let Some(out) = self.outgoing.get_mut(index) else {
            return;
        };
        cur.written += read.len as u64;
        out.next_offset += read.len as u64;
        if read.end || out.total == Some(out.next_offset) {
            out.source_done = true;
        }
        let short = out.source_done && out.total.is_some_and(|t| out.next_offset < t);
        if !(cur.written == cur.limit || out.source_done) {
            self.current = Some(cur);
            return;
        }
        let flag = if short {
            Continuation::Aborted
        } else if out.source_done {
            Continuation::Complete
        } else {
            Continuation::More
        };
        if w.end_line(&cur.tid, flag, true).is_err() {
            self.current = Some(cur);
            return;
        }
        if flag == Continuation::Complete {
            out.all_sent = true;
        }
        if short {
            out.stopped = true;
            let start = out.next_offset + 1;
            let (handle, end) = (out.handle, out.total);
            self.push_event(Event::SendFailed {
                message: handle,
                failure: Failure::SourceEnded,
                start,
                end,
            });
        } else {
            self.chunk_done(now, &cur, index);
        }
        if flag == Continuation::Complete {
            self.push_event(Event::Sent { message: cur.handle });
        }
        self.settle();
    }

    /// Registers the transaction of a chunk just closed.
    fn chunk_done(&mut self, now: Instant, cur: &ChunkOut, index: usize) {
        let Some(out) = self.outgoing.get(index) else {
            return;
        };
        let deadline = match out.failure_report {
            ReportRequest::No => return,
            ReportRequest::Partial => None,
            ReportRequest::Yes => Some(now + self.config.transaction_timeout),
        };
        let txn = PendingTransaction {
            tid: cur.tid.clone(),
            message: cur.handle,
            start: cur.start + 1,
            end: cur.start + cur.written,
            deadline,
        };
        if self.pending.push(txn).is_err() {
            crate::log::warning!("MSRP transaction table full; a chunk is sent without tracking");
        }
    }

    /// A transaction response arrived.
    pub(super) fn on_response(&mut self, tid: &str, code: u16) {
        let Some(i) = self.pending.iter().position(|p| p.tid == tid) else {
            return;
        };
        let txn = self.pending.swap_remove(i);
        match code {
            200..=299 => {}
            408 => self.fail_message(txn.message, Failure::Timeout, txn.start, Some(txn.end)),
            481 => {
                // RFC 4975 §10.8: the session does not exist for the peer; it is over.
                self.fail_message(txn.message, Failure::Response(code), txn.start, Some(txn.end));
                self.fail_all(Failure::Response(code));
            }
            _ => self.fail_message(txn.message, Failure::Response(code), txn.start, Some(txn.end)),
        }
        self.settle();
    }

    /// A REPORT for one of our messages arrived (never answered, RFC 4975 §7.1.2).
    pub(super) fn on_report(&mut self, message_id: &str, code: u16, range: Option<ByteRange>) {
        let Some(out) = self.outgoing.iter_mut().find(|o| o.id == message_id) else {
            self.on_late_report(message_id, code, range);
            return;
        };
        let handle = out.handle;
        let start = range.map(|r| r.start).unwrap_or(1);
        let end = range.and_then(|r| r.end).or(out.total);
        if code == 200 {
            let end = end.unwrap_or(out.next_offset);
            let _ = out.delivered.insert(start.saturating_sub(1), end);
            self.push_event(Event::Delivered {
                message: handle,
                start,
                end,
            });
        } else {
            self.fail_message(handle, Failure::Report(code), start, end);
        }
        self.settle();
    }

    /// A REPORT for a message already settled: still worth telling the application.
    fn on_late_report(&mut self, message_id: &str, code: u16, range: Option<ByteRange>) {
        let Some(&(message, _)) = self.recent.iter().find(|(_, id)| id == message_id) else {
            return;
        };
        let start = range.map(|r| r.start).unwrap_or(1);
        let end = range.and_then(|r| r.end);
        if code == 200 {
            self.push_event(Event::Delivered {
                message,
                start,
                end: end.unwrap_or(start),
            });
        } else {
            self.push_event(Event::SendFailed {
                message,
                failure: Failure::Report(code),
                start,
                end,
            });
        }
    }

    /// Reports a failure and stops the message (aborting its chunk in progress with `#`).
    pub(super) fn fail_message(
        &mut self,
        message: MessageHandle,
        failure: Failure,
        start: u64,
        end: Option<u64>,
    ) {
        self.push_event(Event::SendFailed {
            message,
            failure,
            start,
            end,
        });
        if let Some(out) = self.outgoing.iter_mut().find(|o| o.handle == message) {
            out.stopped = true;
            out.success_report = false;
        }
        if let Some(cur) = self.current.as_mut().filter(|c| c.handle == message) {
            cur.abort = true;
        }
        self.pending.retain(|p| p.message != message);
        self.settle();
    }

    /// Drops messages nothing more can happen to.
    fn settle(&mut self) {
        let current = self.current.as_ref().map(|c| c.handle);
        while let Some(i) = self.outgoing.iter().position(|o| {
            let waiting_report = o.success_report && !o.stopped && !o.delivered.covers_prefix(o.next_offset);
            let busy = current == Some(o.handle) || self.pending.iter().any(|p| p.message == o.handle);
            o.finished() && !busy && !waiting_report
        }) {
            let done = self.outgoing.remove(i);
            if self.recent.is_full() {
                self.recent.pop_front();
            }
            let _ = self.recent.push_back((done.handle, done.id));
        }
    }
}

/// A short comment for a status code.
pub(super) fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        413 => "Stop sending this message",
        415 => "Unsupported media type",
        481 => "No such session",
        501 => "Method not implemented",
        506 => "Session bound to another connection",
        _ => "Error",
    }
}
