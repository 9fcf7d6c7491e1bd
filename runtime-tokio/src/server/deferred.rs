//! The Deferred Messaging function for pager mode: storing a MESSAGE for an offline recipient (or one
//! who asked for pager messages to be stored), and pushing stored messages when the recipient registers.
//!
//! | event | action |
//! |---|---|
//! | MESSAGE to an offline user | enqueue durably (the store returns after commit), then 202 Accepted; a system message tells the sender |
//! | same sender + message id again | the store's dedupe says Duplicate: 202 again, nothing stored twice |
//! | recipient's deferred quota full | 480 Temporarily Unavailable, see below |
//! | store failure | 500, nothing acknowledged |
//! | REGISTER adds a binding | pending messages pushed oldest first to the newest contact, one at a time |
//! | the contact answers 2xx | the message is removed (only then) and charged as delivered |
//! | the contact refuses it for good (4xx other than 408/480, or 6xx) | the next older contact is tried |
//! | every contact refused it for good | removed, charged as rejected, negative IMDN ([`super::imdn`]) |
//! | a contact times out, fails or answers otherwise | the push stops; the rest waits for the next registration |
//! | expiry passes | removed by the expiry loop, charged as expired, negative IMDN |
//!
//! Why 480 when the quota is full: the recipient is not reachable now (the message would otherwise have
//! been forwarded) and the server cannot hold it, so "currently unavailable, try later" is the truth;
//! 486 Busy Here claims a reachable end system that declined, which would mislead a sender's UI.
//!
//! The message id used for dedupe is the CPIM `imdn.Message-ID` when the body is CPIM, else the
//! Call-ID with the CSeq number (what a retransmitting or re-sending client keeps).

use super::charging::{Event, Record};
use super::sip::SipMessage;
use super::{participating, proxy, reply, rng, system, Request, Server};
use crate::store::{DeferredMessage, Enqueued, NewDeferred, StoreError, UnixMillis};
use bytes::Bytes;
use simple_im_core::cpim;
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Headers kept with a stored message and replayed on delivery (From and To first).
const KEPT_HEADERS: &[HeaderName<'static>] = &[
    HeaderName::From,
    HeaderName::To,
    HeaderName::Subject,
    HeaderName::Priority,
    HeaderName::InReplyTo,
    HeaderName::ReplyTo,
];

/// How many pending messages one push reads at a time.
const PUSH_BATCH: usize = 64;

/// Users being pushed to right now; a registration during a push asks for another pass.
#[derive(Default)]
pub struct Deliveries {
    busy: Mutex<HashMap<String, bool>>,
}

/// The id a message is deduplicated and charged by.
pub fn message_id(msg: &SipMessage) -> String {
    let is_cpim = msg
        .header(HeaderName::ContentType)
        .and_then(|ct| ct.trim().get(..12))
        .is_some_and(|ct| ct.eq_ignore_ascii_case("message/cpim"));
    if is_cpim {
        if let Ok(parsed) = cpim::Message::parse(msg.body()) {
            if let Some(id) = parsed.get(cpim::IMDN_NS, "Message-ID") {
                return id.value.to_owned();
            }
        }
    }
    let cseq = msg
        .header(HeaderName::CSeq)
        .and_then(|c| c.split_whitespace().next())
        .unwrap_or("0");
    format!("{}/{cseq}", msg.call_id())
}

/// Stores a MESSAGE for `recipient` and answers it (202, or the failure).
pub async fn defer(server: &Arc<Server>, request: &Request, sender: &str, recipient: &str, privacy: bool) {
    let msg = &request.msg;
    let new = stored_copy(server, msg, sender, recipient, privacy);
    match server.store.enqueue(new, server.config.limits.quota()).await {
        Ok(outcome) => {
            if let Enqueued::Stored(_) = outcome {
                super::pager::record(server, Event::Deferred, sender, recipient, msg, 202);
            }
            reply::send(server, request, 202, "Accepted", &[], None);
            if let Enqueued::Stored(_) = outcome {
                system::message_stored(server, sender, recipient);
            }
        }
        Err(StoreError::QuotaExceeded { .. }) => {
            super::pager::record(server, Event::Rejected, sender, recipient, msg, 480);
            let reason = "Temporarily Unavailable (the recipient's deferred-message store is full)";
            reply::send(server, request, 480, reason, &[], None);
        }
        Err(_) => {
            super::pager::record(server, Event::Rejected, sender, recipient, msg, 500);
            reply::send(
                server,
                request,
                500,
                "Server Internal Error (message not stored)",
                &[],
                None,
            );
        }
    }
}

