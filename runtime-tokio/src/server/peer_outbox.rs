//! The durable outbound queue for MESSAGEs the server itself originates toward users of `[[peers]]`
//! domains: today the delivery notifications of stored messages whose senders are at another domain.
//!
//! Such a notification is a message the server accepted responsibility for, so it must not be lost
//! when the peer's server is down, nor when ours crashes before the peer took it. It is therefore
//! written to the store ([`Store::queue_peer_message`](crate::store::Store::queue_peer_message))
//! before the first attempt, and removed only when the peer answers for good:
//!
//! | the peer's answer | what happens to the row |
//! |---|---|
//! | 2xx | removed: delivered |
//! | none (connect failure, Timer F), 408, 480, 503, 500 with `Retry-After` | kept, next attempt after the backoff |
//! | any other final answer (3xx-6xx) | removed, logged with the code, charged `rejected` with it |
//! | its lifetime (`[limits] deferred_expiry_seconds`) is over | removed, logged, charged `expired` |
//! | its domain is no longer in `[[peers]]` (configuration changed) | removed, logged, charged `rejected` (status 0) |
//! | it cannot be built as a request (not expected) | removed, logged, charged `rejected` (status 0) |
//!
//! The backoff starts at [`FIRST_RETRY`] and doubles with every failed attempt up to [`MAX_BACKOFF`];
//! a `Retry-After` longer than that step is honoured (within the cap). Every attempt sends the same
//! body, so the same `imdn.Message-ID`: a receiver that got a copy whose 2xx was lost, or one sent
//! again after our crash, can de-duplicate it.
//!
//! ## Order and concurrency
//!
//! Each domain's messages go in the order they were queued: only a domain's oldest row (its head) is
//! ever attempted, and the next is sent once the head is gone. One task per domain with a due head
//! sends; [`run`] starts those tasks and sleeps until the soonest head falls due or something is
//! queued. So a dead peer delays only its own domain, and the pager path that queues a notification
//! waits for the store's commit only, never for the peer.
//!
//! At start-up [`run`] reads the queue and resumes it: whatever a previous run queued and did not
//! finish (including a crash between queueing and sending) is sent again.

use super::charging::{Event, Record};
use super::imdn::Notification;
use super::transaction::ClientFailure;
use super::Server;
use crate::store::{NewPeerMessage, PeerMessage, UnixMillis};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// The wait before the second attempt.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How long [`run`] waits before reading the queue again after the store failed to answer.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// The queue's in-memory side: which domains are being sent right now, and the sender's wake-up.
#[derive(Default)]
pub struct PeerOutbox {
    wake: Arc<Notify>,
    sending: Mutex<HashSet<String>>,
}

impl PeerOutbox {
    fn claim(&self, domain: &str) -> bool {
        let mut sending = self.sending.lock().unwrap_or_else(|e| e.into_inner());
        sending.insert(domain.to_owned())
    }

    fn release(&self, domain: &str) {
        let mut sending = self.sending.lock().unwrap_or_else(|e| e.into_inner());
        sending.remove(domain);
        // The domain's next row, and its retry time, are for `run` to look at.
        self.wake.notify_one();
    }
}

/// Queues `notification` for the server of the `[[peers]]` domain `domain`, durably, and wakes the
/// sender. `dedupe_key` names what it notifies, so that the notification rebuilt by a push repeated
/// after a crash (with a new Message-ID) is not queued twice. Returns whether it is queued (now or
/// by an earlier push); `false` only when the store failed.
pub async fn queue(server: &Server, domain: &str, notification: &Notification, dedupe_key: String) -> bool {
    let queued = UnixMillis::now();
    let lifetime = u64::try_from(server.config.limits.deferred_expiry().as_millis()).unwrap_or(u64::MAX);
    let row = NewPeerMessage {
        domain: domain.to_owned(),
        destination: notification.destination.clone(),
        from_uri: notification.from_uri.clone(),
        message_id: notification.message_id.clone(),
        dedupe_key,
        content_type: "message/cpim".into(),
        body: notification.body.clone(),
        queued,
        expires: queued.plus_millis(lifetime),
    };
    match server.store.queue_peer_message(row).await {
        Ok(_) => {
            server.peer_outbox.wake.notify_one();
            true
        }
        Err(e) => {
            eprintln!(
                "simple-im server: cannot queue the notification {} for {}: {e}",
                notification.message_id, notification.destination
            );
            false
        }
    }
}

