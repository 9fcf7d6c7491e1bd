//! The MSRP relay in the media path (OMA SIMPLE IM media-path option 2; RFC 4976 forwarding rules).
//!
//! When the INVITE proxy relays an offer with MSRP media, [`MsrpRelay::offer`] opens a relay session
//! of two *legs*: leg 0 toward the caller, leg 1 toward the callee. Each leg has its own server URI
//! `msrp://HOST:PORT/SID;tcp` with a fresh 100-bit session-id. The offer the callee receives names
//! `leg1-uri caller-path` in `a=path`; the 2xx the caller receives names `leg0-uri callee-path`
//! ([`Media::answer`]). Each endpoint therefore opens its MSRP connection to the server, and the
//! server forwards between the two connections.
//!
//! ```text
//! caller ---- TCP (leg 0) ----> relay <---- TCP (leg 1) ---- callee
//!   To-Path: leg0-uri callee       |          To-Path: leg1-uri caller
//!                                  v
//!   forwarded to the callee with To-Path: callee, From-Path: leg1-uri caller
//! ```
//!
//! ## Why not the core's `Relay` machine
//!
//! The core's RFC 4976 machine (`simple_im_core::msrp::session::Relay`) has one URI for the whole
//! relay and about 8 KiB of fixed buffers per connection. Here every leg needs its own URI (so that
//! a connection is bound to exactly one authenticated endpoint, OMA 5.6.5) and an idle session must
//! cost a few hundred bytes (10,000 idle sessions are a benchmark target). The connection code in
//! [`leg`] therefore applies the same rules with the core's streaming framer
//! ([`simple_im_core::msrp::wire::ChunkReader`], boxed only while a chunk is being read) and the
//! core's response and REPORT builders, and it uses large buffers while data flows.
//!
//! ## Lifetime of a relay session
//!
//! | event | effect |
//! |---|---|
//! | INVITE with an MSRP offer relayed | session created, offer rewritten |
//! | 2xx relayed upstream | callee's path learnt, answer rewritten; a passive endpoint is connected to |
//! | final non-2xx, CANCEL, Timer C, branch failure | session ended |
//! | BYE routed through the proxy, once answered (or unanswerable) | session ended (after the callee has seen the BYE, so it does not take the closed connection for a failure) |
//! | a bound connection closes | session ended (the other connection is closed too, as a direct connection would fail) |
//! | a connection released for its endpoint's new one (the endpoint moved in a re-INVITE answer) closes | nothing more: the new connection holds the leg |
//! | no connection bound within [`UNBOUND_LIFETIME`] | session collected by the sweeper |
//!
//! Ending a session removes its URIs (later connections get 481) and closes its connections.
//!
//! MSRP over TLS (`[msrp] tls_listen`, `tls_ca`) is in [`tls`]: the caller's leg is a TLS leg when the
//! caller's path starts with `msrps:`, and so is the callee's with `[msrp] tls_to_callee` (offered
//! `TCP/TLS/MSRP`, no clear-text fall-back; TCP otherwise); an endpoint the relay dials (a passive one) is dialed over TLS when its path starts
//! with `msrps:`.
//!
//! Each MSRP media line of an offer gets its own relay session (other media pass through), and a
//! re-INVITE offering MSRP in a relayed call is rewritten the same way, keeping or replacing the legs,
//! and so are an offer in the 2xx to a re-INVITE without SDP and its answer in the ACK: see [`media`].
//!
//! A re-INVITE whose offer keeps the offerer's path but whose answer changes the answerer's keeps the
//! legs: the answerer's new connection takes its leg over and the old one is released without ending
//! the session (a passive answerer is dialed at its new path); see the binding table in [`leg`].
//!
//! Not done yet: forked calls answered twice (the first 2xx's callee owns the callee leg); the RFC 4976 AUTH method for clients that use the server
//! as their own relay.

