//! The URI-list service for MESSAGE (RFC 5365), hosted at `sip:DOMAIN` and `sip:exploder@DOMAIN`:
//! a MESSAGE whose `multipart/mixed` body carries the message and a `recipient-list` part
//! (`application/resource-lists+xml`) is exploded into one copy per listed recipient.
//!
//! | request | answer |
//! |---|---|
//! | it already passed a Controlling function, or comes from the system URI | 403 (the rules of [`super`]) |
//! | body not `multipart/mixed` with a boundary | 415, `Accept: multipart/mixed` |
//! | not exactly one message part and one `recipient-list` part, or the list is invalid | 400 naming the defect |
//! | more than [`MAX_RECIPIENTS`] distinct recipients | 403 |
//! | otherwise | a copy per distinct recipient, answered like a group message (200/202/480 with counts) |
//!
//! Each copy (RFC 5365 §4.1, RFC 5364): To is the recipient's own URI; the body is the message part,
//! and, when the list has recipients others may see, a `multipart/mixed` of the message part and a
//! `recipient-list-history` part ([`simple_im_core::resource_lists::write_history`]: `to` and `cc`
//! entries, anonymised ones counted under `sip:anonymous@anonymous.invalid`, `bcc` never shown). A
//! CPIM message part is sent alone: its own CPIM To/cc headers say who it went to, and it must reach
//! the recipient as CPIM so that the IMDN machinery works on it. When that CPIM message asks for
//! notifications, the exploder adds itself as the top `IMDN-Record-Route` and aggregates the
//! notifications back to the sender ([`super::imdn_aggregate`]); a MESSAGE to the exploder that is
//! itself a notification goes there instead of being exploded.
//!
//! Recipients are users of this domain, or users of a `[[peers]]` domain, whose copy goes to that
//! domain's server ([`super::pager`]: its 2xx counts as delivered, a 202 as stored there, a 4xx-6xx
//! as refused, no answer as failed); their notifications come back through their server to the
//! exploder and join the aggregation like any other. An entry naming a group is refused by the loop
//! rule (the copy would pass a second Controlling function); an entry of any other domain is refused
//! (404). Duplicates are exploded once (RFC 5365 §4.1).

use super::imdn_aggregate::{self, Listed, TrackedList};
use super::{answer, fan_out_each, passes_rules, Outcome, Tally, CONTROLLING_HEADER};
use crate::server::participating::address_key;
use crate::server::{deferred, participating, reply, Request, Server};
use crate::store::NewDeferred;
use simple_im_core::cpim;
use simple_im_core::imdn::Received;
use simple_im_core::multipart::{self, Part};
use simple_im_core::resource_lists::{entries, write_history, CopyControl};
use simple_im_core::sip::header::ContentType;
use simple_im_core::sip::{HeaderName, Uri};
use std::sync::Arc;

/// The user part naming the exploder (besides the bare domain URI).
pub const EXPLODER_USER: &str = "exploder";

/// The most distinct recipients one list may name (each costs a copy, a store row when offline).
pub const MAX_RECIPIENTS: usize = 1000;

/// Whether a Request-URI names the URI-list service of this server.
pub fn is_exploder(server: &Server, request_uri: &str) -> bool {
    names_exploder(|host| server.is_local(host), request_uri)
}

/// Whether `uri` names the URI-list service of the domain whose hosts `is_local` accepts.
pub fn names_exploder(is_local: impl Fn(&str) -> bool, uri: &str) -> bool {
    let Ok(uri) = Uri::parse(uri) else {
        return false;
    };
    let Some(sip) = uri.as_sip() else {
        return false;
    };
    is_local(&sip.host.to_string()) && sip.user.is_none_or(|u| u.eq_ignore_ascii_case(EXPLODER_USER))
}