/// The queue's sender, for the server's lifetime: resumes what the store holds, then sends each
/// domain's due head (see the module docs), sleeping in between.
pub async fn run(server: Weak<Server>) {
    loop {
        let Some(strong) = server.upgrade() else {
            return;
        };
        let wake = Arc::clone(&strong.peer_outbox.wake);
        let sleep = match strong.store.peer_message_heads().await {
            Ok(heads) => start_due(&strong, heads),
            Err(_) => STORE_RETRY,
        };
        drop(strong);
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Starts a sending task for each domain whose head is due and not being sent; how long until the
/// soonest head that is not due yet.
fn start_due(server: &Arc<Server>, heads: Vec<PeerMessage>) -> Duration {
    let now = UnixMillis::now();
    let mut sleep = MAX_BACKOFF;
    for head in heads {
        if head.next_attempt > now {
            sleep = sleep.min(Duration::from_millis(head.next_attempt.0 - now.0));
        } else if server.peer_outbox.claim(&head.message.domain) {
            tokio::spawn(send_domain(Arc::clone(server), head));
        }
    }
    sleep
}

/// Sends `head` and then the next rows of its domain in order, until the domain's queue is empty or
/// an attempt must be retried later.
async fn send_domain(server: Arc<Server>, head: PeerMessage) {
    let domain = head.message.domain.clone();
    let mut current = Some(head);
    while let Some(row) = current.take() {
        if !settle(&server, &row).await {
            break;
        }
        current = match server.store.peer_message_heads().await {
            Ok(heads) => heads.into_iter().find(|h| h.message.domain == domain),
            Err(_) => None,
        };
    }
    server.peer_outbox.release(&domain);
}

/// What one attempt came to.
enum Outcome {
    /// 2xx.
    Taken,
    /// A final answer that will not change (its code).
    Refused(u16),
    /// Its domain is no longer in `[[peers]]` (the configuration changed since it was queued).
    NotAPeer,
    /// It cannot be built as a SIP request (never expected of a row the server queued itself).
    Unsendable,
    /// Try again later, not before the given `Retry-After`, if any.
    Later(Option<Duration>),
}

/// Attempts `row` (unless its lifetime is over) and updates the store by the outcome; whether the
/// row is gone, so the domain's next row may go.
async fn settle(server: &Server, row: &PeerMessage) -> bool {
    let m = &row.message;
    let now = UnixMillis::now();
    let outcome = if now >= m.expires {
        None
    } else {
        Some(attempt(server, m).await)
    };
    let give_up = |event: Event, code: u16, why: &str| {
        eprintln!(
            "simple-im server: notification {} to {} dropped after {} attempts: {why}",
            m.message_id,
            m.destination,
            row.attempts + 1
        );
        server.charging.record(&Record {
            event,
            sender: &m.from_uri,
            recipient: &m.destination,
            size: m.body.len(),
            message_id: &m.message_id,
            status: code,
        });
    };
    match outcome {
        Some(Outcome::Taken) => {}
        Some(Outcome::NotAPeer) => give_up(Event::Rejected, 0, "its domain is no longer a peer"),
        Some(Outcome::Unsendable) => give_up(Event::Rejected, 0, "it cannot be built as a SIP request"),
        Some(Outcome::Refused(code)) => give_up(Event::Rejected, code, &format!("the peer answered {code}")),
        None => give_up(Event::Expired, 0, "its lifetime is over"),
        Some(Outcome::Later(retry_after)) => {
            let attempts = row.attempts.saturating_add(1);
            let wait = backoff(attempts)
                .max(retry_after.unwrap_or_default())
                .min(MAX_BACKOFF);
            let next = now.plus_millis(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
            if next < m.expires {
                // Should the store fail, the row stays due and `run` tries it again after its pause.
                let _ = server.store.peer_message_retry(row.id, attempts, next).await;
                return false;
            }
            give_up(Event::Expired, 0, "its lifetime ends before the next attempt");
        }
    }
    // A store failure here leaves the row queued: it is sent again (same Message-ID) later.
    server.store.peer_message_done(row.id).await.is_ok()
}

/// The wait after the `attempts`-th failed attempt: [`FIRST_RETRY`] doubled per attempt, capped.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// One attempt at sending `m` to its domain's server.
async fn attempt(server: &Server, m: &NewPeerMessage) -> Outcome {
    let Some(peer) = server.config.peer_for(&m.domain) else {
        return Outcome::NotAPeer;
    };
    let Some(flow) = super::pager::peer_flow(server, peer).await else {
        return Outcome::Later(None);
    };
    let binding = super::location::Binding {
        uri: m.destination.clone(),
        flow,
        expires_at: std::time::Instant::now(),
        call_id: String::new(),
        cseq: 0,
    };
    let answer = super::imdn::originate_message(
        server,
        &binding,
        &m.from_uri,
        &m.destination,
        &m.content_type,
        &m.body,
    )
    .await;
    let response = match answer {
        Ok(response) => response,
        Err(ClientFailure::Timeout | ClientFailure::Transport) => return Outcome::Later(None),
        Err(ClientFailure::BadRequest) => return Outcome::Unsendable,
    };
    let code = response.status().unwrap_or(500);
    let retry_after = response
        .headers()
        .find(|(name, _)| name.eq_ignore_ascii_case("Retry-After"))
        .and_then(|(_, value)| value.split([';', '(', ' ']).next()?.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match code {
        200..=299 => Outcome::Taken,
        408 | 480 | 503 => Outcome::Later(retry_after),
        500 if retry_after.is_some() => Outcome::Later(retry_after),
        _ => Outcome::Refused(code),
    }
}
