//! The SIP side of the sessions the function originates: an INVITE client transaction per push
//! (the proxy's shared table, [`super::super::invite::client`], with a channel of [`Answer`]s as its
//! listener), and the requests of our own dialogs (INVITE, ACK for a 2xx, BYE).

use super::super::invite::client::{ClientInvites, Heard, Listener};
use super::super::sip::SipMessage;
use super::super::transport::Flow;
use super::super::{proxy, rng, Server};
use bytes::Bytes;
use simple_im_core::sip::transaction::TransactionKey;
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What an INVITE of ours hears.
pub(crate) enum Answer {
    /// A final response (2xx or error).
    Final(SipMessage),
    /// No final response: timeout or transport failure.
    Failed,
}

impl Listener for mpsc::UnboundedSender<Answer> {
    fn hear(&self, heard: Heard<'_>) {
        let answer = match heard {
            Heard::Provisional(_) => return,
            Heard::Final(response) => Answer::Final(response.clone()),
            Heard::Failed => Answer::Failed,
        };
        let _ = self.send(answer);
    }
}

/// Our INVITE client transactions.
pub(super) struct Outgoing {
    table: ClientInvites<mpsc::UnboundedSender<Answer>>,
}

impl Default for Outgoing {
    fn default() -> Self {
        Outgoing {
            table: ClientInvites::new(|server| &server.deferred_sessions.invites.table),
        }
    }
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
    let (tx, rx) = mpsc::unbounded_channel();
    server
        .deferred_sessions
        .invites
        .table
        .start(server, key, flow, invite, bytes, tx);
    Some(rx)
}

/// Matches a response to one of our INVITEs; gives it back when it is not for us.
pub fn response(server: &Arc<Server>, msg: SipMessage) -> Option<SipMessage> {
    server.deferred_sessions.invites.table.response(server, msg)
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
