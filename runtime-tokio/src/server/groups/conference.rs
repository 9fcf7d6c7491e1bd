//! The conference event package (RFC 4575) for group URIs: SUBSCRIBE with `Event: conference` gets
//! the group's state in a NOTIFY at once (full state), then a partial NOTIFY each time a participant
//! joins or leaves the focus ([`super::focus`]).
//!
//! | request | answer |
//! |---|---|
//! | SUBSCRIBE, Event other than `conference` | 489 Bad Event, `Allow-Events: conference` |
//! | SUBSCRIBE to a URI that is no group | 404 |
//! | private group, subscriber neither member nor owner | 403 |
//! | new SUBSCRIBE | 200 (Expires: asked, at most [`MAX_EXPIRES`]), then NOTIFY full state, `version` 1 |
//! | SUBSCRIBE in the dialog (To tag) | refresh: 200 and a full NOTIFY; `Expires: 0` ends it with a `terminated` NOTIFY |
//! | in-dialog SUBSCRIBE for an unknown dialog | 481 |
//! | a participant joins / leaves | NOTIFY partial, the user `full` with a connected endpoint / `deleted`, `version` + 1 |
//! | a NOTIFY answered 481, or the subscription expired | the subscriber is dropped |
//!
//! NOTIFY bodies are written by `simple_im_core::conference_info` (RFC 4575 §5 schema order).

use super::focus::{to_tag, Participant};
use super::{lookup, may_send};
use crate::server::transport::Flow;
use crate::server::{pager, proxy, reply, Request, Server};
use bytes::Bytes;
use simple_im_core::conference_info::{self, Conference, State, Status, User};
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest subscription granted, in seconds (also the default).
pub const MAX_EXPIRES: u32 = 3600;

/// Room for a conference-info body beyond the per-user part.
const BODY_BYTES: usize = 2048;

/// One subscription: the dialog the NOTIFYs are sent in.
#[derive(Clone, Debug)]
pub struct Subscriber {
    call_id: String,
    /// The subscriber's From (with its tag): the NOTIFY's To.
    remote: String,
    /// Our tag: the NOTIFY's From tag.
    local_tag: String,
    /// Where NOTIFYs go (the subscriber's Contact) and over which flow.
    contact: String,
    flow: Flow,
    cseq: u32,
    version: u32,
    expires_at: Instant,
}

impl Subscriber {
    /// The subscription dialog's Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }
}

fn event_is_conference(request: &Request) -> bool {
    request
        .msg
        .header(HeaderName::Event)
        .and_then(|e| e.split(';').next())
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("conference"))
}

fn asked_expires(request: &Request) -> u32 {
    request
        .msg
        .header(HeaderName::Expires)
        .and_then(|e| e.trim().parse::<u32>().ok())
        .unwrap_or(MAX_EXPIRES)
        .min(MAX_EXPIRES)
}

/// Handles a SUBSCRIBE (see the module docs).
pub async fn subscribe(server: &Arc<Server>, request: &Request) {
    let msg = &request.msg;
    if !event_is_conference(request) {
        let allow = [("Allow-Events", "conference".to_owned())];
        reply::send(server, request, 489, "Bad Event", &allow, None);
        return;
    }
    let expires = asked_expires(request);
    let in_dialog = msg.to().is_some_and(|to| to.params.get("tag").is_some());
    if in_dialog {
        refresh(server, request, expires);
        return;
    }
    let Some(sender) = pager::identify(server, request).await else {
        return;
    };
    let Some(group) = lookup(server, msg.request_uri().unwrap_or("")).await else {
        reply::send(server, request, 404, "Not Found", &[], None);
        return;
    };
    if !may_send(server, &group, &sender) {
        let reason = format!("Forbidden (not a member of the private group {})", group.name);
        reply::send(server, request, 403, &reason, &[], None);
        return;
    }
    let local = server.transactions.transports().local_addr(&request.flow);
    let headers = [
        ("Expires", expires.to_string()),
        ("Contact", format!("<sip:{}@{local}>", group.name)),
    ];
    let Some(ok) = reply::build(msg, Some(request.flow.peer()), 200, "OK", &headers, None) else {
        return;
    };
    let Some(local_tag) = to_tag(&ok) else { return };
    server
        .transactions
        .respond(request.key.as_ref(), &request.flow, 200, ok);
    let contact = msg
        .header(HeaderName::Contact)
        .and_then(|c| {
            simple_im_core::sip::header::NameAddr::parse(c)
                .ok()
                .map(|a| a.uri_text.to_owned())
        })
        .unwrap_or(sender);
    let subscriber = Subscriber {
        call_id: msg.call_id().to_owned(),
        remote: msg.header(HeaderName::From).unwrap_or_default().to_owned(),
        local_tag,
        contact,
        flow: request.flow,
        cseq: 0,
        version: 0,
        expires_at: Instant::now() + Duration::from_secs(u64::from(expires)),
    };
    if expires == 0 {
        send_full(server, &group.name, subscriber, true);
        return;
    }
    server
        .focus
        .with_room(&group.name, |room| room.subscribers.push(subscriber.clone()));
    send_full(server, &group.name, subscriber, false);
}

/// A SUBSCRIBE in an existing subscription's dialog: refresh or end it.
fn refresh(server: &Arc<Server>, request: &Request, expires: u32) {
    let call_id = request.msg.call_id();
    let Some(group) = server.focus.group_of_subscription(call_id) else {
        reply::send(server, request, 481, "Call/Transaction Does Not Exist", &[], None);
        return;
    };
    reply::send(
        server,
        request,
        200,
        "OK",
        &[("Expires", expires.to_string())],
        None,
    );
    let found = server.focus.with_room(&group, |room| {
        let position = room.subscribers.iter().position(|s| s.call_id == call_id)?;
        if expires == 0 {
            Some(room.subscribers.remove(position))
        } else {
            let s = room.subscribers.get_mut(position)?;
            s.expires_at = Instant::now() + Duration::from_secs(u64::from(expires));
            Some(s.clone())
        }
    });
    if let Some(subscriber) = found {
        send_full(server, &group, subscriber, expires == 0);
    }
}

