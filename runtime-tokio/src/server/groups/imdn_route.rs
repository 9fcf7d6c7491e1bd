//! Delivery and display notifications of messages into a group (pager mode and group chats) (RFC 5438 §8; OMA: the
//! Controlling function stays on the path of the notifications): members notify the group, and the
//! group forwards each notification to the message's real sender, so a member never needs (or
//! learns) the sender's address.
//!
//! | event | what happens |
//! |---|---|
//! | CPIM MESSAGE into a group asks for notifications | every copy gets `IMDN-Record-Route: <group URI>` as its top route; (group, Message-ID) → sender remembered |
//! | any CPIM MESSAGE into a group whose sender asked for privacy (RFC 3323) | the copy's CPIM `From` becomes `<sip:anonymous@anonymous.invalid>` as well as its SIP From |
//! | a member's notification to the group URI for a remembered message | our `IMDN-Route` removed, sent to the sender's contact or stored for the sender; 200, or 480 when neither worked |
//! | the Deferred Messaging function's notification for a stored copy | the same, without a request to answer |
//! | a notification from a non-member, or for a message not remembered | forwarded to its CPIM To when that is a user of ours (as if sent directly), else 404 |
//! | [`MAX_ROUTED`] messages remembered | the oldest forgotten; a route lives as long as a stored copy can |
//!
//! In a group chat the MSRP switch asks [`chat_message`] about each message: one asking for
//! notifications gets the group's `IMDN-Record-Route` and is remembered with its sender's switch
//! leg; a notification is sent only on that leg (not to the room), or to nobody (a 404 failure
//! REPORT to its sender) when the message is not remembered.
//!
//! The table of remembered pager messages is kept in memory and in the store
//! ([`crate::store::Store::remember_imdn_route`], written before the copies go out): after a restart
//! a notification about an earlier message is routed from the stored row (read back into memory),
//! so it reaches even a sender who asked for privacy. Chat messages are remembered in memory only:
//! the switch leg they name does not outlive the server.

use super::cpim_edit::{with_anonymous_from, without_own_route};
use super::imdn_aggregate::forward_alone;
use super::{is_member, local_user};
use crate::server::imdn::{self, Notification};
use crate::server::participating::address_key;
use crate::server::{reply, Request, Server};
use crate::store::{Group, ImdnRoute, UnixMillis};
use simple_im_core::cpim::{self, IMDN_NS};
use simple_im_core::imdn::{Imdn, Received};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The most group messages whose notifications are routed at once.
pub const MAX_ROUTED: usize = 16_384;

#[derive(Debug, Default)]
struct Table {
    senders: HashMap<(String, String), (String, Instant)>,
    order: VecDeque<(String, String)>,
}

/// The remembered group messages (see the module docs).
#[derive(Debug, Default)]
pub struct GroupRoutes {
    table: Mutex<Table>,
}

impl GroupRoutes {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember(&self, server: &Server, group_uri: &str, message_id: &str, sender: &str) {
        let limits = &server.config.limits;
        let lifetime = limits.deferred_expiry() + server.options.expiry_interval;
        self.remember_until(group_uri, message_id, sender, Instant::now() + lifetime);
    }

    fn remember_until(&self, group_uri: &str, message_id: &str, sender: &str, deadline: Instant) {
        let key = (address_key(group_uri), message_id.to_owned());
        let mut table = self.table();
        let now = Instant::now();
        while let Some(oldest) = table.order.front().cloned() {
            let expired = table.senders.get(&oldest).is_none_or(|(_, d)| *d <= now);
            if !expired && table.order.len() < MAX_ROUTED {
                break;
            }
            table.order.pop_front();
            table.senders.remove(&oldest);
        }
        if table
            .senders
            .insert(key.clone(), (sender.to_owned(), deadline))
            .is_none()
        {
            table.order.push_back(key);
        }
    }

    fn sender_of(&self, route: &str, message_id: &str) -> Option<String> {
        let key = (address_key(route), message_id.to_owned());
        let table = self.table();
        let (sender, deadline) = table.senders.get(&key)?;
        (*deadline > Instant::now()).then(|| sender.clone())
    }
}

/// The body each copy of a group MESSAGE carries, when it differs from the request's: a CPIM body
/// asking for notifications gets the group as its top `IMDN-Record-Route` (and the message is
/// remembered, in the store too, before this returns); with `privacy`, any CPIM body gets an
/// anonymous CPIM From.
pub async fn copy_body(
    server: &Server,
    body: &[u8],
    group_uri: &str,
    sender: &str,
    privacy: bool,
) -> Option<Vec<u8>> {
    let (routed, message_id) = {
        let parsed = cpim::Message::parse(body).ok()?;
        let routed = Received::from_cpim(&parsed).ok().flatten().and_then(|received| {
            let prefix = parsed.get(IMDN_NS, "Disposition-Notification")?.prefix()?;
            let routed = super::cpim_edit::with_record_route(body, prefix, group_uri)?;
            Some((routed, received.message_id.to_owned()))
        });
        routed.unzip()
    };
    if let Some(message_id) = message_id {
        server
            .group_routes
            .remember(server, group_uri, &message_id, sender);
        let lifetime = server.config.limits.deferred_expiry() + server.options.expiry_interval;
        let now = UnixMillis::now();
        let route = ImdnRoute {
            route: address_key(group_uri),
            message_id,
            value: sender.to_owned(),
            expires: now.plus_millis(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX)),
        };
        // A failed write costs only the route's survival across a restart, not the message.
        let _ = server.store.remember_imdn_route(route, now).await;
    }
    match (routed, privacy) {
        (Some(routed), true) => with_anonymous_from(&routed),
        (None, true) => with_anonymous_from(body),
        (routed, false) => routed,
    }
}

