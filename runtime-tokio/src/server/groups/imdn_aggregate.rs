//! Delivery notifications of the URI-list service (RFC 5438 §8.3; OMA: the Controlling function
//! handles the notifications of the messages it fans out).
//!
//! When a list MESSAGE carries a CPIM message that asks for notifications, the exploder puts itself
//! on their path: every copy gets `imdn.IMDN-Record-Route: <sip:exploder@DOMAIN>` as its top route
//! ([`super::cpim_edit::with_record_route`]), and the list is tracked here, keyed by the IM's sender and Message-ID.
//! Recipients (and the Deferred Messaging function, for copies it stored) then send their
//! notifications to the exploder, which collects them and sends the sender **aggregated**
//! notifications: one `message/cpim` whose content is a `multipart/mixed` of `message/imdn+xml`
//! documents, as RFC 5438 §8.3 defines (a batch of one is sent as a plain notification).
//!
//! | event | what happens |
//! |---|---|
//! | list exploded, IM asks for notifications, fewer than [`MAX_TRACKED_LISTS`] tracked | tracked; copies carry the route |
//! | too many lists tracked | not tracked, no route added: recipients notify the sender directly |
//! | a copy refused (no account, a group, policy, client decline, quota) or a foreign recipient | a `<failed/>` document built by the exploder, if `negative-delivery` was asked |
//! | a tracked recipient's notification arrives | its document joins the batch; the batch timer starts if idle |
//! | every recipient finished (failed, or sent every kind asked: delivery, display) | the batch goes at once; the list is forgotten |
//! | the batch timer (`limits.imdn_aggregation_ms`) fires | the batch goes; the next notification starts the next batch |
//! | the Deferred Messaging function's notification for a stored copy of a tracked list | held first (below), then joins the batch |
//! | notification for a list not tracked (restart, forgotten, not a listed recipient) | forwarded alone to the IM's sender |
//! | a list's deadline passed (deferred expiry plus a margin: no stored copy can still report) | forgotten |
//! | a notification for a list tracked before a restart | the list is read back from the store ([`super::tracked_lists`]), then as above |
//!
//! Each document in a batch names the recipient as the exploder knows it (the SIP-authenticated
//! sender of the notification, or the recipient of the stored copy), not as the recipient's client
//! wrote it; for a `bcc` or anonymised entry the recipient is removed (§8: list membership not
//! disclosed). A recipient's notification MESSAGE is answered only once the batch holding it was
//! delivered to the sender or stored for the sender (200), or could be neither (480): nothing this
//! server answered 200 for lives only in memory. The window is capped at 16 s to stay inside SIP's
//! 32 s transaction timeout.
//!
//! A notification the Deferred Messaging function generates has no request to hold back (and the
//! push of stored messages must not stall on the window), so it is made durable another way: it is
//! first **held**, stored in the sender's own deferred queue in the form it would take alone
//! ([`crate::server::imdn`] does this), and its batch remembers the held row. When the batch has been
//! delivered to the sender or stored for the sender, the held rows are removed; when it could be
//! neither, they stay and reach the sender at its next registration. A held row pushed to the sender
//! inside the window (it registered again) leaves its batch ([`Aggregator::delivered_alone`]). After a crash within the window
//! the held rows are all that is left, and the restarted server pushes them to the sender one by one:
//! each notification arrives exactly once, aggregated or alone.
pub(super) use super::exploder_imdn::forward_alone;
pub use super::exploder_imdn::{
    asks_for_notifications, exploder_uri, incoming, is_notification, recipient_key,
};
use crate::server::imdn::{self, Notification};
use crate::server::participating::address_key;
use crate::server::{rng, Server};
use crate::store::DeferredId;
use simple_im_core::cpim::{self, IMDN_NS};
use simple_im_core::imdn::tracker::Received;
use simple_im_core::imdn::{DispositionRequest, Imdn, NotificationKind, Status};
use simple_im_core::xml::XmlText;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// The most lists tracked at once (each holds its recipients and a batch).
pub const MAX_TRACKED_LISTS: usize = 4096;

/// Room for one re-written IMDN document.
const DOCUMENT_BYTES: usize = 2048;

/// One recipient named by a list, as the exploder tracks it.
#[derive(Clone, Debug)]
pub struct Listed {
    /// `user@domain` for a user of ours, else the listed address, lowercase ([`address_key`]).
    pub key: String,
    /// The URI shown in the aggregated documents.
    pub uri: String,
    /// A `bcc` or anonymised entry: never named to the sender.
    pub hidden: bool,
}

