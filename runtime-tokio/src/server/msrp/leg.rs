//! One MSRP connection of the relay: binding it to a leg, then forwarding what it sends to the other
//! leg (RFC 4976 §6.4) with bounded buffers.
//!
//! ## Binding (OMA SIMPLE IM 5.6.5, RFC 4975 §7.3)
//!
//! The first request on an accepted connection decides:
//!
//! | first request | answer |
//! |---|---|
//! | To-Path's first session-id is no live leg | 481, connection closed |
//! | From-Path is not the path the leg's SIP endpoint put in its SDP | 403, connection closed |
//! | the leg is a TLS leg (`msrps:`) and the connection did not come through the TLS listener | 403, connection closed (no clear-text way into a TLS leg) |
//! | the leg already has a connection, and its endpoint moved (a new path in a re-INVITE's answer, `Leg::rebind`) | bound; the old connection is released: its write side is shut (the endpoint sees it close) and its end does not end the session |
//! | the leg already has a connection | 506, connection closed |
//! | the leg's endpoint path is not known yet (a callee connecting before its 2xx reached us) | waits for the 2xx (at most [`BIND_TIMEOUT`]), then as above |
//! | otherwise | bound; the request is handled like every later one |
//!
//! ## Requests and responses on a bound connection
//!
//! | condition | action |
//! |---|---|
//! | response | completes the forwarded SEND it answers; non-2xx: failure REPORT to the sender (§6.4.3) |
//! | To-Path's first URI is not this leg's | 403 (SEND, Failure-Report permitting) |
//! | next To-Path URI is not the far endpoint's path | 403, or 481 while the far path is unknown |
//! | bodiless SEND (binds the hop only) | 200 (Failure-Report permitting), not forwarded |
//! | the far leg has no connection within [`BIND_TIMEOUT`] | 481 (SEND, Failure-Report permitting) |
//! | SEND | 200 at once when Failure-Report is `yes` (§6.4.1); forwarded with a new transaction-id |
//! | other request (REPORT, unknown) | forwarded, never answered (§6.4.2) |
//!
//! Forwarding moves this leg's URI out of To-Path and puts the far leg's URI in front of From-Path, so
//! each endpoint sees only the relay URI it was given in SDP. Chunks are forwarded as they stream in
//! (no re-chunking is needed: the relay never holds a whole chunk), with the original Byte-Range.
//!
//! ## Forwarded SEND transactions
//!
//! | Failure-Report | timer ([`FORWARD_TIMEOUT`]) | next hop answers non-2xx | no answer in time | next hop's connection lost |
//! |---|---|---|---|---|
//! | yes | yes | REPORT with its code | REPORT 408 | REPORT 408 |
//! | partial | no | REPORT with its code | - | REPORT 408 |
//! | no | no | - | - | - |
//!
//! ## Buffers and back-pressure
//!
//! A connection reads into a buffer it holds only while bytes are in flight ([`FIRST_READ`] when a
//! message starts, [`READ_BUFFER`] while a body streams; both come from and go back to the relay's
//! [`super::pool`], so binds and short messages do not churn the heap), and
//! writes what it forwards from one read to the far connection, in one `writev` (body bytes straight
//! from the read buffer, see [`super::outgoing`]), before it reads again: when the far endpoint reads
//! slowly, this connection stops reading and TCP pushes back on the sender. Responses and REPORTs
//! for an endpoint queue on its [`LegIo`] and are written between forwarded chunks, never inside one.

use super::outgoing::{LegIo, Outgoing};
use super::{lock, MsrpRelay, Pending, RelaySession, BIND_TIMEOUT, FORWARD_TIMEOUT};
use simple_im_core::msrp::uri::{MsrpUri, Path};
use simple_im_core::msrp::wire::builder::{write_report, write_response};
use simple_im_core::msrp::wire::{ByteRange, ChunkEvent, ChunkReader, Continuation, ReportRequest, Status};
use std::future::Future;
use std::io::Write;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