/// Reads the route of the message a notification `body` is about back from the store into memory
/// when it is not there (after a restart).
async fn recall(server: &Server, route: &str, body: &[u8]) {
    let message_id = {
        let Ok(parsed) = cpim::Message::parse(body) else {
            return;
        };
        let Ok(document) = Imdn::parse(parsed.body()) else {
            return;
        };
        document.message_id.as_held().to_owned()
    };
    if server.group_routes.sender_of(route, &message_id).is_some() {
        return;
    }
    let now = UnixMillis::now();
    let Ok(Some((sender, expires))) = server
        .store
        .imdn_route(&address_key(route), &message_id, now)
        .await
    else {
        return;
    };
    let left = std::time::Duration::from_millis(expires.0.saturating_sub(now.0));
    server
        .group_routes
        .remember_until(route, &message_id, &sender, Instant::now() + left);
}

/// The notification `body` (from `notifier`) redirected to the remembered sender of the message it
/// is about, when it is routed through `route` (a group URI of ours) and remembered.
fn redirected(server: &Server, route: &str, notifier: &str, body: &[u8]) -> Option<Notification> {
    let parsed = cpim::Message::parse(body).ok()?;
    let document = Imdn::parse(parsed.body()).ok()?;
    let sender = server
        .group_routes
        .sender_of(route, document.message_id.as_held())?;
    let user = local_user(server, &sender)?;
    let message_id = parsed.get(IMDN_NS, "Message-ID")?.value.to_owned();
    Some(Notification {
        user,
        destination: sender.clone(),
        from_uri: format!("sip:{}", address_key(notifier)),
        message_id,
        body: without_own_route(body, route),
        im_sender: sender,
    })
}

/// Answers a member's notification sent to `group` (see the module docs).
pub async fn incoming(server: &Arc<Server>, request: &Request, sender: &str, group: &Group) {
    let body = request.msg.body();
    let group_uri = format!("sip:{}@{}", group.name, server.config.domain);
    let member = local_user(server, sender)
        .is_some_and(|user| group.owner.eq_ignore_ascii_case(&user) || is_member(group, &user));
    if member {
        recall(server, &group_uri, body).await;
    }
    let routed = member
        .then(|| redirected(server, &group_uri, sender, body))
        .flatten();
    let Some(notification) = routed.or_else(|| forward_alone(server, sender, body, &group_uri)) else {
        let reason = "Not Found (the notification names no message of this group and no user of this domain)";
        reply::send(server, request, 404, reason, &[], None);
        return;
    };
    let (code, reason) = if imdn::send(server, &notification).await {
        (200, "OK")
    } else {
        (
            480,
            "Temporarily Unavailable (the notification could neither be delivered nor stored)",
        )
    };
    reply::send(server, request, code, reason, &[], None);
}

/// For the Deferred Messaging function: `notification` redirected to the real sender when its
/// destination is a group route we remember, or sent straight to the IM's sender when it names a
/// group we do not remember the message of. `None`: not routed through a group.
pub async fn for_stored_copy(server: &Server, notification: &Notification) -> Option<Option<Notification>> {
    super::lookup(server, &notification.destination).await?;
    recall(server, &notification.destination, &notification.body).await;
    let redirected = redirected(
        server,
        &notification.destination,
        &notification.from_uri,
        &notification.body,
    );
    Some(redirected.or_else(|| notification.bypassing_route(|h| server.is_local(h))))
}

/// The value remembered for a chat message: the sender's switch leg, not an address.
const CHAT_LEG: &str = "msrp-leg:";

/// Where the switch sends a chat message of a room (its CPIM copy `copy`, see [`chat_message`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatRouting {
    /// To every other participant; with the copy re-written (the group's `IMDN-Record-Route`
    /// added) when the message asks for notifications.
    Everyone(Option<Vec<u8>>),
    /// A notification: only to the participant on this switch leg, the sender of the message it is about.
    OnlyTo(String),
    /// A notification about no message of this room that is remembered: to nobody.
    Nobody,
}

/// The group-chat rule of the module docs: a notification goes only to the sender of the message it
/// is about (never to the whole room); a message asking for notifications gets the group as its top
/// `IMDN-Record-Route` and is remembered with the sender's leg `sender_sid`.
pub fn chat_message(server: &Server, group_uri: &str, sender_sid: &str, copy: &[u8]) -> ChatRouting {
    let Ok(parsed) = cpim::Message::parse(copy) else {
        return ChatRouting::Everyone(None);
    };
    if super::imdn_aggregate::is_notification(copy) {
        let sender = Imdn::parse(parsed.body())
            .ok()
            .and_then(|d| server.group_routes.sender_of(group_uri, d.message_id.as_held()));
        return match sender.as_deref().and_then(|s| s.strip_prefix(CHAT_LEG)) {
            Some(sid) => ChatRouting::OnlyTo(sid.to_owned()),
            None => ChatRouting::Nobody,
        };
    }
    let Ok(Some(received)) = Received::from_cpim(&parsed) else {
        return ChatRouting::Everyone(None);
    };
    let Some(prefix) = parsed
        .get(IMDN_NS, "Disposition-Notification")
        .and_then(|h| h.prefix())
    else {
        return ChatRouting::Everyone(None);
    };
    let routed = super::cpim_edit::with_record_route(copy, prefix, group_uri);
    if routed.is_some() {
        let leg = format!("{CHAT_LEG}{sender_sid}");
        server
            .group_routes
            .remember(server, group_uri, received.message_id, &leg);
    }
    ChatRouting::Everyone(routed)
}
