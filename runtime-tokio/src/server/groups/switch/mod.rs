//! The MSRP switch of a group chat (OMA IM 2.0 Controlling function, RFC 4975 endpoint role toward
//! every participant): each participant's SEND is replicated to every other participant.
//!
//! ## Legs and binding
//!
//! When the focus accepts an INVITE with an MSRP offer ([`super::focus`]), [`Switch::join`] gives the
//! participant its own server URI `msrp://HOST:PORT/SID;tcp` on the relay's listener (one MSRP port
//! for the server). The relay hands a connection whose first To-Path names such a SID to the switch
//! ([`crate::server::msrp::ForeignLegs`]); the first request then binds it with the relay's rule:
//!
//! | first request | answer |
//! |---|---|
//! | To-Path's SID is no live participant leg | 481, connection closed |
//! | From-Path is not the path the participant's SIP endpoint put in its SDP | 403, connection closed |
//! | the leg already has a connection | 506, connection closed |
//! | otherwise | bound; the request is handled like every later one |
//!
//! ## Requests on a bound connection
//!
//! | request | action |
//! |---|---|
//! | SEND, bodiless | 200 (Failure-Report permitting), nothing replicated |
//! | SEND chunk, not the last (`+`) | 200, chunk kept until the message is whole (at most [`MAX_MESSAGE`] bytes, else 413; a single chunk that large closes the connection) |
//! | SEND, last chunk | 200; one copy per other bound participant, see below |
//! | response to a copy | counted for that copy's delivery (see reports) |
//! | REPORT | absorbed (reports end at the switch: it is each participant's peer) |
//! | other method | 501 |
//!
//! A copy is a new SEND with the switch's transaction-id and Message-ID (shared by all copies of one
//! message: each recipient is its own session), To-Path = the recipient's SDP path, From-Path = the
//! recipient's leg URI, and a `message/cpim` body whose `From` is the sender's AoR
//! (`"Anonymous" <sip:anonymous@anonymous.invalid>` when its INVITE asked for privacy) and `To` the
//! group URI. A CPIM body from the sender keeps its other headers and content; its own `From` is
//! replaced (the switch vouches for the SIP-authenticated identity only). The copy is encoded once
//! for all recipients ([`copy`]), only its To-Path/From-Path lines differ, and those are encoded when
//! the leg joins. A message asking for notifications gets the group as its top `IMDN-Record-Route`,
//! and a notification (CPIM with `Content-Disposition: notification`) is sent only to the sender of
//! the message it is about, or to nobody with a 404 failure REPORT when that message is not known
//! ([`super::imdn_route::chat_message`]).
//!
//! ## Reports (per recipient)
//!
//! The switch answers each SEND itself. What the copies ask of their recipients follows from what
//! the sender asked of the switch ([`copy::CopyReports`]):
//!
//! | sender's SEND | copies carry | a recipient answers |
//! |---|---|---|
//! | `Success-Report: yes` | no Failure-Report (`yes`) | every copy |
//! | `Failure-Report: yes` or `partial` (the default `yes` included) | `Failure-Report: partial` | only a refusal |
//! | `Failure-Report: no` | `Failure-Report: no` | nothing |
//!
//! So the common case sends no 200 per copy back to the switch. A recipient answering non-2xx, or a
//! copy lost with its connection before it was written (or, for `yes` copies, before it was
//! answered), is one failed copy: the sender gets a failure REPORT (when it asked for failures)
//! whose comment names that recipient; the other copies are not affected. A refusal of a `partial`
//! copy is matched to its message among the last [`RECENT`] messages the switch replicated. When the
//! sender asked for `Success-Report: yes`, one success REPORT follows once every copy was answered 2xx.
//!
//! ## Slow recipients
//!
//! Everything written to a participant (copies, and the responses and REPORTs for its own SENDs)
//! queues on its connection, at most [`QUEUE`] messages beyond what its socket buffers hold; the
//! connection's writer task takes all that is queued at each wake-up and writes it at once
//! ([`writer`]). A
//! participant whose queue is full when a copy is due is dropped from the conference
//! ([`super::focus::expel`]: BYE, NOTIFY to the conference subscribers), so one slow reader neither
//! blocks the others nor makes the server grow without bound. The sender is never slowed down by a
//! recipient; a sender that does not read its own responses fills its own queue and is dropped the
//! same way (when its next copy is due).
//!
//! Ordering: one connection's messages are replicated one after the other, each copy queued on every
//! recipient before the next message is read, so every recipient sees each sender's messages once
//! and in the order sent.
//!
//! Not done yet: legs over TLS,
//! participants that only accept connections (`a=setup:passive` offers get the switch's passive
//! answer all the same). A participant behind another server's relay (path `relay-uri ... own`)
//! binds through the relay, which connects with its own URI: the first hop must match.

