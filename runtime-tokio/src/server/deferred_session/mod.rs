//! The Deferred Messaging function for session mode (OMA IM options 1a/2a): the server answers an
//! MSRP session invitation on behalf of a user who is not registered, stores every message of the
//! session durably, and pushes the stored messages to the user in a session of its own when the user
//! registers. Large Message mode (INVITE, one SEND, BYE) is the one-message case of the same thing.
//!
//! ## Accepting (the sender's session, [`accept`])
//!
//! | event | action |
//! |---|---|
//! | INVITE with an MSRP offer to a user of ours with no contact (or only contacts whose TCP connection is gone) | 200 with an SDP answer naming the relay's MSRP port (ours with no relay; `a=setup:passive`); over UDP the 200 is retransmitted until the ACK |
//! | the sender is barred, blocked or not granted by the recipient's policy | 403, as for pager mode |
//! | INVITE to such a user without an MSRP offer (no SDP, audio only) | 480 Temporarily Unavailable, as before |
//! | MSRP offer we cannot take (a file transfer, no usable path or type) | 488 Not Acceptable Here |
//! | the sender connects and SENDs (chunked or not) | a message's first 64 KiB kept in memory, later bytes written to the store as they arrive (so memory per message stays bounded); 413 above the quota's byte limit |
//! | last chunk of a message | stored durably (dedupe by CPIM `imdn.Message-ID`, else the MSRP Message-ID), charged `deferred`; only then are the 200 and the success REPORT written |
//! | store refuses (quota) or fails | the connection is closed without the 200: the sender sees a failure, nothing is acknowledged |
//! | BYE (or the connection ends) | session over; a BYE after the connection ended still gets 200 (for 5 minutes) |
//!
//! ## Pushing (a new session to the recipient, [`push`])
//!
//! | event | action |
//! |---|---|
//! | REGISTER adds a binding | pending messages, grouped by sender, oldest sender first |
//! | per sender | INVITE from the sender's identity to the newest contact, `a=setup:actpass`, our MSRP URI |
//! | 2xx | ACK; the contact connects (or we connect when it answered `passive`) |
//! | per message | SEND with Success-Report, the body read from the store 64 KiB at a time; the message is marked delivered, charged `delivered`, and its positive-delivery IMDN sent, only after the success REPORT |
//! | decline, no answer, MSRP failure | the push stops; the rest waits for the next registration |
//! | all sent | BYE |
//!
//! The SIP side of our own dialogs (BYE in either direction, responses to our INVITEs) is matched by
//! Call-ID in [`DeferredSessions`]; the MSRP side by the session-id of our URI, which is random and
//! given to one peer only, so a connection that did not negotiate the session cannot join it.

mod accept;
mod listener;
mod pump;
pub(crate) mod push;
pub(crate) mod signalling;

pub use accept::answer;
pub use push::deliver;
pub use signalling::response;

use super::sip::SipMessage;
use super::transport::Flow;
use super::{reply, Request, Server};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A connection handed over by the listener: the stream and the bytes already read from it.
type Handover = (TcpStream, Vec<u8>);

/// The function's shared state.
pub struct DeferredSessions {
    /// The MSRP listener's address (advertised in our `a=path`).
    pub msrp_addr: SocketAddr,
    /// Sessions waiting for their peer's connection, by the session-id of our URI.
    waiting: Mutex<HashMap<String, oneshot::Sender<Handover>>>,
    /// Dialogs we are an end of, by Call-ID: told when the peer sends BYE.
    dialogs: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// Our 2xx answers sent over UDP and not yet ACKed, by Call-ID (RFC 3261 §13.3.1.4).
    unacked: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// Users whose session-mode messages are being pushed; `true` asks for another pass.
    busy: Mutex<HashMap<String, bool>>,
    /// Our outstanding INVITE client transactions.
    invites: signalling::Outgoing,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DeferredSessions {
    /// The function reached at `msrp_addr`: the relay's listener (see [`DeferredSessions::join_relay`]),
    /// or its own from [`DeferredSessions::bind`].
    pub fn new(msrp_addr: SocketAddr) -> DeferredSessions {
        DeferredSessions {
            msrp_addr,
            waiting: Mutex::default(),
            dialogs: Mutex::default(),
            unacked: Mutex::default(),
            busy: Mutex::default(),
            invites: signalling::Outgoing::default(),
        }
    }

    /// Binds the function's own MSRP listener at `addr` (when there is no relay, `media_path =
    /// "direct"`); [`DeferredSessions::serve`] accepts on it.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<(DeferredSessions, tokio::net::TcpListener)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let msrp_addr = listener.local_addr()?;
        Ok((DeferredSessions::new(msrp_addr), listener))
    }

    /// Accepts MSRP connections until the server is dropped.
    pub fn serve(server: std::sync::Weak<Server>, listener: tokio::net::TcpListener) {
        tokio::spawn(listener::serve(server, listener));
    }

    /// Takes the connections for our sessions from the relay's listener (one MSRP port for the
    /// server, as the group switch does).
    pub fn join_relay(server: std::sync::Weak<Server>, relay: &super::msrp::MsrpRelay) {
        relay.add_foreign_legs(std::sync::Arc::new(listener::DeferredLegs(server)));
    }

