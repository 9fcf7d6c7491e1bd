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
//! | notification for a list not tracked (restart, forgotten, not a listed recipient) | forwarded alone to the IM's sender |
//! | a list's deadline passed (deferred expiry plus a margin: no stored copy can still report) | forgotten |
//!
//! Each document in a batch names the recipient as the exploder knows it (the SIP-authenticated
//! sender of the notification, or the recipient of the stored copy), not as the recipient's client
//! wrote it; for a `bcc` or anonymised entry the recipient is removed (§8: list membership not
//! disclosed). A recipient's notification MESSAGE is answered only once the batch holding it was
//! delivered to the sender or stored for the sender (200), or could be neither (480): nothing this
//! server answered 200 for lives only in memory. The window is capped at 16 s to stay inside SIP's
//! 32 s transaction timeout. A notification the Deferred Messaging function generates does not
//! wait (the push of stored messages must not stall): a crash within the window loses it.

use crate::server::imdn::{self, Notification};
use crate::server::participating::address_key;
use crate::server::{reply, rng, Request, Server};
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
    timer_running: bool,
    deadline: Instant,
}

impl ListState {
    fn finished(&self) -> bool {
        self.recipients.values().all(|r| r.finished(self.asked))
    }

    fn take_batch(&mut self) -> Batch {
        Batch {
            sender_uri: self.sender_uri.clone(),
            documents: std::mem::take(&mut self.documents),
            waiting: std::mem::take(&mut self.waiting),
        }
    }
}

/// Documents on their way to the sender, with the recipients' requests waiting for the outcome.
struct Batch {
    sender_uri: String,
    documents: Vec<Vec<u8>>,
    waiting: Vec<oneshot::Sender<bool>>,
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

    /// Starts tracking the list IM `im` sent to `listed`. `false`: not tracked (nothing asked for,
    /// already tracked, or [`MAX_TRACKED_LISTS`] reached), so the copies must not carry the route.
    pub fn track(&self, server: &Server, im: &Received<'_>, listed: &[Listed]) -> bool {
        let asked = im.requested;
        if !(asked.positive_delivery || asked.negative_delivery || asked.display) {
            return false;
        }
        let key = ListKey {
            sender: address_key(im.sender.uri),
            message_id: im.message_id.to_owned(),
        };
        let now = Instant::now();
        let mut lists = self.lists();
        lists.retain(|_, state| state.timer_running || state.deadline > now);
        if lists.len() >= MAX_TRACKED_LISTS || lists.contains_key(&key) {
            return false;
        }
        let limits = &server.config.limits;
        let lifetime =
            limits.deferred_expiry() + server.options.expiry_interval + 2 * limits.imdn_aggregation();
        let recipients = listed
            .iter()
            .map(|l| {
                let recipient = Recipient {
                    uri: l.uri.clone(),
                    hidden: l.hidden,
                    delivered: false,
                    failed: false,
                    displayed: false,
                };
                (l.key.clone(), recipient)
            })
            .collect();
        lists.insert(
            key,
            ListState {
                sender_uri: im.sender.uri.to_owned(),
                date_time: im.date_time.to_owned(),
                asked,
                recipients,
                documents: Vec::new(),
                waiting: Vec::new(),
                timer_running: false,
                deadline: now + lifetime,
            },
        );
        true
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
        let notification = cpim::Message::parse(body).ok()?;
        let document = Imdn::parse(notification.body()).ok()?;
        let im_sender = notification.get(cpim::CPIM_NS, "To")?.value;
        let key = ListKey {
            sender: address_key(im_sender),
            message_id: document.message_id.as_held().to_owned(),
        };
        let mut lists = self.lists();
        let state = lists.get_mut(&key)?;
        let recipient = state.recipients.get_mut(recipient_key)?;
        match (document.kind, document.status) {
            (NotificationKind::Delivery, Status::Delivered) => recipient.delivered = true,
            (NotificationKind::Delivery, _) => recipient.failed = true,
            (NotificationKind::Display, _) => recipient.displayed = true,
            (NotificationKind::Processing, _) => {}
        }
        let rewritten = document_for(&document, recipient)?;
        state.documents.push(rewritten);
        let (done, outcome) = oneshot::channel();
        state.waiting.push(done);
        self.schedule(server, &mut lists, key);
        Some(outcome)
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
            }
            tokio::spawn(flush(server.clone(), batch));
            return;
        }
        if state.timer_running || state.documents.is_empty() {
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
                }
                batch
            };
            flush(server, batch).await;
        });
    }
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
/// every waiting recipient request whether it was delivered or stored.
async fn flush(server: Arc<Server>, batch: Batch) {
    let outcome = match aggregated(&server, &batch) {
        Some(notification) => imdn::send(&server, &notification).await,
        None => batch.documents.is_empty(),
    };
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