mod connection;
mod copy;
mod writer;

use super::imdn_route::ChatRouting;
use crate::server::msrp::{ForeignLegs, MsrpRelay};
use crate::server::participating::ANONYMOUS_FROM;
use crate::server::rng::OsRng;
use crate::server::Server;
use bytes::Bytes;
use copy::CopyReports;
use simple_im_core::msrp::generate_session_id;
use simple_im_core::msrp::wire::builder::write_report;
use simple_im_core::msrp::wire::{ReportRequest, Status};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use writer::Outgoing;

/// Copies (and responses) waiting for one recipient's connection before it is dropped as too slow.
pub const QUEUE: usize = 1024;
/// The largest message the switch reassembles from chunks.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// Replicated messages whose `Failure-Report: partial` copies a refusal can still be matched to.
pub const RECENT: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One participant's leg.
struct Member {
    sid: Box<str>,
    uri: String,
    /// The participant's SDP path (where copies go, and the only From-Path that may bind).
    endpoint: String,
    /// The participant's AoR and the identity shown to the others (CPIM From).
    user: String,
    shown: String,
    group: String,
    group_uri: String,
    call_id: String,
    /// The To-Path and From-Path lines of every copy to this leg ([`copy::paths`]).
    paths: Bytes,
    /// The queue to the connection's writer, once bound.
    out: Mutex<Option<mpsc::Sender<Outgoing>>>,
    /// Copies sent to this member that must be answered and were not yet, by message number.
    pending: Mutex<HashMap<u64, Arc<Delivery>>>,
    /// Woken when the member leaves (its connection closes).
    gone: Notify,
    left: std::sync::atomic::AtomicBool,
}

impl Member {
    fn send(&self, item: Outgoing) -> Result<(), mpsc::error::TrySendError<Outgoing>> {
        match lock(&self.out).as_ref() {
            Some(out) => out.try_send(item),
            None => Err(mpsc::error::TrySendError::Closed(item)),
        }
    }

    /// Queues a response or REPORT (dropped when the queue is full or closed: the member is then
    /// being dropped as too slow, or gone).
    fn queue(&self, bytes: Bytes) {
        let _ = self.send(Outgoing::whole(bytes));
    }
}

/// One replicated message: what its sender is told once the copies are answered.
struct Delivery {
    /// The message's number (in its copies' transaction-id).
    id: u64,
    origin: Weak<Member>,
    /// The sender's From-Path (where REPORTs go) and Message-ID.
    report_path: String,
    message_id: String,
    total: usize,
    remaining: AtomicUsize,
    failed: AtomicUsize,
    success_report: bool,
    failure_report: ReportRequest,
    /// The recipients whose refusal of a `partial` copy was counted (each counts once).
    refused_by: Mutex<Vec<Arc<Member>>>,
}

impl Delivery {
    /// Whether `member`'s refusal of this message's copy is its first (and to be counted).
    fn first_refusal(&self, member: &Arc<Member>) -> bool {
        let mut refused = lock(&self.refused_by);
        if refused.iter().any(|m| Arc::ptr_eq(m, member)) {
            return false;
        }
        refused.push(member.clone());
        true
    }
}