/// What describes a tracked list (what [`super::tracked_lists`] keeps in the store).
#[derive(Clone, Debug)]
pub struct TrackedList {
    /// The IM's sender (its CPIM From).
    pub sender_uri: String,
    /// The IM's `imdn.Message-ID`.
    pub message_id: String,
    /// The IM's `DateTime`, repeated in the documents the exploder builds.
    pub date_time: String,
    /// The notifications the IM asked for.
    pub asked: DispositionRequest,
    /// Its recipients.
    pub listed: Vec<Listed>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ListKey {
    sender: String,
    message_id: String,
}

#[derive(Debug)]
struct Recipient {
    uri: String,
    hidden: bool,
    delivered: bool,
    failed: bool,
    displayed: bool,
}

impl Recipient {
    fn finished(&self, asked: DispositionRequest) -> bool {
        if self.failed {
            return true;
        }
        let wants = asked.positive_delivery || asked.display;
        wants && (!asked.positive_delivery || self.delivered) && (!asked.display || self.displayed)
    }
}

#[derive(Debug)]
struct ListState {
    sender_uri: String,
    date_time: String,
    asked: DispositionRequest,
    recipients: HashMap<String, Recipient>,
    documents: Vec<Vec<u8>>,
    waiting: Vec<oneshot::Sender<bool>>,
    /// The Deferred Messaging function's documents, each with the row holding it.
    held: Vec<(DeferredId, Vec<u8>)>,
    timer_running: bool,
    deadline: Instant,
}

impl ListState {
    fn finished(&self) -> bool {
        self.recipients.values().all(|r| r.finished(self.asked))
    }

