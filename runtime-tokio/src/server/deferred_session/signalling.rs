//! The SIP side of the sessions the function originates: an INVITE client transaction per push
//! (the core's [`ClientInvite`], driven here), and the requests of our own dialogs (INVITE, ACK for
//! a 2xx, BYE).

use super::super::invite::route;
use super::super::sip::SipMessage;
use super::super::transport::Flow;
use super::super::{proxy, rng, Server};
use super::lock;
use bytes::Bytes;
use simple_im_core::sip::transaction::{
    ClientInvite, Event, Output, Reliability, TimerConfig, TransactionKey,
};
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What an INVITE of ours hears.
pub(crate) enum Answer {
    /// A final response (2xx or error).
    Final(SipMessage),
    /// No final response: timeout or transport failure.
    Failed,
}

struct Entry {
    machine: ClientInvite<Bytes>,
    flow: Flow,
    invite: SipMessage,
    answers: mpsc::UnboundedSender<Answer>,
}

/// Our INVITE client transactions.
#[derive(Default)]
pub(super) struct Outgoing {
    table: Mutex<HashMap<TransactionKey, Entry>>,
}

/// Sends `invite` (whose top Via carries `branch`) on `flow` through a new INVITE client transaction.
pub(crate) fn send_invite(
    server: &Arc<Server>,
    flow: Flow,
    branch: &str,
    bytes: Bytes,
) -> Option<mpsc::UnboundedReceiver<Answer>> {
    let key = TransactionKey::client(branch, "INVITE").ok()?;
    let invite = SipMessage::parse(bytes.clone(), flow.is_reliable()).ok()?;
    let reliability = if flow.is_reliable() {
        Reliability::Reliable
    } else {
        Reliability::Unreliable
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let machine = ClientInvite::new(
        server.transactions.now(),
        TimerConfig::default(),
        reliability,
        bytes,
    );
    let mut table = lock(&server.deferred_sessions.invites.table);
    table.insert(
        key.clone(),
        Entry {
            machine,
            flow,
            invite,
            answers: tx,
        },
    );
    drain(server, &mut table, &key, None);
    Some(rx)
}

/// Matches a response to one of our INVITEs; gives it back when it is not for us.
pub fn response(server: &Arc<Server>, msg: SipMessage) -> Option<SipMessage> {
    if msg.cseq_method() != Some("INVITE") {
        return Some(msg);
    }
    let Some(key) = msg
        .top_via()
        .and_then(|v| v.branch)
        .and_then(|b| TransactionKey::client(b, "INVITE").ok())
    else {
        return Some(msg);
    };
    let mut table = lock(&server.deferred_sessions.invites.table);
    let Some(entry) = table.get_mut(&key) else {
        return Some(msg);
    };
    entry
        .machine
        .handle_response(server.transactions.now(), msg.status().unwrap_or(500));
    drain(server, &mut table, &key, Some(&msg));
    None
}

fn drain(
    server: &Arc<Server>,
    table: &mut HashMap<TransactionKey, Entry>,
    key: &TransactionKey,
    response: Option<&SipMessage>,
) {
    let Some(entry) = table.get_mut(key) else { return };
    let transports = server.transactions.transports();
    let mut terminated = false;
    while let Some(output) = entry.machine.poll_output() {
        match output {
            Output::Transmit(bytes) => {
                if transports
                    .send(&entry.flow, Bytes::copy_from_slice(bytes))
                    .is_err()
                {
                    let _ = entry.answers.send(Answer::Failed);
                }
            }
            Output::SendAck { .. } => {
                if let Some(ack) = response.and_then(|r| route::ack_for(&entry.invite, r)) {
                    let _ = transports.send(&entry.flow, ack);
                }
            }
            Output::Event(Event::FinalReceived(_)) => {
                if let Some(response) = response {
                    let _ = entry.answers.send(Answer::Final(response.clone()));
                }
            }
            Output::Event(Event::TimedOut | Event::TransportError) => {
                let _ = entry.answers.send(Answer::Failed);
            }
            Output::Event(Event::Terminated) => terminated = true,
            Output::Event(_) => {}
        }
    }
    if terminated {
        table.remove(key);
    } else if let Some(deadline) = entry.machine.poll_timeout() {
        let wait = deadline
            .as_millis()
            .saturating_sub(server.transactions.now().as_millis());
        let server = Arc::downgrade(server);
        let key = key.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            let Some(server) = server.upgrade() else { return };
            let mut table = lock(&server.deferred_sessions.invites.table);
            if let Some(entry) = table.get_mut(&key) {
                entry.machine.handle_timeout(server.transactions.now());
                drain(&server, &mut table, &key, None);
            }
        });
    }
}

/// Our end of a dialog we originated.
pub(crate) struct Dialog {
    pub call_id: String,
    /// Our From value, with our tag.
    pub local: String,
    /// Their To value (with their tag once answered).
    pub remote: String,
    /// Where in-dialog requests go (their Contact once answered).
    pub target: String,
    pub flow: Flow,
}

impl Dialog {
    /// A request of this dialog: its branch and bytes. `contact` is written for INVITE.
    pub fn request(
        &self,
        server: &Server,
        method: Method<'_>,
        cseq: u32,
        body: Option<(&str, &[u8])>,
    ) -> Option<(String, Bytes)> {
        let branch = proxy::new_branch();
        let local = server.transactions.transports().local_addr(&self.flow);
        let body_len = body.map_or(0, |(_, b)| b.len());
        let mut buf = vec![0u8; 2048 + self.local.len() + self.remote.len() + self.target.len() + body_len];
        let mut w = MessageWriter::request(&mut buf, method, &self.target).ok()?;
        let transport = self.flow.via_transport();
        w.header_fmt(
            HeaderName::Via,
            format_args!("SIP/2.0/{transport} {local};branch={branch}"),
        )
        .ok()?;
        w.header(HeaderName::MaxForwards, "70").ok()?;
        w.header(HeaderName::From, &self.local).ok()?;
        w.header(HeaderName::To, &self.remote).ok()?;
        w.header(HeaderName::CallId, &self.call_id).ok()?;
        w.header_fmt(HeaderName::CSeq, format_args!("{cseq} {}", method.as_str()))
            .ok()?;
        if method == Method::Invite {
            w.header_fmt(
                HeaderName::Contact,
                format_args!("<{}>", contact(server, &self.flow)),
            )
            .ok()?;
        }
        let len = match body {
            Some((content_type, bytes)) => {
                w.header(HeaderName::ContentType, content_type).ok()?;
                w.finish(bytes).ok()?
            }
            None => w.finish(b"").ok()?,
        };
        buf.truncate(len);
        Some((branch, Bytes::from(buf)))
    }
}

/// Our Contact on `flow` (the function is reached at the SIP address the peer already talks to).
pub(super) fn contact(server: &Server, flow: &Flow) -> String {
    let local = server.transactions.transports().local_addr(flow);
    if flow.is_reliable() {
        format!("sip:deferred@{local};transport=tcp")
    } else {
        format!("sip:deferred@{local}")
    }
}

/// A fresh dialog toward `target` on `flow`, from `from_uri` to `to_uri`.
pub(crate) fn new_dialog(server: &Server, from_uri: &str, to_uri: &str, target: &str, flow: Flow) -> Dialog {
    Dialog {
        call_id: format!("{}@{}", rng::token(12), server.config.domain),
        local: format!("<{from_uri}>;tag={}", rng::token(6)),
        remote: format!("<{to_uri}>"),
        target: target.to_owned(),
        flow,
    }
}
