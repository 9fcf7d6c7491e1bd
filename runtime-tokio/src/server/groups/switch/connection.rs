//! One participant's connection to the switch: binding it to its leg, reading whole messages
//! (chunks reassembled) and answering them, per the tables in the parent's module docs.

use super::{copy, lock, writer, Member, Reassembled, Switch, MAX_MESSAGE, QUEUE};
use crate::server::msrp::same_path;
use bytes::Bytes;
use simple_im_core::msrp::wire::builder::write_response;
use simple_im_core::msrp::wire::{parse_message, Continuation, Head, Message, Parsed, ReportRequest};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long a new connection may take to bind.
const BIND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn response(head: &Head<'_>, code: u16, comment: &str, from: &str) -> Option<Bytes> {
    let to = head.from_path()?.texts().next()?;
    let mut buf = vec![0u8; 512 + to.len() + from.len()];
    let len = write_response(&mut buf, head.transaction_id, code, Some(comment), to, from).ok()?;
    buf.truncate(len);
    Some(Bytes::from(buf))
}

/// Whether a SEND with this head may be answered with `code` (RFC 4975 §7.2).
fn answerable(head: &Head<'_>, code: u16) -> bool {
    match head.failure_report().ok().flatten().unwrap_or(ReportRequest::Yes) {
        ReportRequest::Yes => true,
        ReportRequest::Partial => code != 200,
        ReportRequest::No => false,
    }
}

/// What one connection does with each complete message.
enum Step {
    Continue,
    Close,
}

impl Switch {
    pub(super) async fn connection(self: Arc<Self>, stream: TcpStream) {
        let (mut read, write) = stream.into_split();
        let mut write = Some(write);
        let mut buf = Vec::with_capacity(4096);
        let mut member: Option<Arc<Member>> = None;
        let mut partial: HashMap<String, Vec<u8>> = HashMap::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            // Every complete message in the buffer first.
            loop {
                let (step, used) = match parse_message(&buf) {
                    Ok(Parsed::Complete(message, used)) => {
                        let step = match &member {
                            None => match self.wait_for_answer(&message.head).await.bind(&message.head) {
                                Ok(bound) => {
                                    let (tx, rx) = mpsc::channel(QUEUE);
                                    if let Some(write) = write.take() {
                                        let user = bound.user.clone();
                                        tokio::spawn(writer::write_queue(self.clone(), user, write, rx));
                                    }
                                    *lock(&bound.out) = Some(tx);
                                    member = Some(bound.clone());
                                    self.on_message(&bound, &message, &mut partial)
                                }
                                Err(answer) => {
                                    if let (Some(bytes), Some(write)) = (answer, write.as_mut()) {
                                        let _ = write.write_all(&bytes).await;
                                    }
                                    return;
                                }
                            },
                            Some(bound) => self.on_message(bound, &message, &mut partial),
                        };
                        (step, used)
                    }
                    Ok(Parsed::Partial) if buf.len() <= MAX_MESSAGE + 8192 => break,
                    _ => (Step::Close, 0),
                };
                if matches!(step, Step::Close) {
                    if let Some(m) = &member {
                        self.remove(m);
                    }
                    return;
                }
                buf.drain(..used);
            }
            let read_more = read.read(&mut chunk);
            let n = match &member {
                None => match tokio::time::timeout(BIND_TIMEOUT, read_more).await {
                    Ok(Ok(n)) => n,
                    _ => 0,
                },
                Some(m) => {
                    let gone = m.gone.notified();
                    tokio::pin!(gone);
                    gone.as_mut().enable();
                    if m.left.load(Ordering::Acquire) {
                        return;
                    }
                    tokio::select! {
                        n = read_more => n.unwrap_or(0),
                        _ = gone => return,
                    }
                }
            };
            if n == 0 {
                if let Some(m) = &member {
                    self.remove(m);
                }
                return;
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        }
    }

    /// Waits while the leg the head names is reserved (its participant has not answered the focus's
    /// INVITE yet: the connection may come first).
    async fn wait_for_answer(&self, head: &Head<'_>) -> &Self {
        let sid = head
            .to_path()
            .and_then(|p| p.first())
            .and_then(Result::ok)
            .and_then(|u| u.session_id);
        let Some(sid) = sid else { return self };
        let deadline = tokio::time::Instant::now() + BIND_TIMEOUT;
        loop {
            let joined = self.joined.notified();
            tokio::pin!(joined);
            joined.as_mut().enable();
            if !lock(&self.reserved).contains(sid) {
                return self;
            }
            if tokio::time::timeout_at(deadline, joined).await.is_err() {
                return self;
            }
        }
    }

