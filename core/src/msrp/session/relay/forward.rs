//! The forwarding half of the relay: deciding what to do with a request, rewriting its paths and
//! streaming its body into the next hop's output in chunks of at most that hop's limit.

use crate::ascii_trim::TrimAsciiWs;
use core::fmt::Write as _;
use core::mem;

use super::{
    copy, ConnectionId, Inbound, Leg, OpenChunk, Pending, Relay, RelayControl, Template, Tid,
    RELAY_OUT_BUFFER,
};
use crate::msrp::uri::{MsrpUri, Path};
use crate::msrp::wire::framer::start_line_tid;
use crate::msrp::wire::{ByteRange, Continuation, Head, Method, ReportRequest, Writer, MAX_END_LINE_LEN};
use crate::time::Instant;

/// Whether a response with `code` goes back, given Failure-Report (RFC 4975 §7.2).
fn response_allowed(failure_report: ReportRequest, code: u16) -> bool {
    match failure_report {
        ReportRequest::Yes => true,
        ReportRequest::Partial => code != 200,
        ReportRequest::No => false,
    }
}

impl Relay {
    pub(super) fn on_head(&mut self, index: usize) {
        let Some(leg) = self.legs.get(index) else { return };
        let inbound = match leg.reader.head() {
            Ok(head) => self.decide(leg, &head),
            Err(_) => {
                let tid = start_line_tid(leg.reader.header_block())
                    .ok()
                    .flatten()
                    .unwrap_or(b"");
                let tid = core::str::from_utf8(tid).ok().and_then(copy).unwrap_or_default();
                Inbound::Rejecting {
                    tid,
                    code: 400,
                    failure_report: ReportRequest::Yes,
                    to: leg.peer.clone(),
                }
            }
        };
        // A SEND with Failure-Report `yes` is acknowledged at once, hop by hop (§6.4.1).
        if let Inbound::Forwarding { template, .. } = &inbound {
            if template.is_send && template.failure_report == ReportRequest::Yes {
                let tid = self
                    .legs
                    .get(index)
                    .and_then(|l| l.reader.head().ok())
                    .and_then(|h| copy(h.transaction_id));
                let to = Path(&template.report_path).texts().next().and_then(copy);
                if let (Some(tid), Some(to), Some(leg)) = (tid, to, self.legs.get_mut(index)) {
                    let _ = leg
                        .control
                        .push_back(RelayControl::Response { tid, code: 200, to });
                }
            }
        }
        if let Inbound::Skipping = inbound {
            self.on_response_head(index);
        }
        if let Some(leg) = self.legs.get_mut(index) {
            leg.inbound = inbound;
        }
    }