mod leg;
pub(crate) use leg::same_path;
mod media;
pub use media::Media;
mod outgoing;
mod pool;
pub mod sdp;
pub mod tls;

use outgoing::LegIo;
use simple_im_core::msrp::wire::ReportRequest;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How long a relay session may wait for its first connection before it is collected.
pub const UNBOUND_LIFETIME: Duration = Duration::from_secs(600);
/// How long a forwarded SEND with Failure-Report `yes` waits for the next hop (RFC 4976 §6.4.1).
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a new connection may take to send its first request.
pub const BIND_TIMEOUT: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Another owner of server URIs on the relay's listener (the group chat switch, the Deferred Messaging
/// function): a connection whose first request names one of its session-ids is handed over whole,
/// before the relay reads from it.
pub trait ForeignLegs: Send + Sync {
    /// Whether `sid` is one of its session-ids.
    fn owns(&self, sid: &str) -> bool;
    /// Takes over the connection (nothing has been read from it).
    fn serve(self: Arc<Self>, stream: TcpStream);
}

/// The relay: its listener and its sessions.
pub struct MsrpRelay {
    local: SocketAddr,
    /// Other owners of URIs on this listener (the group switch, the Deferred Messaging function).
    foreign: Mutex<Vec<Arc<dyn ForeignLegs>>>,
    host: String,
    /// Sessions by the session-id of either leg (keys share the legs' strings).
    sessions: Mutex<HashMap<Arc<str>, Arc<RelaySession>>>,
    /// Sessions by SIP Call-ID, one per relayed MSRP media line ([`media::line_key`]; keys share the
    /// sessions' strings).
    calls: Mutex<HashMap<Arc<str>, Arc<RelaySession>>>,
    /// Spare read buffers and chunk readers for the connections.
    pool: pool::Pool,
    /// Offers made in a 2xx (a re-INVITE without SDP) waiting for the ACK's answer, by Call-ID and
    /// CSeq number, with when the 2xx passed ([`media`]).
    awaiting_ack: Mutex<HashMap<String, (Instant, Media)>>,
    /// The callee of an msrps caller is offered TLS too (`[msrp] tls_to_callee`).
    tls_to_callee: AtomicBool,
    /// Local addresses of the loopback connections TLS fronts opened to the listener and the
    /// listener has not accepted yet ([`tls`]): how a leg knows its connection came over TLS.
    tls_fronted: Mutex<std::collections::HashSet<SocketAddr>>,
    /// The MSRP-over-TLS listener's port, once [`MsrpRelay::start_tls`] ran.
    tls_port: std::sync::OnceLock<u16>,
    /// How the relay dials `msrps:` endpoints (`[msrp] tls_ca`); none: it cannot.
    tls_connector: OnceLock<tokio_rustls::TlsConnector>,
}

/// A forwarded SEND awaiting its response from the next hop.
struct Pending {
    tid: String,
    /// The leg it was forwarded on.
    on: usize,
    /// The original From-Path (where a failure REPORT goes).
    report_path: String,
    message_id: String,
    byte_range: Option<String>,
    failure_report: ReportRequest,
    deadline: Option<Instant>,
}

/// One leg: the server URI an endpoint connects to, and the endpoint's own path.
struct Leg {
    // Boxed strings: no spare capacity, as 10,000 idle sessions keep all of these; the session-id is
    // shared with its key in `MsrpRelay::sessions` (one allocation, not two).
    sid: Arc<str>,
    uri: Box<str>,
    /// The endpoint's own `a=path`, once its SDP is seen.
    endpoint: Mutex<Option<Box<str>>>,
    io: Mutex<Option<Arc<LegIo>>>,
    /// The relay connects to this endpoint (it answered or offered `a=setup:passive`).
    dialing: AtomicBool,
    /// The endpoint moved (a new path in a re-INVITE's answer): its next connection takes the leg
    /// over from the old one, which is released without ending the session.
    rebind: AtomicBool,
}

