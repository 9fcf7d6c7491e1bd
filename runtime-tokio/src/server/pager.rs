//! Pager-mode routing (RFC 3428) for MESSAGE to the server's domain.
//!
//! | step | outcome on failure |
//! |---|---|
//! | our own Via with our branch prefix already present | 482 Loop Detected |
//! | Max-Forwards exhausted | 483 Too Many Hops |
//! | Request-URI is the system URI | a deferred-messaging command ([`deferred::command`]) |
//! | sender of a `[[peers]]` domain not coming from that peer's address | 403 |
//! | Request-URI of a `[[peers]]` domain, sender of ours | forwarded to that peer ([`to_peer`]); its answer relayed, 480 when it does not answer |
//! | Request-URI not a user of our domain (by name, else by display name) but a group | the Controlling IM Function ([`super::groups`]) |
//! | Request-URI neither a user nor a group | 404 |
//! | sender of our domain without (valid) Proxy-Authorization, unless from a trusted core | 407 / 403 |
//! | Participating policy ([`super::participating`]) | 403 / 413 / 415 |
//! | recipient registered and not storing pager messages | forwarded to every contact; the first 2xx is relayed |
//! | not registered here but sent by a trusted core, or registered only by a core's third-party REGISTER (application-server mode) | sent through that core to the AoR; its 404/408/480 means offline |
//! | otherwise, or no contact answered | Deferred Messaging: stored, then 202 |
//!
//! The sender's identity is the From URI, authenticated for local users; for requests from a
//! configured trusted core (the OMA IM-2 deployment behind an external SIP/IP core) it is the
//! P-Asserted-Identity the core vouches for. Bodies are never altered; Date and message ids travel
//! unchanged because every header is copied.

use super::auth::{AuthOutcome, Realm};
use super::charging::{Event, Record};
use super::proxy::{self, Forked, Target};
use super::sip::SipMessage;
use super::{deferred, participating, registrar, reply, Request, Server};
use crate::config::{PeerDomain, PeerTransport};
use simple_im_core::sip::header::NameAddr;
use simple_im_core::sip::HeaderName;
use std::sync::Arc;

/// Handles one MESSAGE.
pub async fn message(server: &Arc<Server>, request: &Request) {
    let msg = &request.msg;
    if proxy::is_loop(server, msg, &request.flow) {
        reply::send(server, request, 482, "Loop Detected", &[], None);
        return;
    }
    let Some(max_forwards) = proxy::next_max_forwards(msg) else {
        reply::send(server, request, 483, "Too Many Hops", &[], None);
        return;
    };
    let Some(sender) = identify(server, request).await else {
        return;
    };
    let target = msg.request_uri().map(participating::address_key);
    if target.is_some_and(|t| t == participating::address_key(&server.config.system_uri)) {
        deferred::command(server, request, &sender).await;
        return;
    }
    if to_peer(server, request, &sender, max_forwards).await {
        return;
    }
    let Some(recipient) = recipient(server, msg).await else {
        // Not an account: a group URI is the Controlling IM Function's.
        if super::groups::message(server, request, &sender).await {
            return;
        }
        reject(
            server,
            request,
            &sender,
            msg.request_uri().unwrap_or(""),
            404,
            "Not Found",
            &[],
        );
        return;
    };
    let policy = server.store.policy(&recipient).await.unwrap_or_default();
    let allowed = server.options.allowed_content_types.as_deref();
    if let Err(refusal) = participating::check(
        &policy,
        &server.config.limits,
        allowed,
        &server.config.domain,
        &sender,
        msg,
    ) {
        reject(
            server,
            request,
            &sender,
            &recipient,
            refusal.code,
            &refusal.reason,
            &refusal.headers,
        );
        return;
    }
    record(server, Event::Submitted, &sender, &recipient, msg, 0);
    let privacy = participating::wants_privacy(msg);
    let bindings = server.location.lookup(&recipient);
    // Behind an external SIP/IP core (IM-2), recipients register there: terminating delivery goes
    // back through the core that sent the request, with the AoR as Request-URI. A binding from the
    // core's third-party registration ([`registrar`]) leads there too.
    let via_core = (bindings.is_empty() && from_trusted_core(server, request))
        || (!bindings.is_empty() && bindings.iter().all(|b| is_trusted_core(server, &b.flow)));
    if policy.store_pager_messages || (bindings.is_empty() && !via_core) {
        deferred::defer(server, request, &sender, &recipient, privacy).await;
        return;
    }
    let targets: Vec<Target> = if via_core {
        let uri = msg.request_uri().unwrap_or_default().to_owned();
        vec![Target {
            uri,
            flow: request.flow,
        }]
    } else {
        bindings
            .iter()
            .map(|b| Target {
                uri: b.uri.clone(),
                flow: b.flow,
            })
            .collect()
    };
    match proxy::fork(server, msg, &request.flow, &targets, max_forwards, privacy).await {
        // The core could not reach the user (not registered there either): store for later.
        Forked::Answered(response) if via_core && matches!(response.status(), Some(404 | 408 | 480)) => {
            deferred::defer(server, request, &sender, &recipient, privacy).await;
        }
        Forked::Answered(response) => {
            let code = response.status().unwrap_or(500);
            if (200..300).contains(&code) {
                record(server, Event::Delivered, &sender, &recipient, msg, code);
            }
            if let Some(bytes) = reply::relayed(&response) {
                server
                    .transactions
                    .respond(request.key.as_ref(), &request.flow, code, bytes);
            }
        }
        Forked::Unreachable => deferred::defer(server, request, &sender, &recipient, privacy).await,
    }
}

