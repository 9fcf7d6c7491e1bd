//! The focus of a group chat (RFC 4353 roles, OMA IM Controlling function), SIP side: joining with an
//! INVITE to the group URI, leaving with BYE, and the participant list the conference event package
//! ([`super::conference`]) reports.
//!
//! | event | action |
//! |---|---|
//! | INVITE to a group URI, passing the rules of [`super`] (loop rule, private group, system URI) | 200 with an SDP answer, Contact = the group URI at our address; the caller becomes a participant; subscribers get a partial NOTIFY |
//! | the group has `max_participants` participants already | 403, the maximum named |
//! | ACK for that 200 (matched by Call-ID) | absorbed; over UDP it stops the 200's retransmissions (every T1, doubling, for 64*T1) |
//! | BYE in a participant's dialog | 200; the participant is removed; subscribers get a partial NOTIFY with the user `deleted` |
//! | INVITE from a participant already in the room (re-join) | the old dialog is replaced by the new one |
//!
//! | the switch drops a slow participant, or the owner expels one ([`expel`]) | BYE to the participant; subscribers get a partial NOTIFY |
//!
//! Media: when the server runs the MSRP relay and the offer has MSRP media, the answer names the
//! participant's leg on the MSRP switch ([`super::switch`]): `a=path` its leg URI, `a=setup:passive`
//! (the participant connects). Without the relay (`msrp.media_path = "direct"`) or an MSRP offer,
//! the answer declines each offered media stream (port 0, RFC 3264 §6): the participant is in the
//! roster and gets its events, and chat messages into the group go through pager mode.

use super::switch::Switch;
use super::{conference, may_send, passes_invite_rules};
use crate::server::sip::SipMessage;
use crate::server::transport::Flow;
use crate::server::{invite, reply, Request, Server};
use crate::store::Group;
use bytes::Bytes;
use simple_im_core::sip::transaction::TransactionKey;
use simple_im_core::sip::HeaderName;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// RFC 3261 T1, the first 2xx retransmission interval over UDP.
const T1: Duration = Duration::from_millis(500);

/// One participant: the user and the dialog it joined with.
#[derive(Clone, Debug)]
pub struct Participant {
    /// The user's AoR (From URI of the INVITE).
    pub user: String,
    /// The user's Contact URI (the endpoint).
    pub contact: String,
    /// The dialog's Call-ID.
    pub call_id: String,
    acked: Arc<AtomicBool>,
    /// The participant's From (with its tag): the To of our in-dialog requests.
    remote: String,
    /// Our To tag.
    local_tag: String,
    /// The flow the INVITE came over (where the BYE goes).
    flow: Flow,
}

/// Everything the focus keeps per group: participants and conference-event subscribers.
#[derive(Default)]
pub struct Room {
    /// Who is in the chat, in joining order.
    pub participants: Vec<Participant>,
    /// Who subscribed to the conference events.
    pub subscribers: Vec<conference::Subscriber>,
}

/// The rooms of the running server, by group name.
#[derive(Default)]
pub struct Focus {
    rooms: Mutex<HashMap<String, Room>>,
    switch: std::sync::OnceLock<Arc<Switch>>,
    /// The ad-hoc rooms (RFC 5366) alive now: removed with their group when their last participant leaves.
    adhoc: Mutex<std::collections::HashSet<String>>,
}

impl Focus {
    /// The MSRP switch, started on first use when the server runs the MSRP relay.
    pub fn switch(&self, server: &Arc<Server>) -> Option<Arc<Switch>> {
        let relay = server.msrp.clone()?;
        Some(self.switch.get_or_init(|| Switch::start(server, relay)).clone())
    }

    /// Runs `f` on the room of `group` (created empty on first use).
    pub fn with_room<T>(&self, group: &str, f: impl FnOnce(&mut Room) -> T) -> T {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        f(rooms.entry(group.to_owned()).or_default())
    }