    /// The binding table of the module docs: the bound member, or the answer to send before closing.
    fn bind(&self, head: &Head<'_>) -> Result<Arc<Member>, Option<Bytes>> {
        let named = head
            .to_path()
            .and_then(|p| p.texts().next())
            .unwrap_or("")
            .to_owned();
        let sid = head
            .to_path()
            .and_then(|p| p.first())
            .and_then(Result::ok)
            .and_then(|u| u.session_id.map(str::to_owned));
        let is_request = head.method().is_some();
        let refuse = |code: u16, comment: &str| {
            Err(is_request
                .then(|| response(head, code, comment, &named))
                .flatten())
        };
        let Some(member) = sid.and_then(|sid| lock(&self.legs).get(sid.as_str()).cloned()) else {
            return refuse(481, "Session Does Not Exist");
        };
        let from = head.from_path().map(|p| p.0.trim()).unwrap_or("");
        // A participant behind another server's relay (RFC 4976) has the path `relay-uri ... its
        // own`, and the relay binds with its own URI alone: that first hop must match.
        let first_hop = |path: &str| path.split_whitespace().next().unwrap_or("").to_owned();
        let through_relay = member.endpoint.split_whitespace().nth(1).is_some()
            && same_path(&first_hop(from), &first_hop(&member.endpoint));
        if !same_path(from, &member.endpoint) && !through_relay {
            return refuse(403, "Forbidden");
        }
        if lock(&member.out).is_some() {
            return refuse(506, "Session Already Bound");
        }
        Ok(member)
    }

    fn on_message(
        &self,
        member: &Arc<Member>,
        message: &Message<'_>,
        partial: &mut HashMap<String, Vec<u8>>,
    ) -> Step {
        let head = &message.head;
        if let Some(code) = head.status_code() {
            let Some(id) = copy::copy_id(head.transaction_id) else {
                return Step::Continue;
            };
            let failure = (!(200..300).contains(&code)).then_some((code, member.user.as_str()));
            let pending = lock(&member.pending).remove(&id);
            if let Some(delivery) = pending {
                self.answered(&delivery, failure);
            } else if let Some(failure) = failure {
                // A `partial` copy's refusal (a late or repeated answer to a `yes` copy finds
                // nothing): only for a message of the member's own room, once per member.
                let same_room =
                    |d: &super::Delivery| d.origin.upgrade().is_some_and(|o| o.group == member.group);
                let found = self.recent(id).filter(|d| same_room(d));
                if let Some(delivery) = found.filter(|d| d.first_refusal(member)) {
                    self.answered(&delivery, Some(failure));
                }
            }
            return Step::Continue;
        }
        let method = head.method().map(|m| m.as_str()).unwrap_or("");
        if method == "REPORT" {
            return Step::Continue;
        }
        let answer = |code: u16, comment: &str| {
            if method != "SEND" || answerable(head, code) {
                if let Some(bytes) = response(head, code, comment, &member.uri) {
                    member.queue(bytes);
                }
            }
        };
        if method != "SEND" {
            answer(501, "Not Implemented");
            return Step::Continue;
        }
        let to_ok = head
            .to_path()
            .map(|p| same_path(p.0.trim(), &member.uri))
            .unwrap_or(false);
        if !to_ok {
            answer(403, "Forbidden");
            return Step::Continue;
        }
        let message_id = head.message_id().unwrap_or("").to_owned();
        if message.body.is_empty()
            && message.continuation == Continuation::Complete
            && !partial.contains_key(&message_id)
        {
            answer(200, "OK");
            return Step::Continue;
        }
        let so_far = partial.entry(message_id.clone()).or_default();
        if so_far.len() + message.body.len() > MAX_MESSAGE {
            partial.remove(&message_id);
            answer(413, "Message Too Large");
            return Step::Continue;
        }
        so_far.extend_from_slice(message.body);
        answer(200, "OK");
        match message.continuation {
            Continuation::More => return Step::Continue,
            Continuation::Aborted => {
                partial.remove(&message_id);
                return Step::Continue;
            }
            Continuation::Complete => {}
        }
        let body = partial.remove(&message_id).unwrap_or_default();
        let whole = Reassembled {
            from_path: head
                .from_path()
                .map(|p| p.0.trim().to_owned())
                .unwrap_or_default(),
            message_id,
            content_type: head.content_type().unwrap_or("text/plain").to_owned(),
            body,
            success_report: head.success_report().ok().flatten() == Some(ReportRequest::Yes),
            failure_report: head.failure_report().ok().flatten().unwrap_or(ReportRequest::Yes),
        };
        self.replicate(member, whole);
        Step::Continue
    }
}