/// Forwards a MESSAGE from our user `sender` to the server of the `[[peers]]` domain its
/// Request-URI names (the other domain's Participating function takes it from there) and relays
/// that server's answer; 480 when it does not answer (nothing was accepted here, so nothing is
/// stored). `false`: not for a peer domain.
async fn to_peer(server: &Arc<Server>, request: &Request, sender: &str, max_forwards: u32) -> bool {
    let msg = &request.msg;
    let Some(peer) = peer_of(server, msg.request_uri().unwrap_or_default()) else {
        return false;
    };
    let sender_key = participating::address_key(sender);
    let from_local = sender_key
        .split_once('@')
        .is_some_and(|(_, host)| server.is_local(host));
    if !from_local {
        return false;
    }
    let Some(flow) = peer_flow(server, &peer).await else {
        let reason = "Temporarily Unavailable (the recipient's server cannot be reached)";
        reply::send(server, request, 480, reason, &[], None);
        return true;
    };
    let target = Target {
        uri: msg.request_uri().unwrap_or_default().to_owned(),
        flow,
    };
    let privacy = participating::wants_privacy(msg);
    let recipient = msg.request_uri().unwrap_or_default();
    match proxy::fork(server, msg, &request.flow, &[target], max_forwards, privacy).await {
        Forked::Answered(response) => {
            let code = response.status().unwrap_or(500);
            if (200..300).contains(&code) {
                record(server, Event::Delivered, sender, recipient, msg, code);
            }
            if let Some(bytes) = reply::relayed(&response) {
                server
                    .transactions
                    .respond(request.key.as_ref(), &request.flow, code, bytes);
            }
        }
        Forked::Unreachable => {
            let reason = "Temporarily Unavailable (the recipient's server did not answer)";
            reply::send(server, request, 480, reason, &[], None);
        }
    }
    true
}

/// The `[[peers]]` server of `uri`'s domain, when it is not ours.
pub(crate) fn peer_of(server: &Server, uri: &str) -> Option<PeerDomain> {
    // Every MESSAGE asks: without peers configured, the Request-URI is not parsed again.
    if server.config.peers.is_empty() {
        return None;
    }
    let parsed = simple_im_core::sip::Uri::parse(uri).ok()?;
    let host = parsed.as_sip()?.host.to_string();
    if server.is_local(&host) {
        return None;
    }
    server.config.peer_for(&host).cloned()
}

/// The flow to a `[[peers]]` server: its address from our first UDP socket, or our TCP connection
/// to it (opened now when there is none); `None` when it cannot be connected.
pub(crate) async fn peer_flow(server: &Server, peer: &PeerDomain) -> Option<super::transport::Flow> {
    match peer.transport {
        PeerTransport::Udp => Some(super::transport::Flow::Udp {
            socket: 0,
            peer: peer.address,
        }),
        PeerTransport::Tcp => server.transactions.transports().tcp_to(peer.address).await.ok(),
    }
}