    fn on_response_head(&mut self, index: usize) {
        let Some(leg) = self.legs.get(index) else { return };
        let Ok(head) = leg.reader.head() else { return };
        let (Some(code), on) = (head.status_code(), leg.id) else {
            return;
        };
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.tid == head.transaction_id && p.on == on)
        else {
            return;
        };
        drop(head);
        let p = self.pending.swap_remove(i);
        if !(200..300).contains(&code) {
            self.report_failure(p, code);
        }
    }

    /// The table of the module docs, for one request or response head.
    fn decide(&self, leg: &Leg, head: &Head<'_>) -> Inbound {
        let Some(method) = head.method() else {
            return Inbound::Skipping;
        };
        let failure_report = head.failure_report().ok().flatten().unwrap_or(ReportRequest::Yes);
        let from = head.from_path().map(|p| p.0.trim_ws()).unwrap_or("");
        let tid = copy(head.transaction_id).unwrap_or_default();
        let reject = |code| {
            let to = Path(from)
                .texts()
                .next()
                .and_then(copy)
                .unwrap_or_else(|| leg.peer.clone());
            let fr = if method == Method::Send {
                failure_report
            } else {
                ReportRequest::No
            };
            Inbound::Rejecting {
                tid: tid.clone(),
                code,
                failure_report: fr,
                to,
            }
        };
        let to_path = head.to_path().unwrap_or(Path(""));
        let own = MsrpUri::parse(&self.own_uri);
        let is_us = matches!((to_path.first(), own), (Some(Ok(first)), Ok(own)) if first.matches(&own));
        if !is_us {
            return reject(403);
        }
        let rest = to_path.rest_after_first();
        let next_leg = Path(rest).first().and_then(Result::ok).and_then(|next| {
            self.legs
                .iter()
                .find(|l| MsrpUri::parse(&l.peer).is_ok_and(|peer| peer.same_authority(&next)))
        });
        let Some(next_leg) = next_leg else {
            return reject(481);
        };
        let is_send = method == Method::Send;
        let range = head.byte_range().ok().flatten();
        let mut template = Template {
            method: copy(method.as_str()).unwrap_or_default(),
            to_path: copy(rest).unwrap_or_default(),
            from_path: Default::default(),
            report_path: copy(from).unwrap_or_default(),
            message_id: head.message_id().and_then(copy).unwrap_or_default(),
            headers: heapless::Vec::new(),
            has_body: head.content_type().is_some(),
            is_send,
            failure_report: if is_send {
                failure_report
            } else {
                ReportRequest::No
            },
            total: range.and_then(|r| r.total),
        };
        if write!(template.from_path, "{} {}", self.own_uri, from).is_err() {
            return reject(400);
        }
        for h in head.headers.iter() {
            let rewritten = ["To-Path", "From-Path"]
                .iter()
                .any(|n| h.name.eq_ignore_ascii_case(n))
                || (is_send && h.name.eq_ignore_ascii_case("Byte-Range"));
            if rewritten {
                continue;
            }
            let fits = [h.name.as_bytes(), b": ", h.value.as_bytes(), b"\r\n"]
                .iter()
                .all(|piece| template.headers.extend_from_slice(piece).is_ok());
            if !fits {
                return reject(400);
            }
        }
        let next_offset = range.map_or(0, |r| r.start.saturating_sub(1));
        Inbound::Forwarding {
            to: next_leg.id,
            template,
            tid: Tid::new(),
            next_offset,
            end: None,
        }
    }

    /// Streams body bytes toward the next hop; returns how many were taken.
    pub(super) fn on_body(&mut self, now: Instant, index: usize, bytes: &[u8]) -> usize {
        let Some(leg) = self.legs.get_mut(index) else {
            return bytes.len();
        };
        let from = leg.id;
        let mut inbound = mem::replace(&mut leg.inbound, Inbound::Idle);
        let taken = match &mut inbound {
            Inbound::Forwarding {
                to,
                template,
                tid,
                next_offset,
                ..
            } => self.forward_body(now, from, *to, template, tid, next_offset, bytes),
            _ => bytes.len(),
        };
        if let Some(leg) = self.legs.get_mut(index) {
            leg.inbound = inbound;
        }
        taken
    }

    #[allow(clippy::too_many_arguments)]
    fn forward_body(
        &mut self,
        now: Instant,
        from: ConnectionId,
        to: ConnectionId,
        template: &Template,
        tid: &mut Tid,
        next_offset: &mut u64,
        bytes: &[u8],
    ) -> usize {
        let Some(out) = self.legs.iter().position(|l| l.id == to) else {
            return bytes.len();
        };
        if !self.ensure_open(out, from, template, tid, *next_offset) {
            return 0;
        }
        let Some(leg) = self.legs.get_mut(out) else {
            return 0;
        };
        let limit = if template.is_send {
            u64::from(leg.chunk_limit)
        } else {
            u64::MAX
        };
        let Some(open) = leg.open.as_mut() else { return 0 };
        let room = RELAY_OUT_BUFFER.saturating_sub(leg.out_len + MAX_END_LINE_LEN);
        let k = bytes
            .len()
            .min(room)
            .min(usize::try_from(limit.saturating_sub(open.written)).unwrap_or(usize::MAX));
        if let (Some(dst), Some(src)) = (leg.out.get_mut(leg.out_len..leg.out_len + k), bytes.get(..k)) {
            dst.copy_from_slice(src);
        }
        leg.out_len += k;
        open.written = open.written.saturating_add(k as u64);
        *next_offset = next_offset.saturating_add(k as u64);
        if open.written >= limit {
            // Re-chunking for a next hop with a smaller limit: close with `+`, go on in a new chunk.
            self.close_chunk(out, template, from, Continuation::More, now);
        }
        k
    }

    /// Opens a forwarded chunk on output `out` if none is open; false when the output is busy or full.
    fn ensure_open(
        &mut self,
        out: usize,
        from: ConnectionId,
        template: &Template,
        tid: &mut Tid,
        start: u64,
    ) -> bool {
        match self.legs.get(out).map(|l| l.open.as_ref().map(|o| o.from)) {
            None => return false,
            Some(Some(owner)) => return owner == from,
            Some(None) => {}
        }
        // Every forwarded SEND chunk must stay tracked until its response, or a failure could go
        // unreported: with a full table, wait (back-pressure) rather than forward untracked.
        if template.is_send && template.failure_report != ReportRequest::No && self.pending.is_full() {
            return false;
        }
        let fresh = self.fresh_tid();
        let Some(leg) = self.legs.get_mut(out) else {
            return false;
        };
        let spare = leg.out.get_mut(leg.out_len..).unwrap_or(&mut []);
        let mut w = Writer::new(spare);
        let written = (|| {
            w.request_line(&fresh, Method::from_name(&template.method))?;
            w.header("To-Path", &template.to_path)?;
            w.header("From-Path", &template.from_path)?;
            if template.is_send {
                w.byte_range(&ByteRange {
                    start: start.saturating_add(1),
                    end: None,
                    total: template.total,
                })?;
            }
            w.bytes(&template.headers)?;
            if template.has_body {
                w.blank_line()?;
            }
            Ok::<_, crate::msrp::wire::BuildError>(())
        })();
        if written.is_err() || w.remaining() < MAX_END_LINE_LEN + 1 {
            return false;
        }
        leg.out_len += w.len();
        leg.open = Some(OpenChunk {
            from,
            tid: fresh.clone(),
            start,
            written: 0,
        });
        *tid = fresh;
        true
    }

    /// Ends the chunk open on output `out` and tracks its transaction.
    fn close_chunk(
        &mut self,
        out: usize,
        template: &Template,
        origin: ConnectionId,
        flag: Continuation,
        now: Instant,
    ) {
        let timeout = self.timeout;
        let Some(leg) = self.legs.get_mut(out) else { return };
        let Some(open) = leg.open.take() else { return };
        let mut w = Writer::new(leg.out.get_mut(leg.out_len..).unwrap_or(&mut []));
        if w.end_line(&open.tid, flag, template.has_body).is_err() {
            leg.open = Some(open);
            return;
        }
        leg.out_len += w.len();
        if !template.is_send || template.failure_report == ReportRequest::No {
            return;
        }
        let deadline = match template.failure_report {
            ReportRequest::Yes => Some(now + timeout),
            _ => None,
        };
        let pending = Pending {
            tid: open.tid,
            on: leg.id,
            origin,
            report_path: template.report_path.clone(),
            message_id: template.message_id.clone(),
            range: ByteRange {
                start: open.start.saturating_add(1),
                end: Some(open.start.saturating_add(open.written)),
                total: template.total,
            },
            failure_report: template.failure_report,
            deadline,
        };
        if self.pending.push(pending).is_err() {
            crate::log::warning!("relay transaction table full; a forwarded chunk is not tracked");
        }
    }

    /// Writes the end-line of a request whose input has ended, when the next hop has room.
    pub(super) fn finish_forward(&mut self, now: Instant, index: usize) {
        let Some(leg) = self.legs.get_mut(index) else {
            return;
        };
        if !matches!(leg.inbound, Inbound::Forwarding { end: Some(_), .. }) {
            return;
        }
        let from = leg.id;
        let Inbound::Forwarding {
            to,
            template,
            mut tid,
            next_offset,
            end: Some(flag),
        } = mem::replace(&mut leg.inbound, Inbound::Idle)
        else {
            return;
        };
        let Some(out) = self.legs.iter().position(|l| l.id == to) else {
            return;
        };
        if self.ensure_open(out, from, &template, &mut tid, next_offset) {
            self.close_chunk(out, &template, from, flag, now);
            if self.legs.get(out).is_some_and(|l| l.open.is_none()) {
                return;
            }
        }
        if let Some(leg) = self.legs.get_mut(index) {
            leg.inbound = Inbound::Forwarding {
                to,
                template,
                tid,
                next_offset,
                end: Some(flag),
            };
        }
    }

    /// Ends a request that was not forwarded: the response it deserves.
    pub(super) fn finish_simple(&mut self, index: usize) {
        let Some(leg) = self.legs.get_mut(index) else {
            return;
        };
        if let Inbound::Rejecting {
            tid,
            code,
            failure_report,
            to,
        } = mem::replace(&mut leg.inbound, Inbound::Idle)
        {
            if response_allowed(failure_report, code) {
                let _ = leg.control.push_back(RelayControl::Response { tid, code, to });
            }
        }
    }
}