/// The message to store for `recipient`: the headers worth replaying (anonymised when `privacy`),
/// Date, Content-Type and the body as received, with the configured expiry. Also what the group
/// fan-out ([`super::groups`]) stores or delivers per member.
pub fn stored_copy(
    server: &Server,
    msg: &SipMessage,
    sender: &str,
    recipient: &str,
    privacy: bool,
) -> NewDeferred {
    let now = UnixMillis::now();
    let expiry = u64::try_from(server.config.limits.deferred_expiry().as_millis()).unwrap_or(u64::MAX);
    let mut extra_headers = Vec::new();
    for wanted in KEPT_HEADERS {
        for (_, value) in msg.headers().filter(|(n, _)| wanted.matches(n)) {
            let value = super::sip::unfold(value);
            let value = if privacy {
                participating::anonymise(*wanted, &value)
            } else {
                Some(value.into_owned())
            };
            if let Some(value) = value {
                extra_headers.push((wanted.as_str().to_owned(), value));
            }
        }
    }
    let content_type = msg
        .header(HeaderName::ContentType)
        .unwrap_or("text/plain")
        .to_owned();
    let new = NewDeferred {
        recipient: recipient.to_owned(),
        sender: sender.to_owned(),
        message_id: message_id(msg),
        cpim: content_type.to_ascii_lowercase().starts_with("message/cpim"),
        content_type,
        date: msg.header(HeaderName::Date).map(str::to_owned),
        extra_headers,
        body: msg.body().to_vec(),
        submitted: now,
        expires: now.plus_millis(expiry),
    };
    new
}

/// A user's command to the Deferred Messaging function, sent as a text MESSAGE to the system URI
/// (until the XDMS-based list exists): `fetch` pushes the pending messages now, to the newest contact;
/// `discard` deletes them all; `list` answers 200 with a `text/plain` summary in the body (one line
/// `N pending message(s)`, then one line per message: store id, sender, content type, body bytes,
/// tab-separated, oldest first, at most [`LIST_LIMIT`]) and changes nothing, so an unregistered client
/// can look without triggering delivery. The answer is 200 (or 400 for an unknown command, 403 for a
/// sender that is not a user of this domain), then (fetch, discard) a system message says what was done.
pub async fn command(server: &Arc<Server>, request: &Request, sender: &str) {
    let key = participating::address_key(sender);
    let local_user = key
        .split_once('@')
        .filter(|(_, host)| server.is_local(host))
        .map(|(user, _)| user.to_owned());
    let Some(user) = local_user else {
        reply::send(
            server,
            request,
            403,
            "Forbidden (commands are for users of this domain)",
            &[],
            None,
        );
        return;
    };
    let text = String::from_utf8_lossy(request.msg.body())
        .trim()
        .to_ascii_lowercase();
    match text.as_str() {
        "fetch" => {
            reply::send(server, request, 200, "OK", &[], None);
            deliver(server, &user).await;
        }
        "list" => {
            let summary = pending_summary(server, &user).await;
            reply::send(
                server,
                request,
                200,
                "OK",
                &[],
                Some(("text/plain;charset=utf-8", summary.as_bytes())),
            );
        }
        "discard" => {
            let mut discarded = 0usize;
            loop {
                let pending = server.store.pending(&user, PUSH_BATCH).await.unwrap_or_default();
                let before = discarded;
                for stored in &pending {
                    if server.store.delivered(stored.id).await.unwrap_or(false) {
                        discarded += 1;
                    }
                }
                if pending.len() < PUSH_BATCH || discarded == before {
                    break;
                }
            }
            reply::send(server, request, 200, "OK", &[], None);
            system::send(
                server,
                sender,
                format!("{discarded} pending message(s) discarded."),
            );
        }
        _ => reply::send(
            server,
            request,
            400,
            "Bad Request (commands: fetch, discard, list)",
            &[],
            None,
        ),
    }
}

/// Most messages listed by the `list` command.
pub const LIST_LIMIT: usize = 100;

/// The `list` command's answer body (see [`command`]).
async fn pending_summary(server: &Arc<Server>, user: &str) -> String {
    match server.store.pending(user, LIST_LIMIT).await {
        Ok(pending) => {
            let mut out = format!("{} pending message(s)\n", pending.len());
            for stored in &pending {
                let m = &stored.message;
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\n",
                    stored.id,
                    m.sender,
                    m.content_type,
                    stored.size()
                ));
            }
            out
        }
        Err(e) => format!("pending messages unavailable: {e}\n"),
    }
}

/// Pushes the user's pending messages to their newest contact, oldest first.
pub async fn deliver(server: &Arc<Server>, user: &str) {
    {
        let mut busy = server.deliveries.busy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(again) = busy.get_mut(user) {
            *again = true;
            return;
        }
        busy.insert(user.to_owned(), false);
    }
    loop {
        let pending = server.store.pending(user, PUSH_BATCH).await.unwrap_or_default();
        let mut stopped = pending.is_empty();
        for stored in &pending {
            if !push_one(server, user, stored).await {
                stopped = true;
                break;
            }
        }
        let mut busy = server.deliveries.busy.lock().unwrap_or_else(|e| e.into_inner());
        let again = busy.get(user).copied().unwrap_or(false);
        if (stopped || pending.len() < PUSH_BATCH) && !again {
            busy.remove(user);
            return;
        }
        busy.insert(user.to_owned(), false);
    }
}