/// The message part and the recipient-list part of a URI-list MESSAGE body, or the 4xx to answer.
pub(super) fn split(msg: &crate::server::sip::SipMessage) -> Result<(Part<'_>, Part<'_>), (u16, String)> {
    let unsupported = || {
        (
            415,
            "Unsupported Media Type (a URI-list MESSAGE carries multipart/mixed)".to_owned(),
        )
    };
    let content_type = msg.header(HeaderName::ContentType).ok_or_else(unsupported)?;
    let parsed = ContentType::parse(content_type).map_err(|_| unsupported())?;
    if !parsed.kind.eq_ignore_ascii_case("multipart") || !parsed.subtype.eq_ignore_ascii_case("mixed") {
        return Err(unsupported());
    }
    let boundary = parsed
        .params
        .get("boundary")
        .flatten()
        .map(|b| b.trim_matches('"'))
        .ok_or_else(|| (400, "Bad Request (multipart/mixed without a boundary)".to_owned()))?;
    let bad = |what: String| (400, format!("Bad Request ({what})"));
    let (mut message, mut list) = (None, None);
    for part in multipart::parts(msg.body(), boundary).map_err(|e| bad(e.to_string()))? {
        let part = part.map_err(|e| bad(e.to_string()))?;
        let is_list = part
            .disposition()
            .is_some_and(|d| d.eq_ignore_ascii_case("recipient-list"));
        let slot = if is_list { &mut list } else { &mut message };
        if slot.replace(part).is_some() {
            return Err(bad(
                "a URI-list MESSAGE has exactly one message part and one recipient-list part".into(),
            ));
        }
    }
    match (message, list) {
        (Some(message), Some(list))
            if list
                .media_type()
                .eq_ignore_ascii_case("application/resource-lists+xml") =>
        {
            Ok((message, list))
        }
        (_, Some(_)) => Err(bad(
            "the recipient-list part is not application/resource-lists+xml".into(),
        )),
        (_, None) => Err(bad("no part with Content-Disposition: recipient-list".into())),
    }
}

/// The distinct recipients of the list: `Ok(local user names or foreign URIs)`, or the 4xx.
pub(super) fn recipients(list: &[u8]) -> Result<Vec<String>, (u16, String)> {
    let mut found: Vec<String> = Vec::new();
    for entry in entries(list) {
        let entry = entry.map_err(|e| (400, format!("Bad Request ({e})")))?;
        let key = address_key(&entry.uri.to_string());
        if !found.contains(&key) {
            found.push(key);
        }
        if found.len() > MAX_RECIPIENTS {
            return Err((
                403,
                format!("Forbidden (the list names more than {MAX_RECIPIENTS} recipients)"),
            ));
        }
    }
    Ok(found)
}