/// Bytes read at once while a connection is busy. Larger reads mean fewer system calls, yet on the
/// bench machine they cost more CPU per byte: `cargo xtask bench msrp` measured a copy-proxy with
/// 64 KiB reads moving about 1.5 times the bytes per CPU-second of one with 256 KiB reads, and the
/// relay about 1.1 times (likely the cache: a smaller buffer is still there when the write copies
/// it out).
pub const READ_BUFFER: usize = 64 * 1024;
/// Bytes read at once when a message starts: most messages (and every bind) are small.
const FIRST_READ: usize = 4 * 1024;
/// The parts of a head the relay keeps after the reader moves on.
struct HeadInfo {
    tid: String,
    method: Option<String>,
    status: Option<u16>,
    to_path: String,
    from_path: String,
    message_id: String,
    byte_range: Option<String>,
    failure_report: ReportRequest,
    has_body: bool,
    /// Every header but the paths, in order.
    others: Vec<(String, String)>,
}

impl HeadInfo {
    fn read(reader: &ChunkReader) -> Option<HeadInfo> {
        let head = reader.head().ok()?;
        let owned = |v: Option<&str>| v.unwrap_or("").to_owned();
        Some(HeadInfo {
            tid: head.transaction_id.to_owned(),
            method: head.method().map(|m| m.as_str().to_owned()),
            status: head.status_code(),
            to_path: owned(head.to_path().map(|p| p.0.trim())),
            from_path: owned(head.from_path().map(|p| p.0.trim())),
            message_id: owned(head.message_id()),
            byte_range: head.get("Byte-Range").map(str::to_owned),
            failure_report: head.failure_report().ok().flatten().unwrap_or(ReportRequest::Yes),
            has_body: head.content_type().is_some(),
            others: head
                .headers
                .iter()
                .filter(|h| {
                    !h.name.eq_ignore_ascii_case("To-Path") && !h.name.eq_ignore_ascii_case("From-Path")
                })
                .map(|h| (h.name.to_owned(), h.value.to_owned()))
                .collect(),
        })
    }

    fn is_send(&self) -> bool {
        self.method.as_deref() == Some("SEND")
    }

    /// Whether a response with `code` may be sent (RFC 4975 §7.2); only SENDs are ever answered here.
    fn answerable(&self, code: u16) -> bool {
        self.is_send()
            && match self.failure_report {
                ReportRequest::Yes => true,
                ReportRequest::Partial => code != 200,
                ReportRequest::No => false,
            }
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        481 => "Session Does Not Exist",
        506 => "Session Already Bound",
        _ => "Error",
    }
}

fn response_bytes(info: &HeadInfo, code: u16, from: &str) -> Option<Vec<u8>> {
    let to = Path(&info.from_path).texts().next()?;
    let mut buf = vec![0u8; 512 + to.len() + from.len()];
    let len = write_response(&mut buf, &info.tid, code, Some(reason(code)), to, from).ok()?;
    buf.truncate(len);
    Some(buf)
}

/// Whether two paths name the same URIs in the same order (RFC 4975 §6.1 comparison).
pub(crate) fn same_path(a: &str, b: &str) -> bool {
    let (a, b) = (Path(a), Path(b));
    a.len() == b.len()
        && a.uris()
            .zip(b.uris())
            .all(|(x, y)| matches!((x, y), (Ok(x), Ok(y)) if x.matches(&y)))
}

fn session_id_of(uri: Option<Result<MsrpUri<'_>, simple_im_core::msrp::UriError>>) -> Option<&str> {
    uri.and_then(Result::ok).and_then(|u| u.session_id)
}

/// Sends the failure REPORT for a forwarded SEND to its sender (nothing when Failure-Report is `no`).
pub(super) fn report_failure(session: &RelaySession, p: Pending, code: u16) {
    if p.failure_report == ReportRequest::No {
        return;
    }
    let origin = 1 - p.on;
    let (Some(io), Some(leg)) = (session.io(origin), session.leg(origin)) else {
        return;
    };
    let tid = session.next_tid();
    let status = Status {
        namespace: 0,
        code,
        comment: Some(reason(code)),
    };
    let range = p.byte_range.as_deref().and_then(|r| ByteRange::parse(r).ok());
    let mut buf = vec![0u8; 1024 + p.report_path.len() + leg.uri.len()];
    let Ok(len) = write_report(
        &mut buf,
        &tid,
        &p.report_path,
        &leg.uri,
        &p.message_id,
        range.as_ref(),
        &status,
    ) else {
        return;
    };
    buf.truncate(len);
    io.queue(&buf);
    tokio::spawn(async move { io.try_flush().await });
}

