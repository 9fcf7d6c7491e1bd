//! The exploder's side of the notifications it aggregates ([`super::imdn_aggregate`]): its URI on
//! the notifications' path, recognising a list that asks for notifications and a MESSAGE that is a
//! notification, and answering a recipient's notification (200 once its batch went, 480 when the
//! batch could neither be delivered nor stored, 404 when it names nobody to go to).

use crate::server::imdn::{self, Notification};
use crate::server::participating::address_key;
use crate::server::{reply, rng, Request, Server};
use simple_im_core::cpim::{self, IMDN_NS};
use std::sync::Arc;

/// The URI the exploder puts in `IMDN-Record-Route`.
pub fn exploder_uri(server: &Server) -> String {
    format!("sip:{}@{}", super::exploder::EXPLODER_USER, server.config.domain)
}

/// `user@domain` for a URI of one of our domains (aliases folded), else its [`address_key`].
pub fn recipient_key(server: &Server, uri: &str) -> String {
    let key = address_key(uri);
    match key.split_once('@') {
        Some((user, host)) if server.is_local(host) => format!("{user}@{}", server.config.domain),
        _ => key,
    }
}

/// The `Disposition-Notification` prefix and the tracker's view of a CPIM list message that asks
/// for notifications.
pub fn asks_for_notifications(cpim_body: &[u8]) -> Option<(cpim::Message<'_>, String)> {
    let parsed = cpim::Message::parse(cpim_body).ok()?;
    let prefix = parsed
        .get(IMDN_NS, "Disposition-Notification")?
        .prefix()?
        .to_owned();
    Some((parsed, prefix))
}

/// Whether a MESSAGE to the exploder is a notification (CPIM with `Content-Disposition:
/// notification`) rather than a list to explode.
pub fn is_notification(body: &[u8]) -> bool {
    cpim::Message::parse(body).is_ok_and(|m| {
        m.content_header("Content-Disposition")
            .and_then(|d| d.split(';').next())
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("notification"))
    })
}

/// Answers a notification sent to the exploder by `sender` (see the module docs).
pub async fn incoming(server: &Arc<Server>, request: &Request, sender: &str) {
    let body = request.msg.body();
    let recipient = recipient_key(server, sender);
    super::tracked_lists::recall(server, body).await;
    let outcome = match server.aggregate.accept(server, &recipient, body) {
        Some(outcome) => outcome.await.unwrap_or(false),
        None => match forward_alone(server, sender, body, &exploder_uri(server)) {
            Some(notification) => imdn::send(server, &notification).await,
            None => {
                let reason = "Not Found (the notification names no user of this domain to go to)";
                reply::send(server, request, 404, reason, &[], None);
                return;
            }
        },
    };
    let (code, reason) = if outcome {
        (200, "OK")
    } else {
        (
            480,
            "Temporarily Unavailable (the notification could neither be delivered nor stored)",
        )
    };
    reply::send(server, request, code, reason, &[], None);
}

/// A notification routed through `route` (ours) whose list or group message is not tracked, on its
/// way to the IM's sender (its CPIM To) alone, with our `IMDN-Route` removed. `None` when the CPIM
/// To is not a user of our domain.
pub(super) fn forward_alone(server: &Server, sender: &str, body: &[u8], route: &str) -> Option<Notification> {
    let parsed = cpim::Message::parse(body).ok()?;
    let to = cpim::NameAddr::parse(parsed.get(cpim::CPIM_NS, "To")?.value)
        .uri
        .to_owned();
    let key = address_key(&to);
    let (user, host) = key.split_once('@')?;
    if !server.is_local(host) {
        return None;
    }
    let message_id = parsed
        .get(IMDN_NS, "Message-ID")
        .map_or_else(|| rng::token(16), |h| h.value.to_owned());
    Some(Notification {
        user: user.to_owned(),
        destination: to.clone(),
        from_uri: format!("sip:{}", address_key(sender)),
        message_id,
        body: super::cpim_edit::without_own_route(body, route),
        im_sender: to,
    })
}