    fn take_batch(&mut self) -> Batch {
        let held = std::mem::take(&mut self.held);
        let mut documents = std::mem::take(&mut self.documents);
        documents.extend(held.iter().map(|(_, document)| document.clone()));
        Batch {
            sender_uri: self.sender_uri.clone(),
            documents,
            waiting: std::mem::take(&mut self.waiting),
            held: held.into_iter().map(|(id, _)| id).collect(),
        }
    }
}

/// Documents on their way to the sender, with the recipients' requests waiting for the outcome and
/// the held rows standing for the Deferred Messaging function's notifications among them.
struct Batch {
    sender_uri: String,
    documents: Vec<Vec<u8>>,
    waiting: Vec<oneshot::Sender<bool>>,
    held: Vec<DeferredId>,
}

/// What stands behind a document joining a batch.
enum Joining {
    /// A recipient's notification request, answered with the batch's outcome.
    Request(oneshot::Sender<bool>),
    /// The Deferred Messaging function's notification, held in the sender's queue under this id.
    Held(DeferredId),
}

/// The tracked lists (see the module docs).
#[derive(Debug, Default)]
pub struct Aggregator {
    lists: Mutex<HashMap<ListKey, ListState>>,
}

impl Aggregator {
    fn lists(&self) -> std::sync::MutexGuard<'_, HashMap<ListKey, ListState>> {
        self.lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts tracking `list`. `false`: not tracked (nothing asked for, already tracked, or
    /// [`MAX_TRACKED_LISTS`] reached), so the copies must not carry the route.
    pub fn track(&self, server: &Server, list: TrackedList) -> bool {
        let asked = list.asked;
        if !(asked.positive_delivery || asked.negative_delivery || asked.display) {
            return false;
        }
        self.insert(list, Instant::now() + lifetime(server))
    }

    /// Tracks `list` until `deadline` (a list read back from the store after a restart, or a new
    /// one); `false` when it is tracked already or [`MAX_TRACKED_LISTS`] are.
    pub fn insert(&self, list: TrackedList, deadline: Instant) -> bool {
        let key = ListKey {
            sender: address_key(&list.sender_uri),
            message_id: list.message_id,
        };
        let now = Instant::now();
        let mut lists = self.lists();
        lists.retain(|_, state| state.timer_running || state.deadline > now);
        if lists.len() >= MAX_TRACKED_LISTS || lists.contains_key(&key) {
            return false;
        }
        let recipients = list
            .listed
            .into_iter()
            .map(|l| {
                let recipient = Recipient {
                    uri: l.uri,
                    hidden: l.hidden,
                    delivered: false,
                    failed: false,
                    displayed: false,
                };
                (l.key, recipient)
            })
            .collect();
        lists.insert(
            key,
            ListState {
                sender_uri: list.sender_uri,
                date_time: list.date_time,
                asked: list.asked,
                recipients,
                documents: Vec::new(),
                waiting: Vec::new(),
                held: Vec::new(),
                timer_running: false,
                deadline,
            },
        );
        true
    }

    /// Whether the list a notification `body` is about is tracked now.
    pub fn tracks(&self, body: &[u8]) -> bool {
        list_key(body).is_some_and(|key| self.lists().contains_key(&key))
    }

    /// Records that the copies to `refused` (keys as in [`Listed`]) will never be delivered: a
    /// `<failed/>` document for each, when the sender asked for `negative-delivery`.
    pub fn refused(&self, server: &Arc<Server>, im: &Received<'_>, refused: &[String]) {
        let key = ListKey {
            sender: address_key(im.sender.uri),
            message_id: im.message_id.to_owned(),
        };
        let mut lists = self.lists();
        let Some(state) = lists.get_mut(&key) else {
            return;
        };
        for recipient_key in refused {
            let Some(recipient) = state.recipients.get_mut(recipient_key) else {
                continue;
            };
            recipient.failed = true;
            if !state.asked.negative_delivery {
                continue;
            }
            let failed = Imdn {
                message_id: XmlText::Plain(&key.message_id),
                datetime: XmlText::Plain(&state.date_time),
                recipient_uri: None,
                original_recipient_uri: None,
                subject: None,
                kind: NotificationKind::Delivery,
                status: Status::Failed,
            };
            if let Some(document) = document_for(&failed, recipient) {
                state.documents.push(document);
            }
        }
        self.schedule(server, &mut lists, key);
    }

    /// Adds the notification `body` (a `message/cpim` IMDN) sent by the tracked recipient
    /// `recipient_key` to its list's batch. `None` when its list is not tracked or the recipient is
    /// not on it; else the receiver of the batch's outcome (delivered or stored for the sender).
    pub fn accept(
        &self,
        server: &Arc<Server>,
        recipient_key: &str,
        body: &[u8],
    ) -> Option<oneshot::Receiver<bool>> {
        let (done, outcome) = oneshot::channel();
        self.join(server, recipient_key, body, Joining::Request(done))
            .then_some(outcome)
    }

    /// The notification the exploder would send for a batch holding only `body` from the tracked
    /// recipient `recipient_key` (the recipient named as the list names it): the form in which a
    /// notification of the Deferred Messaging function is held. `None` when not tracked.
    pub fn alone(&self, server: &Server, recipient_key: &str, body: &[u8]) -> Option<Notification> {
        let notification = cpim::Message::parse(body).ok()?;
        let document = Imdn::parse(notification.body()).ok()?;
        let key = list_key(body)?;
        let lists = self.lists();
        let state = lists.get(&key)?;
        let batch = Batch {
            sender_uri: state.sender_uri.clone(),
            documents: vec![document_for(&document, state.recipients.get(recipient_key)?)?],
            waiting: Vec::new(),
            held: Vec::new(),
        };
        aggregated(server, &batch)
    }

    /// The held row `id` reached the sender on its own (pushed from the queue at a registration
    /// inside the window): its document leaves the batch waiting for it, so it arrives once.
    pub fn delivered_alone(&self, id: DeferredId) {
        for state in self.lists().values_mut() {
            state.held.retain(|(held, _)| *held != id);
        }
    }

    /// [`Aggregator::accept`] for a notification of the Deferred Messaging function already held in
    /// the sender's queue as `held` (see the module docs); `false` when its list is not tracked.
    pub fn accept_held(
        &self,
        server: &Arc<Server>,
        recipient_key: &str,
        body: &[u8],
        held: DeferredId,
    ) -> bool {
        self.join(server, recipient_key, body, Joining::Held(held))
    }

    fn join(&self, server: &Arc<Server>, recipient_key: &str, body: &[u8], joining: Joining) -> bool {
        let Ok(notification) = cpim::Message::parse(body) else {
            return false;
        };
        let Ok(document) = Imdn::parse(notification.body()) else {
            return false;
        };
        let Some(key) = list_key(body) else {
            return false;
        };
        let mut lists = self.lists();
        let Some(state) = lists.get_mut(&key) else {
            return false;
        };
        let Some(recipient) = state.recipients.get_mut(recipient_key) else {
            return false;
        };
        match (document.kind, document.status) {
            (NotificationKind::Delivery, Status::Delivered) => recipient.delivered = true,
            (NotificationKind::Delivery, _) => recipient.failed = true,
            (NotificationKind::Display, _) => recipient.displayed = true,
            (NotificationKind::Processing, _) => {}
        }
        let Some(rewritten) = document_for(&document, recipient) else {
            return false;
        };
        match joining {
            Joining::Request(done) => {
                state.documents.push(rewritten);
                state.waiting.push(done);
            }
            Joining::Held(id) => state.held.push((id, rewritten)),
        }
        self.schedule(server, &mut lists, key);
        true
    }

    /// Sends the list's batch now when every recipient finished (forgetting the list), or starts
    /// the batch timer when it is idle.
    fn schedule(&self, server: &Arc<Server>, lists: &mut HashMap<ListKey, ListState>, key: ListKey) {
        let Some(state) = lists.get_mut(&key) else {
            return;
        };
        if state.finished() {
            let batch = state.take_batch();
            if !state.timer_running {
                lists.remove(&key);
                super::tracked_lists::forget(server, &key.sender, &key.message_id);
            }
            tokio::spawn(flush(server.clone(), batch));
            return;
        }
        if state.timer_running || (state.documents.is_empty() && state.held.is_empty()) {
            return;
        }
        state.timer_running = true;
        let server = server.clone();
        tokio::spawn(async move {
            tokio::time::sleep(server.config.limits.imdn_aggregation()).await;
            let batch = {
                let mut lists = server.aggregate.lists();
                let Some(state) = lists.get_mut(&key) else {
                    return;
                };
                state.timer_running = false;
                let batch = state.take_batch();
                if state.finished() {
                    lists.remove(&key);
                    super::tracked_lists::forget(&server, &key.sender, &key.message_id);
                }
                batch
            };
            flush(server, batch).await;
        });
    }
}

/// How long a list is tracked: while a stored copy can still report, plus two batch windows.
pub fn lifetime(server: &Server) -> std::time::Duration {
    let limits = &server.config.limits;
    limits.deferred_expiry() + server.options.expiry_interval + 2 * limits.imdn_aggregation()
}

/// The list a notification `body` is about: its IMDN document's Message-ID and its CPIM To (the IM's
/// sender).
fn list_key(body: &[u8]) -> Option<ListKey> {
    let notification = cpim::Message::parse(body).ok()?;
    let document = Imdn::parse(notification.body()).ok()?;
    let im_sender = notification.get(cpim::CPIM_NS, "To")?.value;
    Some(ListKey {
        sender: address_key(im_sender),
        message_id: document.message_id.as_held().to_owned(),
    })
}

/// `document` re-written to name `recipient` as the exploder knows it (nobody when hidden).
fn document_for(document: &Imdn<'_>, recipient: &Recipient) -> Option<Vec<u8>> {
    let named = Imdn {
        recipient_uri: (!recipient.hidden).then_some(XmlText::Plain(&recipient.uri)),
        original_recipient_uri: if recipient.hidden {
            None
        } else {
            document.original_recipient_uri
        },
        ..*document
    };
    let mut out = vec![0u8; DOCUMENT_BYTES];
    let len = named.write(&mut out).ok()?;
    out.truncate(len);
    Some(out)
}

/// Sends the batch to the IM's sender (aggregated when it holds more than one document) and tells
/// every waiting recipient request whether it was delivered or stored. Once it was, the held rows
/// it replaces leave the sender's queue; otherwise they stay there for the sender's next registration.
async fn flush(server: Arc<Server>, batch: Batch) {
    let outcome = match aggregated(&server, &batch) {
        Some(notification) => imdn::send(&server, &notification).await,
        None => batch.documents.is_empty(),
    };
    if outcome {
        for held in &batch.held {
            let _ = server.store.delivered(*held).await;
        }
    }
    for waiting in batch.waiting {
        let _ = waiting.send(outcome);
    }
}

/// The notification carrying the batch, or `None` when it is empty or the sender is not ours.
fn aggregated(server: &Server, batch: &Batch) -> Option<Notification> {
    let (first, rest) = batch.documents.split_first()?;
    let key = address_key(&batch.sender_uri);
    let (user, host) = key.split_once('@')?;
    if !server.is_local(host) {
        return None;
    }
    let exploder = exploder_uri(server);
    let message_id = rng::token(16);
    let boundary = format!("imdn-{}", rng::token(12));
    let (content_type, content) = if rest.is_empty() {
        ("message/imdn+xml".to_owned(), first.clone())
    } else {
        let mut content = Vec::new();
        for document in &batch.documents {
            content.extend_from_slice(
                format!("--{boundary}\r\nContent-Type: message/imdn+xml\r\n\r\n").as_bytes(),
            );
            content.extend_from_slice(document);
            content.extend_from_slice(b"\r\n");
        }
        content.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (format!("multipart/mixed;boundary=\"{boundary}\""), content)
    };
    let now = crate::users::format_utc(crate::store::UnixMillis::now());
    let mut body = format!(
        "From: <{exploder}>\r\nTo: <{sender}>\r\nNS: imdn <{IMDN_NS}>\r\nimdn.Message-ID: {message_id}\r\n\
         DateTime: {now}\r\n\r\nContent-Type: {content_type}\r\nContent-Disposition: notification\r\n\
         Content-Length: {len}\r\n\r\n",
        sender = batch.sender_uri,
        len = content.len(),
    )
    .into_bytes();
    body.extend_from_slice(&content);
    Some(Notification {
        user: user.to_owned(),
        destination: batch.sender_uri.clone(),
        from_uri: exploder,
        message_id,
        body,
        im_sender: batch.sender_uri.clone(),
    })
}