/// Sends one stored message to the user's contacts, newest first; `true` when it is settled (taken
/// by the recipient, or refused for good by every contact) and the push may go on.
async fn push_one(server: &Arc<Server>, user: &str, stored: &DeferredMessage) -> bool {
    let bindings = server.location.lookup(user);
    if bindings.is_empty() {
        return false;
    }
    let mut refusal = 0;
    for binding in bindings.iter().rev() {
        let branch = proxy::new_branch();
        let Some(bytes) = build_stored(server, &stored.message, &binding.uri, &binding.flow, &branch) else {
            return false;
        };
        let answer = server
            .transactions
            .request(binding.flow, &branch, "MESSAGE", bytes)
            .await;
        let code = match answer {
            Ok(response) => response.status().unwrap_or(500),
            Err(_) => return false,
        };
        if (200..300).contains(&code) {
            // The notification is sent (or stored for the sender) before the copy leaves the queue:
            // a crash in between then pushes the copy again (a duplicate the recipient can tell by
            // its Message-ID) instead of losing the notification. Pushes to one user are serial
            // ([`deliver`]), so no other push sends this copy meanwhile.
            super::imdn::delivered(server, stored).await;
            let _ = server.store.delivered(stored.id).await;
            charge(server, Event::Delivered, stored, code);
            return true;
        }
        // Through a core (application-server mode) a 404 says the user is not registered there
        // (any more): offline, not refused.
        let offline = code == 404 && super::pager::is_trusted_core(server, &binding.flow);
        if offline || !refused_for_good(code) {
            return false;
        }
        refusal = code;
    }
    // Every contact refused it: it can never be delivered, so it leaves the queue now rather than
    // blocking the messages behind it until it expires.
    if server.store.delivered(stored.id).await.unwrap_or(false) {
        charge(server, Event::Rejected, stored, refusal);
        super::imdn::failed(server, stored).await;
    }
    true
}

/// Whether a contact's final answer means "never" (RFC 3261 §21.4, §21.6) rather than "not now":
/// 408 (a timeout) and 480 (temporarily unavailable) are worth another try at the next registration.
fn refused_for_good(code: u16) -> bool {
    ((400..500).contains(&code) && code != 408 && code != 480) || (600..700).contains(&code)
}

fn charge(server: &Server, event: Event, stored: &DeferredMessage, status: u16) {
    server.charging.record(&Record {
        event,
        sender: &stored.message.sender,
        recipient: &stored.message.recipient,
        size: stored.size(),
        message_id: &stored.message.message_id,
        status,
    });
}

/// The MESSAGE that delivers a stored message: a new transaction (fresh Call-ID) carrying the stored
/// From/To and headers, the original Date, and the body exactly as received.
pub(crate) fn build_stored(
    server: &Server,
    m: &NewDeferred,
    uri: &str,
    flow: &super::transport::Flow,
    branch: &str,
) -> Option<Bytes> {
    let local = server.transactions.transports().local_addr(flow);
    let mut buf = vec![
        0u8;
        4096 + m.body.len()
            + m.extra_headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>()
    ];
    let mut w = MessageWriter::request(&mut buf, Method::Message, uri).ok()?;
    w.header_fmt(
        HeaderName::Via,
        format_args!("SIP/2.0/{} {local};branch={branch}", flow.via_transport()),
    )
    .ok()?;
    w.header(HeaderName::MaxForwards, "70").ok()?;
    let has = |name: HeaderName<'_>| m.extra_headers.iter().any(|(n, _)| name.matches(n));
    if !has(HeaderName::From) {
        w.header_fmt(
            HeaderName::From,
            format_args!("<{}>;tag={}", m.sender, rng::token(6)),
        )
        .ok()?;
    }
    if !has(HeaderName::To) {
        w.header_fmt(
            HeaderName::To,
            format_args!("<sip:{}@{}>", m.recipient, server.config.domain),
        )
        .ok()?;
    }
    for (name, value) in &m.extra_headers {
        w.header(HeaderName::parse(name), value).ok()?;
    }
    w.header_fmt(
        HeaderName::CallId,
        format_args!("{}@{}", rng::token(12), server.config.domain),
    )
    .ok()?;
    w.header(HeaderName::CSeq, "1 MESSAGE").ok()?;
    if let Some(date) = &m.date {
        w.header(HeaderName::Date, date).ok()?;
    }
    w.header(HeaderName::ContentType, &m.content_type).ok()?;
    let len = w.finish(&m.body).ok()?;
    buf.truncate(len);
    Some(Bytes::from(buf))
}

/// Removes expired messages every `interval` and charges them, until the server is dropped.
pub async fn expiry_loop(server: Weak<Server>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(server) = server.upgrade() else { return };
        let expired = server
            .store
            .expire(UnixMillis::now(), 1000)
            .await
            .unwrap_or_default();
        let expired_sessions = server
            .store
            .expire_session(UnixMillis::now(), 1000)
            .await
            .unwrap_or_default();
        for stored in expired.iter().chain(&expired_sessions) {
            charge(&server, Event::Expired, stored, 0);
            super::imdn::failed(&server, stored).await;
        }
    }
}