/// Answers a MESSAGE to the URI-list service (see the module docs).
pub async fn message(server: &Arc<Server>, request: &Request, sender: &str) {
    let msg = &request.msg;
    if imdn_aggregate::is_notification(msg.body()) {
        imdn_aggregate::incoming(server, request, sender).await;
        return;
    }
    if !passes_rules(server, request, sender) {
        return;
    }
    let (message_part, list_part) = match split(msg) {
        Ok(parts) => parts,
        Err((code, reason)) => {
            let accept = [("Accept", "multipart/mixed".to_owned())];
            let headers: &[(&'static str, String)] = if code == 415 { &accept } else { &[] };
            reply::send(server, request, code, &reason, headers, None);
            return;
        }
    };
    let recipients = match recipients(list_part.body) {
        Ok(r) => r,
        Err((code, reason)) => {
            reply::send(server, request, code, &reason, &[], None);
            return;
        }
    };
    let (content_type, mut body) = copy_body(&message_part, list_part.body);
    let cpim = content_type.to_ascii_lowercase().starts_with("message/cpim");
    let listed = listed(server, &recipients, list_part.body);
    let tracked = cpim
        .then(|| track_notifications(server, &mut body, &listed))
        .flatten();
    if let Some(list) = &tracked {
        super::tracked_lists::persist(server, list).await;
    }
    let service_uri = msg.request_uri().unwrap_or_default().to_owned();
    let privacy = participating::wants_privacy(msg);
    let mut refused: Vec<String> = Vec::new();
    let mut copies: Vec<NewDeferred> = Vec::new();
    for key in recipients {
        let Some((user, host)) = key.split_once('@') else {
            refused.push(key);
            continue;
        };
        // A user of ours by name; a peer domain's by address (the copy goes to that server).
        let (copy_recipient, to) = if server.is_local(host) {
            (user, format!("<sip:{user}@{}>", server.config.domain))
        } else if server.config.peer_for(host).is_some() {
            (key.as_str(), format!("<sip:{key}>"))
        } else {
            refused.push(key);
            continue;
        };
        let mut copy = deferred::stored_copy(server, msg, sender, copy_recipient, privacy);
        copy.extra_headers
            .retain(|(name, _)| !HeaderName::To.matches(name));
        copy.extra_headers.push(("To".to_owned(), to));
        copy.extra_headers
            .push((CONTROLLING_HEADER.to_owned(), format!("<{service_uri}>")));
        copy.cpim = cpim;
        copy.content_type = content_type.clone();
        copy.body = body.clone();
        copies.push(copy);
    }
    let mut tally = Tally {
        refused: refused.len(),
        ..Tally::default()
    };
    for (user, outcome) in fan_out_each(server, msg, sender, copies).await {
        tally.add(outcome);
        if matches!(outcome, Outcome::Refused(_) | Outcome::Failed) {
            let key = if user.contains('@') {
                user
            } else {
                format!("{user}@{}", server.config.domain)
            };
            refused.push(key);
        }
    }
    if tracked.is_some() {
        let im = cpim::Message::parse(message_part.body).ok();
        if let Some(Ok(Some(im))) = im.as_ref().map(Received::from_cpim) {
            server.aggregate.refused(server, &im, &refused);
        }
    }
    answer(server, request, sender, &service_uri, tally);
}

/// Every distinct recipient as the IMDN aggregation tracks it (`bcc` and anonymised ones hidden).
fn listed(server: &Server, recipients: &[String], list: &[u8]) -> Vec<Listed> {
    let hidden: Vec<String> = entries(list)
        .flatten()
        .filter(|e| e.anonymize || e.copy_control == CopyControl::Bcc)
        .map(|e| address_key(&e.uri.to_string()))
        .collect();
    recipients
        .iter()
        .map(|key| {
            let key = imdn_aggregate::recipient_key(server, key);
            Listed {
                uri: format!("sip:{key}"),
                hidden: hidden
                    .iter()
                    .any(|h| imdn_aggregate::recipient_key(server, h) == key),
                key,
            }
        })
        .collect()
}

/// Puts the exploder on the notifications' path when the CPIM `body` asks for any: the list is
/// tracked and `body` gets the exploder's `IMDN-Record-Route`. Returns the list when it did.
fn track_notifications(server: &Server, body: &mut Vec<u8>, listed: &[Listed]) -> Option<TrackedList> {
    let (routed, list) = {
        let (im, prefix) = imdn_aggregate::asks_for_notifications(body)?;
        let received = Received::from_cpim(&im).ok()??;
        let exploder = imdn_aggregate::exploder_uri(server);
        let routed = super::cpim_edit::with_record_route(body, &prefix, &exploder)?;
        let list = TrackedList {
            sender_uri: received.sender.uri.to_owned(),
            message_id: received.message_id.to_owned(),
            date_time: received.date_time.to_owned(),
            asked: received.requested,
            listed: listed.to_vec(),
        };
        if !server.aggregate.track(server, list.clone()) {
            return None;
        }
        (routed, list)
    };
    *body = routed;
    Some(list)
}

/// The Content-Type and body every copy carries (see the module docs).
fn copy_body(message_part: &Part<'_>, list: &[u8]) -> (String, Vec<u8>) {
    let content_type = message_part
        .header("Content-Type")
        .unwrap_or("text/plain")
        .to_owned();
    if message_part.media_type().eq_ignore_ascii_case("message/cpim") {
        return (content_type, message_part.body.to_vec());
    }
    let mut history = vec![0u8; 512 + 2 * list.len()];
    let len = write_history(list, &mut history).unwrap_or(0);
    if len == 0 {
        return (content_type, message_part.body.to_vec());
    }
    history.truncate(len);
    let boundary = format!("simple-im-{}", crate::server::rng::token(12));
    let mut body = Vec::with_capacity(message_part.body.len() + len + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    if !message_part.headers.is_empty() {
        body.extend_from_slice(message_part.headers.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(message_part.body);
    body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        b"Content-Type: application/resource-lists+xml\r\n\
          Content-Disposition: recipient-list-history; handling=optional\r\n\r\n",
    );
    body.extend_from_slice(&history);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/mixed;boundary=\"{boundary}\""), body)
}