    /// Marks `group` as an ad-hoc room (closed when empty).
    pub(super) fn mark_adhoc(&self, group: &str) {
        self.adhoc
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group.to_owned());
    }

    /// The group whose conference-event subscription has this Call-ID.
    pub fn group_of_subscription(&self, call_id: &str) -> Option<String> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .iter()
            .find(|(_, room)| room.subscribers.iter().any(|s| s.call_id() == call_id))
            .map(|(group, _)| group.clone())
    }

    /// The group and participant whose dialog has this Call-ID.
    fn find(&self, call_id: &str) -> Option<(String, Participant)> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.iter().find_map(|(group, room)| {
            room.participants
                .iter()
                .find(|p| p.call_id == call_id)
                .map(|p| (group.clone(), p.clone()))
        })
    }
}

/// The SDP answer declining every offered media stream (port 0), or a minimal session without media
/// when there was no offer.
fn declining_answer(offer: &[u8], local: std::net::SocketAddr) -> String {
    let mut sdp = format!(
        "v=0\r\no=simple-im 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n",
        ip = local.ip()
    );
    for line in String::from_utf8_lossy(offer).lines() {
        let Some(media) = line.strip_prefix("m=") else {
            continue;
        };
        let mut fields = media.split_whitespace();
        let (Some(kind), Some(_port), Some(proto)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let formats: Vec<&str> = fields.collect();
        let formats = if formats.is_empty() {
            "*".to_owned()
        } else {
            formats.join(" ")
        };
        sdp.push_str(&format!("m={kind} 0 {proto} {formats}\r\n"));
    }
    sdp
}

/// The SDP answer naming the participant's switch leg `uri` at the relay's `host:port`.
pub(super) fn switch_answer((host, port): &(String, u16), uri: &str) -> String {
    let family = if host.contains(':') { "IP6" } else { "IP4" };
    format!(
        "v=0\r\no=simple-im 1 1 IN {family} {host}\r\ns=-\r\nc=IN {family} {host}\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\n\
         a=accept-wrapped-types:*\r\na=path:{uri}\r\na=setup:passive\r\n"
    )
}

/// The To tag of a response we built.
pub(super) fn to_tag(response: &Bytes) -> Option<String> {
    let parsed = SipMessage::parse(response.clone(), true).ok()?;
    let to = parsed.to()?;
    let tag = to.params.get("tag").flatten()?;
    Some(tag.to_owned())
}

/// An INVITE whose Request-URI names no account: joins the group it names. `false` (nothing sent)
/// when the URI is not a group.
pub async fn invite(server: &Arc<Server>, key: &TransactionKey, msg: &SipMessage, flow: &Flow) -> bool {
    if super::exploder::is_exploder(server, msg.request_uri().unwrap_or("")) {
        super::adhoc::invite(server, key, msg, flow).await;
        return true;
    }
    let Some(group) = super::lookup(server, msg.request_uri().unwrap_or("")).await else {
        return false;
    };
    join(server, key, msg, flow, &group).await;
    true
}

/// The INVITE `msg` joins `group` (the table in the module docs); the ad-hoc chat's creator joins
/// its new room this way too.
pub(super) async fn join(
    server: &Arc<Server>,
    key: &TransactionKey,
    msg: &SipMessage,
    flow: &Flow,
    group: &Group,
) {
    let Some(user) = msg.from().map(|f| f.uri_text.to_owned()) else {
        return;
    };
    let send = |code: u16, reason: &str, headers: &[(&str, String)], body: Option<(&str, &[u8])>| {
        let bytes = reply::build(msg, Some(flow.peer()), code, reason, headers, body);
        if let Some(bytes) = &bytes {
            invite::send_upstream(server, key, code, bytes.clone());
        }
        bytes
    };
    if let Err((code, reason)) = passes_invite_rules(server, msg, &user) {
        send(code, &reason, &[], None);
        return;
    }
    if !may_send(server, group, &user) {
        let reason = format!("Forbidden (not a member of the private group {})", group.name);
        send(403, &reason, &[], None);
        return;
    }
    let user_key = crate::server::participating::address_key(&user);
    let joined = server.focus.with_room(&group.name, |room| {
        room.participants
            .iter()
            .filter(|p| crate::server::participating::address_key(&p.user) != user_key)
            .count()
    });
    let max = group.max_participants as usize;
    if max > 0 && joined >= max {
        let reason = format!("Forbidden (the group has its maximum of {max} participants)");
        send(403, &reason, &[], None);
        return;
    }
    let local = server.transactions.transports().local_addr(flow);
    let group_uri = format!("sip:{}@{}", group.name, server.config.domain);
    let offer = crate::server::msrp::sdp::find(msg.body());
    let switch = offer.as_ref().and_then(|_| server.focus.switch(server));
    let answer = match (&offer, &switch) {
        (Some(offer), Some(switch)) => {
            let anonymous = crate::server::participating::wants_privacy(msg);
            let uri = switch.join(
                &group.name,
                &group_uri,
                &user,
                anonymous,
                msg.call_id(),
                &offer.path,
            );
            switch_answer(&switch.address(), &uri)
        }
        _ => declining_answer(msg.body(), local),
    };
    let contact = ("Contact", format!("<sip:{}@{local}>", group.name));
    // The dialog's route set (RFC 3261 §12.1.1): a participant behind another server's proxy sends
    // its ACK and BYE through that proxy.
    let mut headers = vec![contact];
    for route in msg.values(HeaderName::RecordRoute) {
        headers.push(("Record-Route", route.to_owned()));
    }
    // The participant is in the room before its 200 leaves: a BYE sent straight after the 200 must
    // find it (it used to race the insertion below and got 405).
    let body = Some(("application/sdp", answer.as_bytes()));
    let Some(ok) = reply::build(msg, Some(flow.peer()), 200, "OK", &headers, body) else {
        return;
    };
    let participant = Participant {
        user: user.clone(),
        contact: msg
            .header(HeaderName::Contact)
            .and_then(|c| {
                simple_im_core::sip::header::NameAddr::parse(c)
                    .ok()
                    .map(|a| a.uri_text.to_owned())
            })
            .unwrap_or_else(|| user.clone()),
        call_id: msg.call_id().to_owned(),
        acked: Arc::new(AtomicBool::new(false)),
        remote: msg.header(HeaderName::From).unwrap_or("").to_owned(),
        local_tag: to_tag(&ok).unwrap_or_default(),
        flow: *flow,
    };
    server.focus.with_room(&group.name, |room| {
        room.participants
            .retain(|p| crate::server::participating::address_key(&p.user) != user_key);
        room.participants.push(participant.clone());
    });
    invite::send_upstream(server, key, 200, ok.clone());
    if !flow.is_reliable() {
        retransmit_until_ack(server, *flow, ok, participant.acked.clone());
    }
    conference::changed(server, &group.name, &group_uri, &participant, true);
}

/// Retransmits the 200 over UDP at T1, 2*T1, ... (capped at T2 = 4 s) until its ACK or 64*T1.
fn retransmit_until_ack(server: &Arc<Server>, flow: Flow, ok: Bytes, acked: Arc<AtomicBool>) {
    let server = Arc::downgrade(server);
    tokio::spawn(async move {
        let mut interval = T1;
        let mut waited = Duration::ZERO;
        while waited < T1 * 64 {
            tokio::time::sleep(interval).await;
            waited += interval;
            if acked.load(Ordering::Relaxed) {
                return;
            }
            let Some(server) = server.upgrade() else { return };
            let _ = server.transactions.transports().send(&flow, ok.clone());
            interval = (interval * 2).min(Duration::from_secs(4));
        }
    });
}

/// An ACK: absorbed (true) when it acknowledges a focus's 200 (same Call-ID as a participant's
/// dialog).
pub fn ack(server: &Arc<Server>, msg: &SipMessage) -> bool {
    match server.focus.find(msg.call_id()) {
        Some((_, participant)) => {
            participant.acked.store(true, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// Whether `msg` (a BYE) belongs to a participant's dialog with the focus.
pub fn is_participant_dialog(server: &Server, msg: &SipMessage) -> bool {
    server.focus.find(msg.call_id()).is_some()
}

/// A BYE: when it ends a participant's dialog, answers 200, removes the participant and tells the
/// subscribers; `false` (nothing sent) otherwise.
pub async fn bye(server: &Arc<Server>, request: &Request) -> bool {
    let Some((group, participant)) = server.focus.find(request.msg.call_id()) else {
        return false;
    };
    server.focus.with_room(&group, |room| {
        room.participants.retain(|p| p.call_id != participant.call_id);
    });
    if let Some(switch) = server.focus.switch.get() {
        switch.leave(&participant.call_id);
    }
    reply::send(server, request, 200, "OK", &[], None);
    let group_uri = format!("sip:{group}@{}", server.config.domain);
    conference::changed(server, &group, &group_uri, &participant, false);
    close_if_empty(server, &group).await;
    true
}

/// Removes an ad-hoc room and its group once nobody is left in it (pre-defined rooms stay).
async fn close_if_empty(server: &Arc<Server>, group: &str) {
    let empty = server.focus.with_room(group, |room| room.participants.is_empty());
    if !empty {
        return;
    }
    let was_adhoc = server
        .focus
        .adhoc
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(group);
    if was_adhoc {
        server
            .focus
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(group);
        let _ = server.store.remove_group(group).await;
    }
}

/// Adds a participant the focus invited itself (ad-hoc chat): its dialog was originated here.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_invited(
    server: &Arc<Server>,
    group: &str,
    user: &str,
    contact: &str,
    call_id: &str,
    remote: &str,
    local_tag: &str,
    flow: Flow,
) {
    let participant = Participant {
        user: user.to_owned(),
        contact: contact.to_owned(),
        call_id: call_id.to_owned(),
        acked: Arc::new(AtomicBool::new(true)),
        remote: remote.to_owned(),
        local_tag: local_tag.to_owned(),
        flow,
    };
    server
        .focus
        .with_room(group, |room| room.participants.push(participant.clone()));
    let group_uri = format!("sip:{group}@{}", server.config.domain);
    conference::changed(server, group, &group_uri, &participant, true);
}

/// Ends a participant's dialog from the focus side (a slow reader dropped by the switch, or the owner's
/// expulsion): removes it, sends it a BYE and tells the subscribers. `false` when no participant has
/// that dialog.
pub fn expel(server: &Arc<Server>, call_id: &str) -> bool {
    let Some((group, participant)) = server.focus.find(call_id) else {
        return false;
    };
    server.focus.with_room(&group, |room| {
        room.participants.retain(|p| p.call_id != participant.call_id);
    });
    if let Some(switch) = server.focus.switch.get() {
        switch.leave(call_id);
    }
    let group_uri = format!("sip:{group}@{}", server.config.domain);
    conference::changed(server, &group, &group_uri, &participant, false);
    {
        let (server, group) = (server.clone(), group.clone());
        tokio::spawn(async move { close_if_empty(&server, &group).await });
    }
    let branch = crate::server::proxy::new_branch();
    if let Some(bye) = build_bye(server, &participant, &group_uri, &branch) {
        let server = server.clone();
        tokio::spawn(async move {
            let _ = server
                .transactions
                .request(participant.flow, &branch, "BYE", bye)
                .await;
        });
    }
    true
}

fn build_bye(server: &Server, participant: &Participant, group_uri: &str, branch: &str) -> Option<Bytes> {
    use simple_im_core::sip::{MessageWriter, Method};
    let local = server.transactions.transports().local_addr(&participant.flow);
    let mut buf = vec![0u8; 1024 + participant.remote.len() + participant.contact.len()];
    let mut w = MessageWriter::request(&mut buf, Method::Bye, &participant.contact).ok()?;
    w.header_fmt(
        HeaderName::Via,
        format_args!(
            "SIP/2.0/{} {local};branch={branch}",
            participant.flow.via_transport()
        ),
    )
    .ok()?;
    w.header(HeaderName::MaxForwards, "70").ok()?;
    w.header_fmt(
        HeaderName::From,
        format_args!("<{group_uri}>;tag={}", participant.local_tag),
    )
    .ok()?;
    w.header(HeaderName::To, &participant.remote).ok()?;
    w.header(HeaderName::CallId, &participant.call_id).ok()?;
    // Our first request in this dialog: any CSeq works, the participant has never seen ours.
    w.header(HeaderName::CSeq, "1 BYE").ok()?;
    let len = w.finish(&[]).ok()?;
    buf.truncate(len);
    Some(Bytes::from(buf))
}