/// The switch: every participant leg of every room.
pub struct Switch {
    relay: Arc<MsrpRelay>,
    server: Weak<Server>,
    legs: Mutex<HashMap<Box<str>, Arc<Member>>>,
    /// Legs offered by the focus whose participant has not answered yet: a connection naming one
    /// waits (up to the bind timeout) for the answer instead of being refused.
    reserved: Mutex<std::collections::HashSet<Box<str>>>,
    /// Woken when a reserved leg is joined or given up.
    joined: Notify,
    rooms: Mutex<HashMap<String, Vec<Arc<Member>>>>,
    counter: AtomicU64,
    /// The last [`RECENT`] messages sent with `Failure-Report: partial` copies, oldest first.
    recent: Mutex<VecDeque<Arc<Delivery>>>,
    /// Timings of the last message replicated, and when a writer last finished a write (nanoseconds
    /// since `epoch`).
    trace: Mutex<Option<FanoutTrace>>,
    epoch: Instant,
    last_written: AtomicU64,
}

/// When the switch handled the last message it replicated (`Switch::last_fanout`): what the
/// `groups` bench reads to split the latency from send to the last delivery into stages.
#[derive(Clone, Copy, Debug)]
pub struct FanoutTrace {
    /// The message was whole (its last chunk read and parsed).
    pub received: Instant,
    /// Every copy was queued on its recipient's connection.
    pub queued: Instant,
    /// Copies queued.
    pub copies: usize,
}

impl Switch {
    /// A switch serving legs on `relay`'s listener.
    pub fn start(server: &Arc<Server>, relay: Arc<MsrpRelay>) -> Arc<Switch> {
        let switch = Arc::new(Switch {
            relay: relay.clone(),
            server: Arc::downgrade(server),
            legs: Mutex::default(),
            reserved: Mutex::default(),
            joined: Notify::new(),
            rooms: Mutex::default(),
            counter: AtomicU64::new(1),
            recent: Mutex::default(),
            trace: Mutex::default(),
            epoch: Instant::now(),
            last_written: AtomicU64::new(0),
        });
        relay.add_foreign_legs(switch.clone());
        switch
    }

    /// The relay's advertised host and port (for the SDP answer).
    pub fn address(&self) -> (String, u16) {
        (
            self.relay.advertised_host().to_owned(),
            self.relay.local_addr().port(),
        )
    }

    /// Adds a participant whose SDP path is `endpoint` to `group`'s room (replacing its earlier leg,
    /// a re-join): returns its leg URI.
    pub fn join(
        &self,
        group: &str,
        group_uri: &str,
        user: &str,
        anonymous: bool,
        call_id: &str,
        endpoint: &str,
    ) -> String {
        let (sid, _) = self.reserve();
        self.join_reserved(group, group_uri, user, anonymous, call_id, endpoint, sid)
    }

    /// A new leg's session-id and URI, for an offer made before the endpoint's path is known (the
    /// focus inviting someone); [`Switch::join_reserved`] puts it in the room once answered.
    pub fn reserve(&self) -> (Box<str>, String) {
        let sid: Box<str> = generate_session_id(&mut OsRng).as_str().into();
        let uri = self.relay.uri_for(&sid);
        lock(&self.reserved).insert(sid.clone());
        (sid, uri)
    }

    /// Gives up a leg from [`Switch::reserve`] (the participant declined or never answered).
    pub fn unreserve(&self, sid: &str) {
        lock(&self.reserved).remove(sid);
        self.joined.notify_waiters();
    }

    /// [`Switch::join`] with a leg from [`Switch::reserve`].
    #[allow(clippy::too_many_arguments)]
    pub fn join_reserved(
        &self,
        group: &str,
        group_uri: &str,
        user: &str,
        anonymous: bool,
        call_id: &str,
        endpoint: &str,
        sid: Box<str>,
    ) -> String {
        self.leave_user(group, user);
        let member = Arc::new(Member {
            uri: self.relay.uri_for(&sid),
            sid: sid.clone(),
            endpoint: endpoint.to_owned(),
            user: user.to_owned(),
            shown: if anonymous {
                ANONYMOUS_FROM.to_owned()
            } else {
                format!("<{user}>")
            },
            group: group.to_owned(),
            group_uri: group_uri.to_owned(),
            call_id: call_id.to_owned(),
            paths: copy::paths(endpoint, &self.relay.uri_for(&sid)),
            out: Mutex::new(None),
            pending: Mutex::default(),
            gone: Notify::new(),
            left: Default::default(),
        });
        lock(&self.legs).insert(sid, member.clone());
        lock(&self.rooms)
            .entry(group.to_owned())
            .or_default()
            .push(member.clone());
        lock(&self.reserved).remove(&member.sid);
        self.joined.notify_waiters();
        member.uri.clone()
    }

