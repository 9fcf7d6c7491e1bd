//! INVITE proxying (RFC 3261 §16) for session mode: the groundwork the MSRP relay builds on.
//!
//! ```text
//! INVITE (new)   -> INVITE server transaction (core ServerInvite), 100 Trying at once
//!                -> loop / Max-Forwards (482/483) -> proxy auth (407/403; a peer domain's user only
//!                   from that peer's address) -> a peer domain's URI from our user: to that server
//!                -> recipient (404)
//!                -> contacts (480 when none: session-mode deferral is a later issue)
//!                -> one INVITE client transaction (core ClientInvite) per contact, Record-Route added
//!                -> responses: 1xx relayed; every 2xx relayed (§16.7 step 5), the first one CANCELs the
//!                   other branches; otherwise the best final response once all branches end
//! CANCEL         -> matched to the INVITE server transaction (cancel_target_key): 200, CANCEL to
//!                   every pending branch; the branches' 487 becomes the final response upstream
//!                   (no match: 481, as before)
//! ACK            -> for a non-2xx: absorbed by the INVITE server transaction;
//!                   for a 2xx: proxied statelessly by Route ([`route`])
//! in-dialog      -> (To tag, a Route naming us) routed by Route, our own entry removed ([`route`])
//! ```
//!
//! Transactions live in this module's own tables (the non-INVITE layer in `transaction.rs` is kept as
//! it is); a call's transaction user is one Tokio task fed through a channel by the branch
//! transactions and by CANCEL. The task ends when every branch transaction has terminated, so the 2xx
//! retransmissions and late forks that arrive while a branch is Accepted are still relayed.
//!
//! Timer C (§16.8, [`TIMER_C`]): a call whose branches ring longer CANCELs them; if that brings no
//! final response within another Timer C, the branches are given up and the best response (or 408)
//! goes upstream.
//!
//! MSRP (OMA media-path option 2): an initial INVITE offering MSRP has its SDP rewritten by the relay
//! ([`super::msrp`]) before it is forked, and so has the 2xx answer on its way upstream; a call that
//! ends without a 2xx, and a BYE routed through us, end the relay session. A re-INVITE offering MSRP
//! in a relayed call is rewritten too, keeping or replacing the legs ([`super::msrp::MsrpRelay::reoffer`]);
//! so is the offer in the 2xx to a re-INVITE without SDP, and its answer in the ACK
//! ([`super::msrp::MsrpRelay::late_offer`]).
//!
//! Not done yet: in-dialog routing over TCP to a UA that is not registered (only registered contacts'
//! connections are known; others are reached over UDP), double Record-Route when the two sides use
//! different transports, and 2xx retransmissions after the branch transaction ended (Timer M; they are
//! dropped). An INVITE to a user with no contact goes to the Deferred Messaging function
//! ([`super::deferred_session`]), which answers it itself.

pub(crate) mod client;
mod relay;
pub mod route;

use relay::relay;