    /// A new session-id, and our MSRP URI carrying it.
    fn new_uri(&self) -> (String, String) {
        let id = super::rng::token(10);
        let uri = format!("msrp://{}/{id};tcp", self.msrp_addr);
        (id, uri)
    }

    /// Waits for the peer of session `id` to connect (registered before the SDP goes out).
    fn expect_connection(&self, id: &str) -> oneshot::Receiver<Handover> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(id.to_owned(), tx);
        rx
    }

    fn forget_connection(&self, id: &str) {
        lock(&self.waiting).remove(id);
    }

    /// Notes a dialog of ours; the receiver fires when the peer sends BYE.
    fn open_dialog(&self, call_id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        lock(&self.dialogs).insert(call_id.to_owned(), tx);
        rx
    }

    fn close_dialog(&self, call_id: &str) {
        lock(&self.dialogs).remove(call_id);
    }
}

/// The `o=` and `c=` values of our SDP: the MSRP listener's address and a fresh SDP session id.
struct SdpHost {
    address: String,
    addr_type: &'static str,
    session_id: String,
}

impl SdpHost {
    fn new(msrp_addr: SocketAddr) -> SdpHost {
        SdpHost {
            address: msrp_addr.ip().to_string(),
            addr_type: if msrp_addr.is_ipv6() { "IP6" } else { "IP4" },
            session_id: super::rng::token(4),
        }
    }

    fn origin(&self) -> simple_im_core::sdp::Origin<'_> {
        simple_im_core::sdp::Origin {
            username: "-",
            session_id: &self.session_id,
            session_version: "1",
            net_type: "IN",
            addr_type: self.addr_type,
            address: &self.address,
        }
    }

    fn connection(&self) -> simple_im_core::sdp::Connection<'_> {
        simple_im_core::sdp::Connection {
            net_type: "IN",
            addr_type: self.addr_type,
            address: &self.address,
        }
    }
}

/// Whether `msg` is a request inside one of our dialogs (the ACK of our 2xx, a BYE from the sender or
/// the recipient). Requests without a To tag (every out-of-dialog request) are ruled out before any
/// lock is taken.
pub fn owns(server: &Server, msg: &SipMessage) -> bool {
    msg.method().is_some_and(|m| m != "INVITE" && m != "CANCEL")
        && msg.to().and_then(|t| t.tag()).is_some()
        && lock(&server.deferred_sessions.dialogs).contains_key(msg.call_id())
}

/// Retransmits our 2xx `bytes` over UDP from T1, doubling up to T2, until the ACK comes or 64*T1
/// passes (RFC 3261 §13.3.1.4: the UAS core, not the transaction, keeps a 2xx alive).
fn keep_2xx_alive(server: &Arc<Server>, call_id: &str, flow: Flow, bytes: bytes::Bytes) {
    if flow.is_reliable() {
        return;
    }
    let (tx, mut acked) = oneshot::channel();
    lock(&server.deferred_sessions.unacked).insert(call_id.to_owned(), tx);
    let timers = simple_im_core::sip::transaction::TimerConfig::default();
    let (t1, t2) = (timers.t1, timers.t2);
    let server = Arc::downgrade(server);
    let call_id = call_id.to_owned();
    tokio::spawn(async move {
        let give_up = tokio::time::Instant::now() + t1 * 64;
        let mut interval = t1;
        loop {
            let next = (tokio::time::Instant::now() + interval).min(give_up);
            tokio::select! {
                _ = &mut acked => return,
                () = tokio::time::sleep_until(next) => {}
            }
            let Some(server) = server.upgrade() else { return };
            if next >= give_up {
                lock(&server.deferred_sessions.unacked).remove(&call_id);
                return;
            }
            let _ = server.transactions.transports().send(&flow, bytes.clone());
            interval = (interval * 2).min(t2);
        }
    });
}

/// Handles a request inside one of our dialogs: an ACK stops our 2xx retransmissions, BYE ends the
/// session (200), anything else is not supported here (405).
pub fn in_dialog(server: &Arc<Server>, msg: SipMessage, flow: Flow) {
    if msg.method() == Some("ACK") {
        if let Some(acked) = lock(&server.deferred_sessions.unacked).remove(msg.call_id()) {
            let _ = acked.send(());
        }
        return;
    }
    let key = match server.transactions.arrive(&msg, flow) {
        Some(super::transaction::Arrival::New(key)) => Some(key),
        Some(super::transaction::Arrival::Retransmission) => return,
        None => None,
    };
    let is_bye = msg.method() == Some("BYE");
    if is_bye {
        if let Some(ended) = lock(&server.deferred_sessions.dialogs).remove(msg.call_id()) {
            let _ = ended.send(());
        }
    }
    let request = Request { msg, flow, key };
    if is_bye {
        reply::send(server, &request, 200, "OK", &[], None);
    } else {
        let allow = [("Allow", "ACK, BYE".to_owned())];
        reply::send(
            server,
            &request,
            405,
            "Method Not Allowed (a stored session)",
            &allow,
            None,
        );
    }
}