/// Whether the request came from a configured trusted SIP/IP core.
pub(super) fn from_trusted_core(server: &Server, request: &Request) -> bool {
    is_trusted_core(server, &request.flow)
}

/// Whether `flow` leads to a configured trusted SIP/IP core.
pub(super) fn is_trusted_core(server: &Server, flow: &super::transport::Flow) -> bool {
    server.config.trusted_cores.contains(&flow.peer().ip())
}

/// The sender's URI, or `None` after answering (407 challenge, 403).
pub(crate) async fn identify(server: &Arc<Server>, request: &Request) -> Option<String> {
    let msg = &request.msg;
    let from = msg.from()?;
    if from_trusted_core(server, request) {
        let asserted = msg
            .values(HeaderName::PAssertedIdentity)
            .find_map(|v| NameAddr::parse(v).ok());
        return Some(asserted.map_or(from.uri_text, |a| a.uri_text).to_owned());
    }
    let sip = from.uri.as_sip();
    let local_user = sip
        .filter(|s| server.is_local(&s.host.to_string()))
        .and_then(|s| s.user);
    let Some(user) = local_user else {
        // A user of a peer domain is believed only from that domain's server.
        let host = sip.map(|s| s.host.to_string()).unwrap_or_default();
        if let Some(peer) = server.config.peer_for(&host) {
            if peer.address.ip() != request.flow.peer().ip() {
                let reason = format!("Forbidden (users of {host} come through its server)");
                reply::send(server, request, 403, &reason, &[], None);
                return None;
            }
        }
        // Another sender of another domain: nothing here can verify it.
        return Some(from.uri_text.to_owned());
    };
    let now = server.transactions.now();
    match server
        .auth
        .check(msg, Realm::Proxy, server.store.as_ref(), now)
        .await
    {
        AuthOutcome::Authenticated(name) if name == user => Some(from.uri_text.to_owned()),
        AuthOutcome::Authenticated(name) => {
            let reason = format!("Forbidden (authenticated as {name}, not {user})");
            reply::send(server, request, 403, &reason, &[], None);
            None
        }
        AuthOutcome::Challenge { stale } => {
            registrar::challenge(server, request, Realm::Proxy, stale);
            None
        }
        AuthOutcome::Forbidden(reason) => {
            reply::send(server, request, 403, &format!("Forbidden ({reason})"), &[], None);
            None
        }
    }
}

/// The recipient's user name: the Request-URI's user part when it is an account of our domain, else
/// the one account whose display name is that user part (pager mode addressing by name).
pub(super) async fn recipient(server: &Server, msg: &SipMessage) -> Option<String> {
    let uri = simple_im_core::sip::Uri::parse(msg.request_uri()?).ok()?;
    let sip = uri.as_sip()?;
    if !server.is_local(&sip.host.to_string()) {
        return None;
    }
    let user = sip.user?;
    if let Ok(Some(account)) = server.store.user(user).await {
        return Some(account.name);
    }
    let display = percent_decode(user);
    match server.store.users_by_display_name(&display).await {
        Ok(mut found) if found.len() == 1 => found.pop().map(|u| u.name),
        _ => None,
    }
}

/// `%XX` escapes of a URI user part decoded (display names contain spaces).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reject(
    server: &Arc<Server>,
    request: &Request,
    sender: &str,
    recipient: &str,
    code: u16,
    reason: &str,
    headers: &[(&'static str, String)],
) {
    record(server, Event::Rejected, sender, recipient, &request.msg, code);
    reply::send(server, request, code, reason, headers, None);
}

/// Writes a charging record for `msg`.
pub fn record(server: &Server, event: Event, sender: &str, recipient: &str, msg: &SipMessage, status: u16) {
    let message_id = deferred::message_id(msg);
    server.charging.record(&Record {
        event,
        sender,
        recipient,
        size: msg.body().len(),
        message_id: &message_id,
        status,
    });
}