/// A relay session: two legs of one MSRP media line of a call.
pub(crate) struct RelaySession {
    /// Its key in `MsrpRelay::calls` (shared with it): the Call-ID, with the line number after the
    /// first line ([`media::line_key`]).
    call_id: Arc<str>,
    legs: [Leg; 2],
    ended: AtomicBool,
    /// Woken when the session ends.
    end: Notify,
    /// Woken when a leg binds, when the callee's path is learnt from its 2xx, and when the session ends.
    bound: Notify,
    ever_bound: AtomicBool,
    created: Instant,
    counter: AtomicU64,
    pending: Mutex<Vec<Pending>>,
}

impl RelaySession {
    fn leg(&self, index: usize) -> Option<&Leg> {
        self.legs.get(index)
    }

    fn io(&self, index: usize) -> Option<Arc<LegIo>> {
        self.leg(index).and_then(|l| lock(&l.io).clone())
    }

    fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    fn next_tid(&self) -> String {
        format!("r{:x}", self.counter.fetch_add(1, Ordering::Relaxed))
    }
}

impl MsrpRelay {
    /// Binds `listen` and starts accepting MSRP connections; `advertise` is the host put in the
    /// relay's URIs and `c=` lines (the listen address's IP when `None`).
    pub async fn start(listen: SocketAddr, advertise: Option<&str>) -> std::io::Result<Arc<MsrpRelay>> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let host = match advertise {
            Some(host) => host.to_owned(),
            None if local.ip().is_unspecified() => "127.0.0.1".to_owned(),
            None => local.ip().to_string(),
        };
        let relay = Arc::new(MsrpRelay {
            local,
            foreign: Mutex::default(),
            host,
            sessions: Mutex::default(),
            calls: Mutex::default(),
            tls_port: std::sync::OnceLock::new(),
            tls_connector: OnceLock::new(),
            pool: pool::Pool::default(),
            awaiting_ack: Mutex::default(),
            tls_to_callee: AtomicBool::new(false),
            tls_fronted: Mutex::default(),
        });
        let weak = Arc::downgrade(&relay);
        tokio::spawn(accept_loop(weak.clone(), listener));
        tokio::spawn(sweep_loop(weak));
        Ok(relay)
    }

    /// The bound listen address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Relay sessions alive now (one per relayed MSRP line of a call).
    pub fn session_count(&self) -> usize {
        lock(&self.calls).len()
    }

    /// Hands connections for `owner`'s session-ids to it (owners are asked in the order added).
    pub fn add_foreign_legs(&self, owner: Arc<dyn ForeignLegs>) {
        lock(&self.foreign).push(owner);
    }

    /// The host the relay advertises in URIs and `c=` lines.
    pub fn advertised_host(&self) -> &str {
        &self.host
    }

    /// The relay's URI for the session-id `sid` (`msrp://HOST:PORT/SID;tcp`).
    pub fn uri_for(&self, sid: &str) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("msrp://{host}:{}/{sid};tcp", self.local.port())
    }

    /// The URI of a leg: `msrps://` on the TLS port for a TLS leg (when TLS is on).
    fn leg_uri(&self, sid: &str, tls: bool) -> String {
        match self.tls_port().filter(|_| tls) {
            Some(port) if self.host.contains(':') => format!("msrps://[{}]:{port}/{sid};tcp", self.host),
            Some(port) => format!("msrps://{}:{port}/{sid};tcp", self.host),
            None => self.uri_for(sid),
        }
    }

    fn find(&self, sid: &str) -> Option<Arc<RelaySession>> {
        lock(&self.sessions).get(sid).cloned()
    }

    /// Ends the relay sessions of the SIP call `call_id` (BYE), if there are any.
    pub fn end_call(&self, call_id: &str) {
        for session in self.call_sessions(call_id) {
            self.end_session(&session);
        }
    }

    /// The relay sessions of the SIP call `call_id`, one per relayed MSRP line.
    fn call_sessions(&self, call_id: &str) -> Vec<Arc<RelaySession>> {
        let calls = lock(&self.calls);
        (0..sdp::MAX_MSRP_LINES)
            .filter_map(|line| calls.get(media::line_key(call_id, line).as_str()).cloned())
            .collect()
    }

    fn end_session(&self, session: &Arc<RelaySession>) {
        if session.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        {
            let mut sessions = lock(&self.sessions);
            for leg in &session.legs {
                sessions.remove(&*leg.sid);
            }
        }
        {
            let mut calls = lock(&self.calls);
            if calls
                .get(&*session.call_id)
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                calls.remove(&*session.call_id);
            }
        }
        for leg in &session.legs {
            lock(&leg.io).take();
        }
        session.end.notify_waiters();
        session.bound.notify_waiters();
    }

    /// Fires due forwarding timers and collects sessions nobody connected to. Only the sessions that
    /// need something are copied out of the table (a sweep of 10,000 idle sessions allocates nothing).
    fn sweep(self: &Arc<Self>, now: Instant) {
        self.expire_awaiting_ack(now);
        let due_now = |p: &Pending| p.deadline.is_some_and(|d| d <= now);
        let (stale, timed_out): (Vec<_>, Vec<_>) = {
            let calls = lock(&self.calls);
            let stale = calls
                .values()
                .filter(|s| {
                    !s.ever_bound.load(Ordering::Acquire) && now.duration_since(s.created) > UNBOUND_LIFETIME
                })
                .cloned()
                .collect();
            let timed_out = calls
                .values()
                .filter(|s| lock(&s.pending).iter().any(due_now))
                .cloned()
                .collect();
            (stale, timed_out)
        };
        for session in stale {
            self.end_session(&session);
        }
        for session in timed_out {
            let due: Vec<Pending> = {
                let mut pending = lock(&session.pending);
                let (due, keep) = pending.drain(..).partition(due_now);
                *pending = keep;
                due
            };
            for p in due {
                leg::report_failure(&session, p, 408);
            }
        }
    }
}