use super::auth::{AuthOutcome, Realm};
use super::proxy::{self, Target};
use super::sip::SipMessage;
use super::transport::Flow;
use super::{pager, registrar, reply, Server};
use bytes::Bytes;
use simple_im_core::sip::transaction::{
    Event, Output, Reliability, ServerInvite, ServerRequest, TimerConfig, TransactionKey,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What a call's task hears about.
#[derive(Debug)]
enum CallInput {
    /// A response on branch `index` (provisional or final).
    Response(usize, SipMessage),
    /// Branch `index` ended without a final response (timeout, transport).
    Failed(usize),
    /// The caller CANCELled.
    Cancel,
    /// Timer C fired a second time: the branches are given up.
    TimerC,
}

/// Timer C (RFC 3261 §16.8): how long a proxy lets a branch ring (more than 3 minutes).
pub const TIMER_C: std::time::Duration = std::time::Duration::from_secs(181);

struct ServerEntry {
    machine: ServerInvite<Bytes>,
    flow: Flow,
    call: Option<mpsc::UnboundedSender<CallInput>>,
}

/// A proxy branch: which branch of which call hears its responses.
struct BranchListener {
    index: usize,
    call: mpsc::UnboundedSender<CallInput>,
}

impl client::Listener for BranchListener {
    fn hear(&self, heard: client::Heard<'_>) {
        let input = match heard {
            client::Heard::Provisional(response) | client::Heard::Final(response) => {
                CallInput::Response(self.index, response.clone())
            }
            client::Heard::Failed => CallInput::Failed(self.index),
        };
        let _ = self.call.send(input);
    }
}

/// The INVITE transactions of the proxy.
pub struct Invites {
    server: Mutex<HashMap<TransactionKey, ServerEntry>>,
    client: client::ClientInvites<BranchListener>,
}

impl Default for Invites {
    fn default() -> Self {
        Invites {
            server: Mutex::default(),
            client: client::ClientInvites::new(|server| &server.invites.client),
        }
    }
}

fn reliability(flow: &Flow) -> Reliability {
    if flow.is_reliable() {
        Reliability::Reliable
    } else {
        Reliability::Unreliable
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `fire` once the core time `deadline` is reached.
fn at(
    server: &Arc<Server>,
    deadline: simple_im_core::time::Instant,
    fire: impl FnOnce(&Arc<Server>) + Send + 'static,
) {
    let wait = deadline
        .as_millis()
        .saturating_sub(server.transactions.now().as_millis());
    let server = Arc::downgrade(server);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        if let Some(server) = server.upgrade() {
            fire(&server);
        }
    });
}

/// Handles INVITE, ACK and CANCEL for INVITE transactions, and in-dialog requests routed through us.
/// Gives the request back when it is none of those (the caller dispatches it as before).
pub fn dispatch(server: &Arc<Server>, msg: SipMessage, flow: Flow) -> Option<(SipMessage, Flow)> {
    let method = msg.method().unwrap_or("").to_owned();
    match method.as_str() {
        _ if super::deferred_session::owns(server, &msg) => {
            super::deferred_session::in_dialog(server, msg, flow);
            None
        }
        "ACK" => {
            if super::groups::focus::ack(server, &msg) {
                return None;
            }
            if !absorb_ack(server, &msg) {
                route::ack(server, &msg, flow);
            }
            None
        }
        "CANCEL" => route::cancel(server, msg, flow),
        _ if route::is_in_dialog(server, &msg) => {
            route::in_dialog(server, msg, flow);
            None
        }
        "INVITE" => {
            invite(server, msg, flow);
            None
        }
        _ => Some((msg, flow)),
    }
}

/// Feeds an ACK to the INVITE server transaction it belongs to; false when there is none.
fn absorb_ack(server: &Arc<Server>, msg: &SipMessage) -> bool {
    let Some(key) = super::transaction::TransactionLayer::server_key(msg) else {
        return false;
    };
    let mut table = lock(&server.invites.server);
    let Some(entry) = table.get_mut(&key) else {
        return false;
    };
    // An ACK for a 2xx matches the key too but belongs to the dialog: only a non-2xx's is absorbed.
    if entry.machine.state() != simple_im_core::sip::transaction::ServerInviteState::Completed
        && entry.machine.state() != simple_im_core::sip::transaction::ServerInviteState::Confirmed
    {
        return false;
    }
    entry
        .machine
        .handle_request(server.transactions.now(), ServerRequest::Ack);
    drain_server(server, &mut table, &key);
    true
}

/// The channel between a call's task and its transactions.
type CallChannel = (
    mpsc::UnboundedSender<CallInput>,
    mpsc::UnboundedReceiver<CallInput>,
);

/// Opens the INVITE server transaction for `msg` and answers 100 Trying; `None` for a retransmission
/// (handed to its transaction) or a request without a usable branch.
fn open(server: &Arc<Server>, msg: &SipMessage, flow: Flow) -> Option<(TransactionKey, CallChannel)> {
    let key = super::transaction::TransactionLayer::server_key(msg)?;
    let now = server.transactions.now();
    let (tx, rx) = mpsc::unbounded_channel();
    {
        let mut table = lock(&server.invites.server);
        if let Some(entry) = table.get_mut(&key) {
            entry.machine.handle_request(now, ServerRequest::Retransmission);
            drain_server(server, &mut table, &key);
            return None;
        }
        let machine = ServerInvite::new(now, TimerConfig::default(), reliability(&flow));
        let call = Some(tx.clone());
        table.insert(key.clone(), ServerEntry { machine, flow, call });
    }
    respond(server, &key, msg, &flow, 100, "Trying", &[]);
    Some((key, (tx, rx)))
}

/// A new or retransmitted INVITE.
pub fn invite(server: &Arc<Server>, msg: SipMessage, flow: Flow) {
    let Some((key, (tx, rx))) = open(server, &msg, flow) else {
        return;
    };
    let server = server.clone();
    tokio::spawn(async move { call(&server, key, msg, flow, tx, rx).await });
}

/// Sends the proxy's own response `code` to the INVITE through its server transaction.
fn respond(
    server: &Arc<Server>,
    key: &TransactionKey,
    msg: &SipMessage,
    flow: &Flow,
    code: u16,
    reason: &str,
    headers: &[(&str, String)],
) {
    if let Some(bytes) = reply::build(msg, Some(flow.peer()), code, reason, headers, None) {
        send_upstream(server, key, code, bytes);
    }
}

/// Sends response bytes through the INVITE server transaction `key`.
pub(crate) fn send_upstream(server: &Arc<Server>, key: &TransactionKey, code: u16, bytes: Bytes) {
    let mut table = lock(&server.invites.server);
    if let Some(entry) = table.get_mut(key) {
        if entry
            .machine
            .send_response(server.transactions.now(), code, bytes)
            .is_ok()
        {
            drain_server(server, &mut table, key);
        }
    }
}

fn drain_server(
    server: &Arc<Server>,
    table: &mut HashMap<TransactionKey, ServerEntry>,
    key: &TransactionKey,
) {
    let Some(entry) = table.get_mut(key) else { return };
    let mut terminated = false;
    while let Some(output) = entry.machine.poll_output() {
        match output {
            Output::Transmit(bytes) => {
                let _ = server
                    .transactions
                    .transports()
                    .send(&entry.flow, Bytes::copy_from_slice(bytes));
            }
            Output::Event(Event::Terminated) => terminated = true,
            _ => {}
        }
    }
    if terminated {
        table.remove(key);
    } else if let Some(deadline) = entry.machine.poll_timeout() {
        let key = key.clone();
        at(server, deadline, move |server| {
            let mut table = lock(&server.invites.server);
            if let Some(entry) = table.get_mut(&key) {
                entry.machine.handle_timeout(server.transactions.now());
                drain_server(server, &mut table, &key);
            }
        });
    }
}

/// Matches a response to an INVITE client transaction of ours; gives it back when it matches none.
pub fn response(server: &Arc<Server>, msg: SipMessage) -> Option<SipMessage> {
    server.invites.client.response(server, msg)
}

/// The caller's identity check: `Some(())` to go on, `None` after answering 407/403.
async fn authenticate(
    server: &Arc<Server>,
    key: &TransactionKey,
    msg: &SipMessage,
    flow: &Flow,
) -> Option<()> {
    if server.config.trusted_cores.contains(&flow.peer().ip()) {
        return Some(());
    }
    let from = msg.from()?;
    let user = from
        .uri
        .as_sip()
        .filter(|s| server.is_local(&s.host.to_string()))
        .and_then(|s| s.user);
    let Some(user) = user else {
        // A user of a peer domain is believed only from that domain's server.
        let host = from.uri.as_sip().map(|s| s.host.to_string()).unwrap_or_default();
        if let Some(peer) = server.config.peer_for(&host) {
            if peer.address.ip() != flow.peer().ip() {
                let reason = format!("Forbidden (users of {host} come through its server)");
                respond(server, key, msg, flow, 403, &reason, &[]);
                return None;
            }
        }
        return Some(());
    };
    let now = server.transactions.now();
    match server
        .auth
        .check(msg, Realm::Proxy, server.store.as_ref(), now)
        .await
    {
        AuthOutcome::Authenticated(name) if name == user => Some(()),
        AuthOutcome::Authenticated(name) => {
            let reason = format!("Forbidden (authenticated as {name}, not {user})");
            respond(server, key, msg, flow, 403, &reason, &[]);
            None
        }
        AuthOutcome::Challenge { stale } => {
            let headers = registrar::challenge_headers(server, Realm::Proxy, stale);
            respond(
                server,
                key,
                msg,
                flow,
                407,
                "Proxy Authentication Required",
                &headers,
            );
            None
        }
        AuthOutcome::Forbidden(reason) => {
            respond(server, key, msg, flow, 403, &format!("Forbidden ({reason})"), &[]);
            None
        }
    }
}

/// The transaction user of one INVITE: checks, forks, and relays.
async fn call(
    server: &Arc<Server>,
    key: TransactionKey,
    msg: SipMessage,
    flow: Flow,
    tx: mpsc::UnboundedSender<CallInput>,
    rx: mpsc::UnboundedReceiver<CallInput>,
) {
    if proxy::is_loop(server, &msg, &flow) {
        respond(server, &key, &msg, &flow, 482, "Loop Detected", &[]);
        return;
    }
    let Some(max_forwards) = proxy::next_max_forwards(&msg) else {
        respond(server, &key, &msg, &flow, 483, "Too Many Hops", &[]);
        return;
    };
    if authenticate(server, &key, &msg, &flow).await.is_none() {
        return;
    }
    if let Some(target) = peer_target(server, &msg) {
        forward(server, &key, msg, &flow, &[target], max_forwards, tx, rx).await;
        return;
    }
    let Some(recipient) = pager::recipient(server, &msg).await else {
        // Not an account: a group URI is the focus's (the Controlling IM Function).
        if super::groups::focus::invite(server, &key, &msg, &flow).await {
            return;
        }
        respond(server, &key, &msg, &flow, 404, "Not Found", &[]);
        return;
    };
    let targets: Vec<Target> = server
        .location
        .lookup(&recipient)
        .iter()
        .map(|b| Target {
            uri: b.uri.clone(),
            flow: b.flow,
        })
        .collect();
    // No contact, or only contacts whose TCP connection is gone (registered but offline: the server
    // cannot reach them): the Deferred Messaging function answers and stores the session (OMA 1a/2a).
    let transports = server.transactions.transports();
    if targets.iter().all(|t| !transports.is_open(&t.flow)) {
        match super::deferred_session::answer(server, &msg, &flow, &recipient).await {
            Some((code, bytes)) => send_upstream(server, &key, code, bytes),
            None => respond(server, &key, &msg, &flow, 500, "Server Internal Error", &[]),
        }
        return;
    }
    forward(server, &key, msg, &flow, &targets, max_forwards, tx, rx).await;
}

/// The server of the peer domain an INVITE from one of our users is for (its Request-URI's host has
/// a `[[peers]]` entry): the Participating function hands the session to that domain's functions,
/// the relay staying in the media path.
fn peer_target(server: &Server, msg: &SipMessage) -> Option<Target> {
    let from_local = msg
        .from()
        .and_then(|f| f.uri.as_sip().map(|s| server.is_local(&s.host.to_string())))
        .unwrap_or(false);
    if !from_local {
        return None;
    }
    let uri = msg.request_uri()?;
    let peer = super::pager::peer_of(server, uri)?;
    Some(Target {
        uri: uri.to_owned(),
        flow: Flow::Udp {
            socket: 0,
            peer: peer.address,
        },
    })
}

/// Forks the INVITE to `targets` with the relay in the media path, and ends the relay session when
/// no 2xx came.
#[allow(clippy::too_many_arguments)]
async fn forward(
    server: &Arc<Server>,
    key: &TransactionKey,
    msg: SipMessage,
    flow: &Flow,
    targets: &[Target],
    max_forwards: u32,
    tx: mpsc::UnboundedSender<CallInput>,
    rx: mpsc::UnboundedReceiver<CallInput>,
) {
    // OMA media-path option 2: the MSRP relay goes into the offer (and, in `relay`, the answer).
    let (msg, media) = match server.msrp.as_ref().and_then(|relay| relay.offer(&msg)) {
        Some((rewritten, media)) => (rewritten, Some(media)),
        None => (msg, None),
    };
    let answered = relay(
        server,
        key,
        &msg,
        flow,
        targets,
        max_forwards,
        true,
        media.as_ref(),
        tx,
        rx,
    )
    .await;
    if !answered {
        // Declined, cancelled, timed out (Timer C) or unreachable: nothing will use the relay.
        if let Some(media) = media {
            media.end();
        }
    }
}

/// Tells the call of the INVITE server transaction `key` that the caller CANCELled; false when there
/// is no such transaction.
pub(crate) fn cancel_call(server: &Server, key: &TransactionKey) -> bool {
    let table = lock(&server.invites.server);
    match table.get(key) {
        Some(entry) => {
            if let Some(call) = &entry.call {
                let _ = call.send(CallInput::Cancel);
            }
            true
        }
        None => false,
    }
}

/// Forwards a re-INVITE (in-dialog) statefully to its routed `target`, relaying the answers.
pub(crate) fn reinvite(server: &Arc<Server>, msg: SipMessage, flow: Flow, target: Target) {
    let Some((key, (tx, rx))) = open(server, &msg, flow) else {
        return;
    };
    let Some(max_forwards) = proxy::next_max_forwards(&msg) else {
        respond(server, &key, &msg, &flow, 483, "Too Many Hops", &[]);
        return;
    };
    // A re-offer in a relayed call keeps the relay in the media path (see `MsrpRelay::reoffer`); a
    // re-INVITE without SDP gets the offer in its 2xx, which is rewritten the same way.
    let (msg, media) = match server.msrp.as_ref().and_then(|relay| relay.reoffer(&msg)) {
        Some((rewritten, media)) => (rewritten, Some(media)),
        None => {
            let late = server.msrp.as_ref().and_then(|relay| relay.late_offer(&msg));
            (msg, late)
        }
    };
    let server = server.clone();
    tokio::spawn(async move {
        relay(
            &server,
            &key,
            &msg,
            &flow,
            &[target],
            max_forwards,
            false,
            media.as_ref(),
            tx,
            rx,
        )
        .await;
    });
}