struct Connection {
    relay: Arc<MsrpRelay>,
    io: Arc<LegIo>,
    bound: Option<(Arc<RelaySession>, usize)>,
    reader: Option<Box<ChunkReader>>,
    /// Forwarded bytes on their way to the far leg (`None` between reads when no forwarded message
    /// is in flight).
    out: Option<Box<Outgoing>>,
    close: bool,
    /// The connection came through the TLS listener (from its TLS front), see [`super::tls`].
    via_tls: bool,
}

/// Serves an accepted connection until it closes or its session ends.
pub(super) async fn serve(relay: Arc<MsrpRelay>, stream: TcpStream, via_tls: bool) {
    let (read, write) = stream.into_split();
    let mut conn = Connection::new(relay, LegIo::new(write), None);
    conn.via_tls = via_tls;
    conn.run(read).await;
    Box::pin(conn.finish()).await;
}

/// Connects to the passive endpoint of leg `index` and binds the connection with a bodiless SEND
/// (RFC 4975 §5.4: the active side sends first).
pub(super) fn dial(relay: Arc<MsrpRelay>, session: Arc<RelaySession>, index: usize) {
    tokio::spawn(async move {
        let Some(leg) = session.leg(index) else { return };
        let Some(path) = lock(&leg.endpoint).as_deref().map(str::to_owned) else {
            return;
        };
        let Some(Ok(first)) = Path(&path).first() else {
            return;
        };
        let Some(port) = first.port else { return };
        let host = first
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let Ok(stream) = relay.dial_endpoint(&host, port, first.secure).await else {
            return;
        };
        let (read, write) = stream.into_split();
        let io = LegIo::new(write);
        let tid = session.next_tid();
        let bind = format!(
            "MSRP {tid} SEND\r\nTo-Path: {path}\r\nFrom-Path: {}\r\nMessage-ID: {tid}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n",
            leg.uri
        );
        io.queue(bind.as_bytes());
        if session.is_ended() || take_leg(leg, &io).is_err() {
            return;
        }
        session.ever_bound.store(true, Ordering::Release);
        session.bound.notify_waiters();
        io.try_flush().await;
        let mut conn = Connection::new(relay, io, Some((session, index)));
        conn.run(read).await;
        Box::pin(conn.finish()).await;
    });
}

impl Connection {
    fn new(relay: Arc<MsrpRelay>, io: Arc<LegIo>, bound: Option<(Arc<RelaySession>, usize)>) -> Self {
        Connection {
            relay,
            io,
            bound,
            reader: None,
            out: None,
            close: false,
            via_tls: false,
        }
    }