    /// Removes the leg of the SIP dialog `call_id` (BYE, expulsion), closing its connection.
    pub fn leave(&self, call_id: &str) {
        let found = lock(&self.legs).values().find(|m| m.call_id == call_id).cloned();
        if let Some(member) = found {
            self.remove(&member);
        }
    }

    fn leave_user(&self, group: &str, user: &str) {
        let key = crate::server::participating::address_key(user);
        let found: Vec<_> = lock(&self.rooms)
            .get(group)
            .map(|room| {
                room.iter()
                    .filter(|m| crate::server::participating::address_key(&m.user) == key)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for member in found {
            self.remove(&member);
        }
    }

    fn remove(&self, member: &Arc<Member>) {
        if member.left.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.legs).remove(&member.sid);
        {
            let mut rooms = lock(&self.rooms);
            if let Some(room) = rooms.get_mut(&member.group) {
                room.retain(|m| !Arc::ptr_eq(m, member));
                if room.is_empty() {
                    rooms.remove(&member.group);
                }
            }
        }
        lock(&member.out).take();
        member.gone.notify_waiters();
        let lost: Vec<Arc<Delivery>> = lock(&member.pending).drain().map(|(_, d)| d).collect();
        for delivery in lost {
            self.answered(&delivery, Some((408, &member.user)));
        }
    }

    /// Participants with a bound leg in `group`.
    pub fn bound_count(&self, group: &str) -> usize {
        lock(&self.rooms)
            .get(group)
            .map_or(0, |room| room.iter().filter(|m| lock(&m.out).is_some()).count())
    }

    fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The timings of the last message replicated, and when a connection's writer last finished a
    /// write (for a message sent alone: when its last copy left the switch).
    pub fn last_fanout(&self) -> Option<(FanoutTrace, Instant)> {
        let trace = (*lock(&self.trace))?;
        let written = self.epoch + Duration::from_nanos(self.last_written.load(Ordering::Relaxed));
        Some((trace, written))
    }

    /// A writer finished a write.
    fn written(&self) {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_written.fetch_max(nanos, Ordering::Relaxed);
    }

    /// The message `id` among the [`RECENT`] ones with `partial` copies.
    fn recent(&self, id: u64) -> Option<Arc<Delivery>> {
        lock(&self.recent).iter().rev().find(|d| d.id == id).cloned()
    }

    /// A copy was answered (`failure` = its non-2xx code and the recipient): REPORTs per the module docs.
    fn answered(&self, delivery: &Delivery, failure: Option<(u16, &str)>) {
        if let Some((code, recipient)) = failure {
            delivery.failed.fetch_add(1, Ordering::Relaxed);
            if delivery.failure_report != ReportRequest::No {
                self.report(delivery, code, &format!("not delivered to {recipient}"));
            }
        }
        let left = delivery
            .remaining
            .fetch_sub(1, Ordering::AcqRel)
            .saturating_sub(1);
        if left == 0 && delivery.success_report && delivery.failed.load(Ordering::Relaxed) == 0 {
            self.report(delivery, 200, "delivered to every participant");
        }
    }

    fn report(&self, delivery: &Delivery, code: u16, comment: &str) {
        let Some(origin) = delivery.origin.upgrade() else {
            return;
        };
        let tid = copy::transaction_id(self.next_id());
        let range = simple_im_core::msrp::wire::ByteRange {
            start: 1,
            end: Some(delivery.total as u64),
            total: Some(delivery.total as u64),
        };
        let status = Status {
            namespace: 0,
            code,
            comment: Some(comment),
        };
        let mut buf = vec![0u8; 1024 + delivery.report_path.len() + origin.uri.len() + comment.len()];
        if let Ok(len) = write_report(
            &mut buf,
            &tid,
            &delivery.report_path,
            &origin.uri,
            &delivery.message_id,
            Some(&range),
            &status,
        ) {
            buf.truncate(len);
            origin.queue(Bytes::from(buf));
        }
    }

    /// Replicates a whole message from `sender` to every other bound participant of its room.
    fn replicate(&self, sender: &Arc<Member>, message: Reassembled) {
        let received = Instant::now();
        let id = self.next_id();
        let reports = CopyReports::for_sender(message.success_report, message.failure_report);
        let mut body = copy::cpim_copy(
            &sender.shown,
            &sender.group_uri,
            &message.content_type,
            &message.body,
        );
        // Notifications go only to the sender of the message they are about ([`super::imdn_route`]).
        let routing = self
            .server
            .upgrade()
            .map_or(ChatRouting::Everyone(None), |server| {
                super::imdn_route::chat_message(&server, &sender.group_uri, &sender.sid, &body)
            });
        let only_to = match routing {
            ChatRouting::Everyone(routed) => {
                body = routed.unwrap_or(body);
                None
            }
            ChatRouting::OnlyTo(sid) => Some(sid),
            ChatRouting::Nobody => Some(String::new()),
        };
        let prepared = copy::prepare(id, reports, &body);
        let recipients: Vec<Arc<Member>> = lock(&self.rooms)
            .get(&sender.group)
            .map(|room| {
                room.iter()
                    .filter(|m| only_to.as_deref().is_none_or(|sid| *m.sid == *sid))
                    .filter(|m| !Arc::ptr_eq(m, sender) && lock(&m.out).is_some())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let delivery = Arc::new(Delivery {
            id,
            origin: Arc::downgrade(sender),
            report_path: message.from_path,
            message_id: message.message_id,
            total: message.body.len(),
            remaining: AtomicUsize::new(recipients.len()),
            failed: AtomicUsize::new(0),
            success_report: message.success_report,
            failure_report: message.failure_report,
            refused_by: Mutex::default(),
        });
        if recipients.is_empty() && only_to.is_some() {
            if delivery.failure_report != ReportRequest::No {
                self.report(
                    &delivery,
                    404,
                    "the notification's message or its sender is not in this room",
                );
            }
        } else if recipients.is_empty() && delivery.success_report {
            self.report(&delivery, 200, "no other participant");
        }
        if reports == CopyReports::FailuresOnly {
            let mut recent = lock(&self.recent);
            if recent.len() >= RECENT {
                recent.pop_front();
            }
            recent.push_back(delivery.clone());
        }
        // A lost `partial` copy is reported by the writer; a lost `yes` copy by the pending answers.
        let unanswered = (reports == CopyReports::FailuresOnly).then_some(&delivery);
        let copies = recipients.len();
        let mut slow = Vec::new();
        for recipient in recipients {
            if reports == CopyReports::EveryAnswer {
                lock(&recipient.pending).insert(id, delivery.clone());
            }
            let pieces = [
                prepared.head.clone(),
                recipient.paths.clone(),
                prepared.rest.clone(),
            ];
            let failure = match recipient.send(Outgoing::copy(pieces, unanswered.cloned())) {
                Ok(()) => continue,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    slow.push(recipient.clone());
                    408
                }
                Err(mpsc::error::TrySendError::Closed(_)) => 481,
            };
            lock(&recipient.pending).remove(&id);
            self.answered(&delivery, Some((failure, &recipient.user)));
        }
        *lock(&self.trace) = Some(FanoutTrace {
            received,
            queued: Instant::now(),
            copies,
        });
        for member in slow {
            self.expel(&member);
        }
    }

    /// Drops a participant from the conference (slow reader): its leg closes, the focus sends BYE
    /// and tells the conference subscribers.
    fn expel(&self, member: &Arc<Member>) {
        self.remove(member);
        if let Some(server) = self.server.upgrade() {
            super::focus::expel(&server, &member.call_id);
        }
    }
}

impl ForeignLegs for Switch {
    fn owns(&self, sid: &str) -> bool {
        lock(&self.legs).contains_key(sid) || lock(&self.reserved).contains(sid)
    }

    fn serve(self: Arc<Self>, stream: TcpStream) {
        tokio::spawn(async move { self.connection(stream).await });
    }
}

/// A message whose chunks are all in.
struct Reassembled {
    from_path: String,
    message_id: String,
    content_type: String,
    body: Vec<u8>,
    success_report: bool,
    failure_report: ReportRequest,
}
