//! The receiving half of a session: framing input, matching requests to the session, reassembling
//! messages from chunks and deciding responses and success REPORTs.

use crate::ascii_trim::TrimAsciiWs;
use heapless::String;

use super::sender::Tid;
use super::{truncated, AbortReason, BodySink, Control, Event, MessageId, RangeSet, Session, TooFragmented};
use crate::msrp::uri::MsrpUri;
use crate::msrp::wire::framer::start_line_tid;
use crate::msrp::wire::{ByteRange, ChunkEvent, Continuation, FrameError, Head, Method, ReportRequest};
use crate::time::Instant;

/// A message being reassembled.
pub(super) struct Incoming {
    pub id: MessageId,
    /// Known once a chunk announced it, fixed by the chunk ending in `$`.
    pub total: Option<u64>,
    pub ranges: RangeSet,
    pub success_report: bool,
}

/// The request or response currently being read.
pub(super) enum Inbound {
    Idle,
    /// A SEND whose body goes to the sink.
    Accepting {
        tid: Tid,
        id: MessageId,
        offset: u64,
        failure_report: ReportRequest,
    },
    /// A bodiless SEND (binding or keep-alive): answered, nothing delivered.
    Bodiless {
        tid: Tid,
        failure_report: ReportRequest,
    },
    /// A request answered with an error code; its body is skipped.
    Rejecting {
        tid: Tid,
        code: u16,
        failure_report: ReportRequest,
    },
    /// Nothing to do with the rest (responses, REPORTs).
    Skipping,
}

/// Whether a new connection's first request belongs to a session ([`Session::claim`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Claim {
    /// The request is for this session, which is not bound yet: hand it the connection.
    Accept,
    /// The request is for another session (or none): 481 if no session claims it.
    NotThisSession,
    /// The request is for this session, already bound to another connection: answer 506.
    AlreadyBound,
}

/// How the To-Path relates to this session (RFC 4975 §7.3, RFC 6714).
#[derive(PartialEq, Eq)]
enum Matching {
    Ours,
    NoSuchSession,
    WrongUri,
}