    async fn run(&mut self, read: OwnedReadHalf) {
        // A boxed slice, not a Vec: 8 bytes less in the task, and it is only ever replaced whole.
        let mut buf: Box<[u8]> = Box::default();
        let mut filled = 0;
        loop {
            // An idle connection keeps no buffers while it waits (10,000 quiet sessions must stay
            // cheap); this runs before every wait, also after a read that found nothing.
            if filled == 0 && self.reader.as_ref().is_none_or(|r| r.is_idle()) {
                let pool = &self.relay.pool;
                pool.give_buffer(std::mem::take(&mut buf), FIRST_READ);
                if let Some(reader) = self.reader.take() {
                    pool.give_reader(reader);
                }
            }
            // The waits poll the socket's own read-readiness slot (one reader per connection) rather
            // than holding a `readable()` future: 150 bytes less in every connection's task.
            let stream: &TcpStream = read.as_ref();
            let ready = match &self.bound {
                // Boxed: the timer would otherwise enlarge every connection's task for its lifetime.
                None => Box::pin(tokio::time::timeout(
                    BIND_TIMEOUT,
                    std::future::poll_fn(|cx| stream.poll_read_ready(cx)),
                ))
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
                Some((session, _)) => {
                    let ended = session.end.notified();
                    tokio::pin!(ended);
                    ended.as_mut().enable();
                    if session.is_ended() {
                        return;
                    }
                    let woken = std::future::poll_fn(|cx| match ended.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(None),
                        Poll::Pending => stream.poll_read_ready(cx).map(Some),
                    })
                    .await;
                    let Some(ready) = woken else { return };
                    ready
                }
            };
            if ready.is_err() {
                return;
            }
            let streaming = self.reader.as_ref().is_some_and(|r| !r.is_idle());
            let want = if streaming { READ_BUFFER } else { FIRST_READ };
            if buf.len() < want {
                let mut larger = self.relay.pool.buffer(want, FIRST_READ);
                if let (Some(to), Some(from)) = (larger.get_mut(..filled), buf.get(..filled)) {
                    to.copy_from_slice(from);
                }
                self.relay
                    .pool
                    .give_buffer(std::mem::replace(&mut buf, larger), FIRST_READ);
            }
            let n = match read.try_read(buf.get_mut(filled..).unwrap_or(&mut [])) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            };
            filled += n;
            // Boxed, like every state that exists only while bytes flow: the task of an idle
            // connection holds just the wait above.
            let Ok(used) = Box::pin(self.process(buf.get(..filled).unwrap_or(&[]))).await else {
                return;
            };
            buf.copy_within(used..filled, 0);
            filled -= used;
            if Box::pin(self.flush()).await.is_err() || self.close {
                return;
            }
        }
    }

    /// Feeds `data` to the reader and writes what it forwards (in one `writev` where it can); returns
    /// how much was consumed.
    async fn process(&mut self, data: &[u8]) -> Result<usize, ()> {
        let consumed = self.feed(data).await;
        // The batch refers to `data`: it is written before the caller moves the buffer on, and the
        // far connection is released unless a message is still in flight.
        match self.out.take() {
            Some(mut out) if out.in_flight() => {
                out.write(data).await;
                self.out = Some(out);
            }
            Some(out) => out.release(data).await,
            None => {}
        }
        consumed
    }

    async fn feed(&mut self, data: &[u8]) -> Result<usize, ()> {
        let mut pos = 0;
        loop {
            let pool = &self.relay.pool;
            let reader = self.reader.get_or_insert_with(|| pool.reader());
            let (used, event) = reader.feed(data.get(pos..).unwrap_or(&[])).map_err(|_| ())?;
            match event {
                None => return Ok(pos + used),
                Some(ChunkEvent::Head) => {
                    pos += used;
                    // Boxed: its state (the head, the waits for the far leg) would otherwise sit in
                    // every idle connection's task.
                    Box::pin(self.on_head(data)).await?;
                }
                Some(ChunkEvent::Body(bytes)) => {
                    let start = pos;
                    pos += bytes.len();
                    self.on_body(data, start..pos).await;
                }
                Some(ChunkEvent::End(flag)) => {
                    pos += used;
                    self.on_end(flag).await?;
                }
            }
            if self.close {
                return Ok(pos);
            }
        }
    }

    /// Writes this connection's queued responses.
    async fn flush(&mut self) -> Result<(), ()> {
        self.io.try_flush().await;
        Ok(())
    }

    fn reject(&mut self, info: &HeadInfo, code: u16, from: &str) {
        if info.answerable(code) {
            if let Some(bytes) = response_bytes(info, code, from) {
                self.io.queue(&bytes);
            }
        }
    }

    /// A head was read (`input`: the read buffer, which the batch of earlier messages may refer to).
    async fn on_head(&mut self, input: &[u8]) -> Result<(), ()> {
        let info = self.reader.as_deref().and_then(HeadInfo::read).ok_or(())?;
        if self.bound.is_none() {
            self.bind(&info).await;
            if self.close {
                return Ok(());
            }
        }
        let (session, me) = self.bound.clone().ok_or(())?;
        let other = 1 - me;
        let (Some(leg), Some(far)) = (session.leg(me), session.leg(other)) else {
            return Err(());
        };
        if let Some(code) = info.status {
            self.on_response(&session, me, &info, code);
            return Ok(());
        }
        let to_path = Path(&info.to_path);
        if session_id_of(to_path.first()) != Some(&*leg.sid) {
            self.reject(&info, 403, &leg.uri);
            return Ok(());
        }
        let rest = to_path.rest_after_first().trim();
        let far_path = lock(&far.endpoint).as_deref().map(str::to_owned);
        let Some(far_path) = far_path else {
            self.reject(&info, 481, &leg.uri);
            return Ok(());
        };
        let next_ok = matches!((Path(rest).first(), Path(&far_path).first()),
            (Some(Ok(next)), Some(Ok(expected))) if next.matches(&expected));
        if !next_ok {
            self.reject(&info, 403, &leg.uri);
            return Ok(());
        }
        if info.is_send() && !info.has_body {
            self.reject(&info, 200, &leg.uri);
            return Ok(());
        }
        let Some(to) = wait_for_leg(&session, other).await else {
            self.reject(&info, 481, &leg.uri);
            return Ok(());
        };
        let mut out = match self.out.take() {
            Some(out) if out.reusable_for(&to) => out,
            Some(stale) => {
                stale.release(input).await;
                Outgoing::open(to).await
            }
            None => Outgoing::open(to).await,
        };
        if info.is_send() && info.failure_report == ReportRequest::Yes {
            if let Some(bytes) = response_bytes(&info, 200, &leg.uri) {
                self.io.queue(&bytes);
            }
        }
        let tid = session.next_tid();
        if info.is_send() && info.failure_report != ReportRequest::No {
            lock(&session.pending).push(Pending {
                tid: tid.clone(),
                on: other,
                report_path: info.from_path.clone(),
                message_id: info.message_id.clone(),
                byte_range: info.byte_range.clone(),
                failure_report: info.failure_report,
                deadline: None,
            });
        }
        let method = info.method.as_deref().unwrap_or("SEND");
        out.begin(tid, info.has_body, |head, tid| {
            let _ = write!(head, "MSRP {tid} {method}\r\nTo-Path: {rest}\r\n");
            let _ = write!(head, "From-Path: {} {}\r\n", far.uri, info.from_path);
            for (name, value) in &info.others {
                let _ = write!(head, "{name}: {value}\r\n");
            }
            if info.has_body {
                head.extend_from_slice(b"\r\n");
            }
        });
        self.out = Some(out);
        Ok(())
    }

    /// The binding table of the module docs.
    async fn bind(&mut self, info: &HeadInfo) {
        let to_path = Path(&info.to_path);
        let named = to_path.texts().next().unwrap_or("").to_owned();
        let sid = session_id_of(to_path.first());
        let found = sid.and_then(|sid| {
            let session = self.relay.find(sid)?;
            let index = session.legs.iter().position(|l| &*l.sid == sid)?;
            Some((session, index))
        });
        let verdict = match &found {
            _ if info.status.is_some() => Err(400),
            None => Err(481),
            Some((session, index)) => {
                let leg = session.leg(*index);
                let endpoint = learnt_endpoint(session, *index).await;
                match (leg, endpoint) {
                    (Some(leg), Some(_)) if leg.uri.starts_with("msrps:") && !self.via_tls => Err(403),
                    (Some(leg), Some(path)) if same_path(&info.from_path, &path) => take_leg(leg, &self.io),
                    _ => Err(403),
                }
            }
        };
        match (verdict, found) {
            (Ok(()), Some((session, index))) => {
                session.ever_bound.store(true, Ordering::Release);
                session.bound.notify_waiters();
                self.bound = Some((session, index));
            }
            (Err(code), _) => {
                if info.method.as_deref() != Some("REPORT") && info.status.is_none() {
                    if let Some(bytes) = response_bytes(info, code, &named) {
                        self.io.queue(&bytes);
                    }
                }
                self.close = true;
            }
            (Ok(()), None) => self.close = true,
        }
    }

    fn on_response(&mut self, session: &RelaySession, me: usize, info: &HeadInfo, code: u16) {
        let pending = {
            let mut pending = lock(&session.pending);
            let index = pending.iter().position(|p| p.tid == info.tid && p.on == me);
            index.map(|i| pending.swap_remove(i))
        };
        if let Some(p) = pending {
            if !(200..300).contains(&code) {
                report_failure(session, p, code);
            }
        }
    }

    /// Body bytes `input[range]` of the message being read: added to the batch when it is forwarded.
    async fn on_body(&mut self, input: &[u8], range: Range<usize>) {
        if let Some(out) = &mut self.out {
            if out.body(input, range) {
                out.write(input).await;
            }
        }
    }

    async fn on_end(&mut self, flag: Continuation) -> Result<(), ()> {
        let Some(tid) = self.out.as_mut().and_then(|out| out.end(flag.as_byte())) else {
            return Ok(());
        };
        if let Some((session, _)) = &self.bound {
            let deadline = Instant::now() + FORWARD_TIMEOUT;
            let mut pending = lock(&session.pending);
            if let Some(p) = pending.iter_mut().find(|p| p.tid == tid) {
                if p.failure_report == ReportRequest::Yes {
                    p.deadline = Some(deadline);
                }
            }
        }
        Ok(())
    }

    /// The connection is over: a chunk it was feeding is closed with `#`, SENDs forwarded into it
    /// are reported failed (408), and its session ends.
    async fn finish(&mut self) {
        if let Some(mut out) = self.out.take() {
            // `process` wrote every piece that referred to the read buffer.
            out.end(b'#');
            out.release(&[]).await;
        }
        let Some((session, me)) = self.bound.take() else {
            self.io.try_flush().await;
            return;
        };
        let lost: Vec<Pending> = {
            let mut pending = lock(&session.pending);
            let (lost, keep) = pending.drain(..).partition(|p| p.on == me);
            *pending = keep;
            lost
        };
        for p in lost {
            report_failure(&session, p, 408);
        }
        self.io.try_flush().await;
        let replaced = session.leg(me).is_some_and(|leg| {
            let mut slot = lock(&leg.io);
            let ours = slot.as_ref().is_some_and(|io| Arc::ptr_eq(io, &self.io));
            if ours {
                slot.take();
            }
            !ours && slot.is_some()
        });
        // A connection released for its endpoint's new one (it moved) ends alone.
        if !replaced {
            self.relay.end_session(&session);
        }
    }
}