/// Sends the full state to one subscriber (a new subscription, a refresh, or the final NOTIFY).
fn send_full(server: &Arc<Server>, group: &str, subscriber: Subscriber, terminated: bool) {
    let participants = server.focus.with_room(group, |room| room.participants.clone());
    let users: Vec<User<'_>> = participants
        .iter()
        .map(|p| User {
            entity: &p.user,
            display_text: None,
            state: State::Full,
            endpoint: Some((&p.contact, Status::Connected)),
        })
        .collect();
    let group_uri = format!("sip:{group}@{}", server.config.domain);
    notify(
        server,
        group,
        &group_uri,
        subscriber,
        State::Full,
        participants.len(),
        &users,
        terminated,
    );
}

/// Tells every live subscriber of `group` that `participant` joined (`joined`) or left.
pub fn changed(server: &Arc<Server>, group: &str, group_uri: &str, participant: &Participant, joined: bool) {
    let now = Instant::now();
    let (subscribers, count) = server.focus.with_room(group, |room| {
        room.subscribers.retain(|s| s.expires_at > now);
        (room.subscribers.clone(), room.participants.len())
    });
    let user = User {
        entity: &participant.user,
        display_text: None,
        state: if joined { State::Full } else { State::Deleted },
        endpoint: joined.then_some((participant.contact.as_str(), Status::Connected)),
    };
    for subscriber in subscribers {
        notify(
            server,
            group,
            group_uri,
            subscriber,
            State::Partial,
            count,
            &[user],
            false,
        );
    }
}

/// Builds and sends one NOTIFY, taking the next CSeq and version of the subscription.
#[allow(clippy::too_many_arguments)]
fn notify(
    server: &Arc<Server>,
    group: &str,
    group_uri: &str,
    subscriber: Subscriber,
    state: State,
    user_count: usize,
    users: &[User<'_>],
    terminated: bool,
) {
    // The subscription's counters live in the room (one NOTIFY at a time per subscriber).
    let (cseq, version) = server
        .focus
        .with_room(group, |room| {
            let s = room
                .subscribers
                .iter_mut()
                .find(|s| s.call_id == subscriber.call_id)?;
            s.cseq += 1;
            s.version += 1;
            Some((s.cseq, s.version))
        })
        .unwrap_or((subscriber.cseq + 1, subscriber.version + 1));
    let conference = Conference {
        entity: group_uri,
        state,
        version,
        display_text: None,
        subject: None,
        maximum_user_count: None,
        user_count: u32::try_from(user_count).unwrap_or(u32::MAX),
    };
    let mut body = vec![0u8; BODY_BYTES + users.len() * 512];
    let Ok(len) = conference_info::write(&conference, users.iter().copied(), &mut body) else {
        return;
    };
    body.truncate(len);
    let remaining = subscriber
        .expires_at
        .saturating_duration_since(Instant::now())
        .as_secs();
    let subscription_state = if terminated {
        "terminated;reason=timeout".to_owned()
    } else {
        format!("active;expires={remaining}")
    };
    let branch = proxy::new_branch();
    let Some(bytes) = build_notify(
        server,
        &subscriber,
        group,
        group_uri,
        cseq,
        &subscription_state,
        &branch,
        &body,
    ) else {
        return;
    };
    let server = server.clone();
    let group = group.to_owned();
    tokio::spawn(async move {
        let answer = server
            .transactions
            .request(subscriber.flow, &branch, "NOTIFY", bytes)
            .await;
        if answer.is_ok_and(|r| r.status() == Some(481)) {
            server.focus.with_room(&group, |room| {
                room.subscribers.retain(|s| s.call_id != subscriber.call_id)
            });
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn build_notify(
    server: &Server,
    subscriber: &Subscriber,
    group: &str,
    group_uri: &str,
    cseq: u32,
    subscription_state: &str,
    branch: &str,
    body: &[u8],
) -> Option<Bytes> {
    let local = server.transactions.transports().local_addr(&subscriber.flow);
    let mut buf = vec![0u8; 2048 + subscriber.remote.len() + subscriber.contact.len() + body.len()];
    let mut w = MessageWriter::request(&mut buf, Method::Notify, &subscriber.contact).ok()?;
    w.header_fmt(
        HeaderName::Via,
        format_args!(
            "SIP/2.0/{} {local};branch={branch}",
            subscriber.flow.via_transport()
        ),
    )
    .ok()?;
    w.header(HeaderName::MaxForwards, "70").ok()?;
    w.header_fmt(
        HeaderName::From,
        format_args!("<{group_uri}>;tag={}", subscriber.local_tag),
    )
    .ok()?;
    w.header(HeaderName::To, &subscriber.remote).ok()?;
    w.header(HeaderName::CallId, &subscriber.call_id).ok()?;
    w.header_fmt(HeaderName::CSeq, format_args!("{cseq} NOTIFY"))
        .ok()?;
    w.header_fmt(HeaderName::Contact, format_args!("<sip:{group}@{local}>"))
        .ok()?;
    w.header(HeaderName::Event, "conference").ok()?;
    w.header(HeaderName::SubscriptionState, subscription_state).ok()?;
    w.header(HeaderName::ContentType, "application/conference-info+xml")
        .ok()?;
    let len = w.finish(body).ok()?;
    buf.truncate(len);
    Some(Bytes::from(buf))
}