async fn accept_loop(relay: Weak<MsrpRelay>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(strong) = relay.upgrade() else { return };
        let _ = stream.set_nodelay(true);
        let via_tls = strong.came_over_tls(peer);
        tokio::spawn(route(strong, stream, via_tls));
    }
}

/// Hands the connection to the [`ForeignLegs`] owner when its first request's To-Path names one of
/// its session-ids (peeked, not read), else serves it as a relay leg.
async fn route(relay: Arc<MsrpRelay>, stream: TcpStream, via_tls: bool) {
    let owners = lock(&relay.foreign).clone();
    if !owners.is_empty() {
        let peeked = tokio::time::timeout(BIND_TIMEOUT, peek_first_sid(&stream)).await;
        if let Ok(Some(sid)) = peeked {
            if let Some(owner) = owners.into_iter().find(|owner| owner.owns(&sid)) {
                owner.serve(stream);
                return;
            }
        }
    }
    leg::serve(relay, stream, via_tls).await;
}

/// The session-id of the first To-Path URI of the first request, once its To-Path line has arrived.
async fn peek_first_sid(stream: &TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 2048];
    loop {
        stream.readable().await.ok()?;
        let n = stream.peek(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(buf.get(..n)?);
        if let Some(start) = text.find("\r\nTo-Path:") {
            let line = text.get(start + 10..)?;
            if let Some(end) = line.find("\r\n") {
                let first = line.get(..end)?.split_whitespace().next()?;
                let path = first.split(';').next()?;
                return path.rsplit('/').next().map(str::to_owned);
            }
        }
        if n == buf.len() {
            return None;
        }
        // Not the whole line yet: wait a moment for more bytes (peek does not consume them).
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn sweep_loop(relay: Weak<MsrpRelay>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(relay) = relay.upgrade() else { return };
        relay.sweep(Instant::now());
    }
}