/// What the session needs from a header block, copied out of the reader's buffer.
struct Summary {
    tid: Tid,
    method: Option<MethodKind>,
    response_code: Option<u16>,
    matching: Matching,
    message_id: Option<MessageId>,
    range: Option<ByteRange>,
    success_report: bool,
    failure_report: ReportRequest,
    malformed: bool,
    content_type: Option<super::ContentType>,
    status_code: Option<u16>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MethodKind {
    Send,
    Report,
    Other,
}

fn copy<const N: usize>(s: &str) -> Option<String<N>> {
    let mut out = String::new();
    out.push_str(s).ok()?;
    Some(out)
}

fn media_type_accepted(accept: &[&str], content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim_ws();
    let (ty, _) = media.split_once('/').unwrap_or((media, ""));
    accept.is_empty()
        || accept.iter().any(|a| {
            *a == "*"
                || a.eq_ignore_ascii_case(media)
                || a.strip_suffix("/*").is_some_and(|t| t.eq_ignore_ascii_case(ty))
        })
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
    /// Feeds bytes read from the connection. Body bytes of accepted messages go to `sink` at once;
    /// returns how many bytes were consumed: keep the rest (a possible start of an end-line, at most
    /// `MAX_END_LINE_LEN` - 1 bytes) and present it again with the next bytes. While its response and
    /// event queues are nearly full it stops before the next message: drain [`Session::poll_transmit`]
    /// and [`Session::poll_event`], then call again with the rest. A [`FrameError`] means
    /// the stream is not MSRP: close the connection and call [`Session::connection_lost`].
    pub fn handle_input(
        &mut self,
        now: Instant,
        input: &[u8],
        sink: &mut impl BodySink,
    ) -> Result<usize, FrameError> {
        let mut pos = 0;
        loop {
            // A request may queue a response, a REPORT and three events: between messages, wait until
            // the caller has drained enough room (back-pressure instead of dropping).
            let room = self.control.capacity() - self.control.len() >= 2
                && self.events.capacity() - self.events.len() >= 3;
            if self.reader.is_idle() && !room {
                break;
            }
            let (used, event) = self.reader.feed(input.get(pos..).unwrap_or(&[]))?;
            pos += used;
            match event {
                None => break,
                Some(ChunkEvent::Head) => self.on_head(),
                Some(ChunkEvent::Body(bytes)) => self.on_body(bytes, sink),
                Some(ChunkEvent::End(flag)) => self.on_end(now, flag),
            }
        }
        Ok(pos)
    }

    fn summarise(&self) -> Result<Summary, Tid> {
        let head = match self.reader.head() {
            Ok(head) => head,
            Err(_) => {
                let tid = start_line_tid(self.reader.header_block())
                    .ok()
                    .flatten()
                    .unwrap_or(b"");
                return Err(core::str::from_utf8(tid).ok().and_then(copy).unwrap_or_default());
            }
        };
        let method = head.method().map(|m| match m {
            Method::Send => MethodKind::Send,
            Method::Report => MethodKind::Report,
            _ => MethodKind::Other,
        });
        let range = head.byte_range();
        let success = head.success_report();
        let failure = head.failure_report();
        let status = head.status();
        let message_id = head.message_id().and_then(copy);
        let malformed = range.is_err() || success.is_err() || failure.is_err() || message_id.is_none();
        Ok(Summary {
            tid: copy(head.transaction_id).unwrap_or_default(),
            method,
            response_code: head.status_code(),
            matching: self.match_to_path(&head),
            message_id,
            range: range.ok().flatten(),
            success_report: success.ok().flatten() == Some(ReportRequest::Yes),
            failure_report: failure.ok().flatten().unwrap_or(ReportRequest::Yes),
            malformed,
            content_type: head.content_type().map(truncated),
            status_code: status.ok().flatten().map(|s| s.code),
        })
    }

    /// For the runtime's connection demultiplexer (RFC 4975 §5.4): may the first request `head`, read
    /// on a newly accepted connection, bind that connection to this session? A request for another
    /// session is [`Claim::NotThisSession`] (answer 481 when no session claims it); a request for this
    /// session once it is bound to another connection is [`Claim::AlreadyBound`] (answer 506).
    pub fn claim(&self, head: &Head<'_>) -> Claim {
        match self.match_to_path(head) {
            Matching::Ours if self.bound => Claim::AlreadyBound,
            Matching::Ours => Claim::Accept,
            Matching::NoSuchSession | Matching::WrongUri => Claim::NotThisSession,
        }
    }

    fn match_to_path(&self, head: &Head<'_>) -> Matching {
        let Ok(local) = MsrpUri::parse(&self.local_uri) else {
            return Matching::NoSuchSession;
        };
        let mut uris = head.to_path().into_iter().flat_map(|p| p.texts());
        let (Some(first), None) = (uris.next(), uris.next()) else {
            return Matching::NoSuchSession;
        };
        let Ok(to) = MsrpUri::parse(first) else {
            return Matching::NoSuchSession;
        };
        if !local.matches_session_id(&to) {
            Matching::NoSuchSession
        } else if self.config.match_session_id_only || local.matches(&to) {
            Matching::Ours
        } else {
            Matching::WrongUri
        }
    }

    fn on_head(&mut self) {
        let summary = match self.summarise() {
            Ok(s) => s,
            Err(tid) => {
                self.inbound = Inbound::Rejecting {
                    tid,
                    code: 400,
                    failure_report: ReportRequest::Yes,
                };
                return;
            }
        };
        self.inbound = self.classify(summary);
    }

    fn classify(&mut self, s: Summary) -> Inbound {
        let Some(method) = s.method else {
            if let Some(code) = s.response_code {
                self.on_response(&s.tid, code);
            }
            return Inbound::Skipping;
        };
        let reject = |code| Inbound::Rejecting {
            tid: s.tid.clone(),
            code,
            failure_report: s.failure_report,
        };
        if method == MethodKind::Report {
            if s.matching == Matching::Ours {
                if let (Some(id), Some(code)) = (&s.message_id, s.status_code) {
                    self.on_report(id, code, s.range);
                }
            }
            return Inbound::Skipping;
        }
        match s.matching {
            Matching::NoSuchSession => return reject(481),
            Matching::WrongUri => return reject(403),
            Matching::Ours => {}
        }
        if !self.bound {
            self.bound = true;
            self.push_event(Event::Bound);
        }
        if method == MethodKind::Other {
            return reject(501);
        }
        if s.malformed {
            return reject(400);
        }
        let Some(content_type) = s.content_type else {
            return Inbound::Bodiless {
                tid: s.tid,
                failure_report: s.failure_report,
            };
        };
        let id = s.message_id.unwrap_or_default();
        let range = s.range.unwrap_or(ByteRange {
            start: 1,
            end: None,
            total: None,
        });
        let too_large = |n: u64| self.config.max_message_size.is_some_and(|max| n > max);
        if range.total.is_some_and(too_large) || range.end.is_some_and(too_large) {
            self.abort_incoming(&id, AbortReason::TooLarge);
            return reject(413);
        }
        if !media_type_accepted(self.config.accept_types, &content_type) {
            return reject(415);
        }
        if !self.incoming.iter().any(|m| m.id == id) {
            let entry = Incoming {
                id: id.clone(),
                total: range.total,
                ranges: RangeSet::new(),
                success_report: s.success_report,
            };
            if self.incoming.push(entry).is_err() {
                return reject(413);
            }
            self.push_event(Event::IncomingMessage {
                id: id.clone(),
                content_type,
                total: range.total,
            });
        }
        let offset = range.start.saturating_sub(1);
        Inbound::Accepting {
            tid: s.tid,
            id,
            offset,
            failure_report: s.failure_report,
        }
    }

    fn on_body(&mut self, bytes: &[u8], sink: &mut impl BodySink) {
        let Inbound::Accepting {
            tid,
            id,
            offset,
            failure_report,
        } = &mut self.inbound
        else {
            return;
        };
        let end = offset.saturating_add(bytes.len() as u64);
        let over = self.config.max_message_size.is_some_and(|max| end > max);
        let inserted = match self.incoming.iter_mut().find(|m| m.id == *id) {
            Some(m) if !over => m.ranges.insert(*offset, end),
            _ => Err(TooFragmented),
        };
        if inserted.is_ok() {
            sink.body(id, *offset, bytes);
            *offset = end;
            return;
        }
        let (tid, id, failure_report) = (tid.clone(), id.clone(), *failure_report);
        let reason = if over {
            AbortReason::TooLarge
        } else {
            AbortReason::TooFragmented
        };
        self.abort_incoming(&id, reason);
        self.inbound = Inbound::Rejecting {
            tid,
            code: 413,
            failure_report,
        };
    }

    fn abort_incoming(&mut self, id: &str, reason: AbortReason) {
        if let Some(i) = self.incoming.iter().position(|m| m.id == id) {
            let m = self.incoming.swap_remove(i);
            self.push_event(Event::MessageAborted { id: m.id, reason });
        }
    }

    fn on_end(&mut self, _now: Instant, flag: Continuation) {
        match core::mem::replace(&mut self.inbound, Inbound::Idle) {
            Inbound::Accepting {
                tid,
                id,
                offset,
                failure_report,
            } => {
                self.respond(tid, 200, failure_report);
                match flag {
                    Continuation::Aborted => self.abort_incoming(&id, AbortReason::BySender),
                    Continuation::Complete => self.check_complete(&id, Some(offset)),
                    Continuation::More => self.check_complete(&id, None),
                }
            }
            Inbound::Bodiless { tid, failure_report } => self.respond(tid, 200, failure_report),
            Inbound::Rejecting {
                tid,
                code,
                failure_report,
            } => self.respond(tid, code, failure_report),
            Inbound::Idle | Inbound::Skipping => {}
        }
    }

    /// Queues a response as Failure-Report allows (module docs, second table).
    fn respond(&mut self, tid: Tid, code: u16, failure_report: ReportRequest) {
        let send = match failure_report {
            ReportRequest::Yes => true,
            ReportRequest::Partial => code != 200,
            ReportRequest::No => false,
        };
        if send && !tid.is_empty() {
            self.push_control(Control::Response { tid, code });
        }
    }

    /// `last_end`: the chunk ended the message (`$`) at this 0-based offset, which fixes the total
    /// (RFC 4975 §7.3.1: the body's real length wins over the announced one).
    fn check_complete(&mut self, id: &str, last_end: Option<u64>) {
        let Some(i) = self.incoming.iter().position(|m| m.id == id) else {
            return;
        };
        let Some(m) = self.incoming.get_mut(i) else { return };
        if let Some(end) = last_end {
            m.total = Some(end);
        }
        let Some(total) = m.total.filter(|t| m.ranges.covers_prefix(*t)) else {
            return;
        };
        let m = self.incoming.swap_remove(i);
        if m.success_report {
            let report = Control::Report {
                message_id: m.id.clone(),
                start: 1,
                end: total,
                total,
                code: 200,
            };
            self.push_control(report);
        }
        self.push_event(Event::MessageReceived { id: m.id, len: total });
    }
}