/// Puts `io` in `leg`'s connection slot: 506 when another connection holds it, unless the endpoint
/// moved ([`super::Leg`]'s `rebind`): then the old connection is released, its write side shut so
/// that the endpoint sees it close.
fn take_leg(leg: &super::Leg, io: &Arc<LegIo>) -> Result<(), u16> {
    let old = {
        let mut slot = lock(&leg.io);
        if slot.is_some() && !leg.rebind.swap(false, Ordering::AcqRel) {
            return Err(506);
        }
        slot.replace(io.clone())
    };
    if let Some(old) = old {
        tokio::spawn(async move { old.shut().await });
    }
    Ok(())
}

/// The `a=path` the SIP endpoint of leg `index` put in its SDP. The callee's is learnt from its 2xx,
/// which it may send a moment before connecting: a connection arriving first waits for it (up to
/// [`BIND_TIMEOUT`], or until the session ends) instead of being refused.
async fn learnt_endpoint(session: &RelaySession, index: usize) -> Option<String> {
    wait_on_session(session, || {
        session
            .leg(index)
            .and_then(|l| lock(&l.endpoint).as_deref().map(str::to_owned))
    })
    .await
}

/// The connection of leg `index`, waiting up to [`BIND_TIMEOUT`] for its endpoint to connect.
async fn wait_for_leg(session: &RelaySession, index: usize) -> Option<Arc<LegIo>> {
    wait_on_session(session, || session.io(index)).await
}

/// Waits until `probe` finds something, checking again each time the session's `bound` notification
/// fires; `None` when the session ends or [`BIND_TIMEOUT`] passes first.
async fn wait_on_session<T>(session: &RelaySession, probe: impl Fn() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + BIND_TIMEOUT;
    loop {
        let woken = session.bound.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if session.is_ended() {
            return None;
        }
        if let Some(found) = probe() {
            return Some(found);
        }
        if tokio::time::timeout_at(deadline, woken).await.is_err() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A connection's task lives as long as its session, so its size is part of every idle session's
    /// cost (the 10,000-session benchmark): states that exist only while bytes flow are boxed.
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let relay = MsrpRelay::start("127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let task = serve(relay, stream, false);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 272, "a connection's task holds {size} bytes");
    }
}
