//! Accepting a session for a user with no contact: the SDP answer, then every MSRP message of the
//! session stored durably before the session's 200 and success REPORT for it are written (see the
//! table in the module docs of the parent).

use super::super::charging::{Event as Charge, Record};
use super::super::rng::OsRng;
use super::super::sip::SipMessage;
use super::super::transport::Flow;
use super::super::{participating, reply, system, Server};
use super::pump::{Gather, NoBody, Pump, CHUNK_SIZE};
use super::signalling::contact;
use super::{Handover, SdpHost};
use crate::store::{Enqueued, NewDeferred, UnixMillis};
use bytes::Bytes;
use simple_im_core::cpim;
use simple_im_core::msrp::session::{Event, Session, SessionConfig, Setup};
use simple_im_core::sdp::offer_answer::{negotiate, LocalCaps, Role};
use std::sync::Arc;
use tokio::sync::oneshot;

/// How long the sender has to connect after our 200.
pub(super) const CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a dialog whose MSRP connection ended still answers the sender's BYE.
const DIALOG_LINGER: std::time::Duration = std::time::Duration::from_secs(300);

/// What we accept in a stored session: any message type (the recipient's client decides later).
const ACCEPT_TYPES: &[&str] = &["*"];
const ACCEPT_WRAPPED_TYPES: &[&str] = &["*"];

/// Who a stored session is from and for.
struct Parties {
    sender: String,
    recipient: String,
    /// Prefix of the upload keys of this session's large messages (our session-id: unique).
    uploads: String,
}

impl Parties {
    fn upload(&self, msrp_id: &str) -> String {
        format!("{}/{msrp_id}", self.uploads)
    }
}

/// The Deferred Messaging function's answer to an INVITE for `recipient`, who has no contact: a
/// 200 with our SDP answer (the session is then served in its own task), or a 488 when the offer
/// holds nothing we store. `None` when the response cannot be built.
pub async fn answer(
    server: &Arc<Server>,
    msg: &SipMessage,
    flow: &Flow,
    recipient: &str,
) -> Option<(u16, Bytes)> {
    let reject = |code: u16, reason: &str| {
        reply::build(msg, Some(flow.peer()), code, reason, &[], None).map(|b| (code, b))
    };
    // Without an MSRP offer there is nothing to store: the user is simply not reachable now.
    let offer = simple_im_core::sdp::Session::parse(msg.body())
        .ok()
        .filter(|offer| offer.msrp_media().is_some());
    let Some(offer) = offer else {
        return reject(
            480,
            "Temporarily Unavailable (not registered; only MSRP message sessions are stored)",
        );
    };
    let Some(sender) = msg.from().map(|f| f.uri_text.to_owned()) else {
        return reject(400, "Bad Request (no From)");
    };
    // The recipient's lists hold for what is stored on their behalf as for what reaches them.
    let policy = server.store.policy(recipient).await.unwrap_or_default();
    if let Err(refusal) = participating::check_sender(&policy, &sender) {
        return reject(refusal.code, &refusal.reason);
    }
    let sessions = &server.deferred_sessions;
    let (id, uri) = sessions.new_uri();
    let path = [uri.as_str()];
    let max_size = server.config.limits.quota_bytes;
    let local = LocalCaps {
        accept_types: ACCEPT_TYPES,
        accept_wrapped_types: ACCEPT_WRAPPED_TYPES,
        path: &path,
        port: sessions.msrp_addr.port(),
        max_size: Some(max_size),
        prefer_passive: true,
        accept_file_transfer: false,
    };
    let negotiated = match negotiate(&offer, &local) {
        Ok(negotiated) => negotiated,
        Err(e) => return reject(488, &format!("Not Acceptable Here (user offline: {e})")),
    };
    let remote_path: Vec<&str> = offer
        .media()
        .nth(negotiated.media_index)
        .map(|m| m.path().collect())
        .unwrap_or_default();
    let remote_path = remote_path.join(" ");
    let host = SdpHost::new(sessions.msrp_addr);
    let mut sdp = vec![0u8; 4096];
    let len = negotiated
        .write_answer(&offer, &local, &host.origin(), Some(&host.connection()), &mut sdp)
        .ok()?;
    sdp.truncate(len);
    let config = SessionConfig {
        chunk_size: CHUNK_SIZE,
        max_message_size: Some(max_size),
        ..SessionConfig::default()
    };
    let setup = match negotiated.role {
        Role::Passive => Setup::Passive,
        Role::Active => Setup::Active,
    };
    let Ok(session) = Session::new(config, &uri, &remote_path, setup, &mut OsRng) else {
        return reject(488, "Not Acceptable Here (the offer's a=path is not usable)");
    };
    let connected = match negotiated.role {
        Role::Passive => Connect::Wait(sessions.expect_connection(&id)),
        Role::Active => Connect::Dial(remote_path.clone()),
    };
    let ended = sessions.open_dialog(msg.call_id());
    let headers = [("Contact", format!("<{}>", contact(server, flow)))];
    let Some(ok) = reply::build(
        msg,
        Some(flow.peer()),
        200,
        "OK",
        &headers,
        Some(("application/sdp", &sdp)),
    ) else {
        sessions.forget_connection(&id);
        sessions.close_dialog(msg.call_id());
        return None;
    };
    let parties = Parties {
        sender,
        recipient: recipient.to_owned(),
        uploads: id.clone(),
    };
    super::keep_2xx_alive(server, msg.call_id(), *flow, ok.clone());
    let server = server.clone();
    let call_id = msg.call_id().to_owned();
    tokio::spawn(async move {
        if let Some(pump) = connected.establish(session).await {
            serve(&server, pump, &parties, ended).await;
        }
        server.deferred_sessions.forget_connection(&id);
        // The connection can end before the sender's BYE comes: keep answering it for a while.
        let server = Arc::downgrade(&server);
        tokio::time::sleep(DIALOG_LINGER).await;
        if let Some(server) = server.upgrade() {
            server.deferred_sessions.close_dialog(&call_id);
        }
    });
    Some((200, ok))
}

/// How the MSRP connection comes about.
pub(super) enum Connect {
    /// The peer connects to our listener.
    Wait(oneshot::Receiver<Handover>),
    /// We connect to the last URI of this path.
    Dial(String),
}

impl Connect {
    /// The connection, driven for `session`; `None` when it never came.
    pub(super) async fn establish(self, session: Session) -> Option<Pump> {
        match self {
            Connect::Wait(handover) => {
                let (stream, read) = tokio::time::timeout(CONNECT_WAIT, handover).await.ok()?.ok()?;
                Some(Pump::new(stream, session, read))
            }
            Connect::Dial(path) => {
                let last = path.split_whitespace().last()?;
                let uri = simple_im_core::msrp::MsrpUri::parse(last).ok()?;
                let authority = format!("{}:{}", uri.host, uri.port?);
                let connect = tokio::net::TcpStream::connect(authority);
                let stream = tokio::time::timeout(CONNECT_WAIT, connect).await.ok()?.ok()?;
                Some(Pump::new(stream, session, Vec::new()))
            }
        }
    }
}

/// Serves the sender's session until BYE or the connection ends.
async fn serve(server: &Arc<Server>, mut pump: Pump, parties: &Parties, mut ended: oneshot::Receiver<()>) {
    let mut sink = Gather::new(server.config.limits.quota_bytes);
    let mut types = std::collections::HashMap::new();
    let mut told = false;
    'session: loop {
        loop {
            let Ok(consumed) = pump.feed(&mut sink) else {
                break 'session;
            };
            // Bytes beyond a message's first ones go to the store before anything else happens, so
            // a message is complete in the store by the time its last chunk is seen.
            for (id, offset, bytes) in std::mem::take(&mut sink.spill) {
                let staged = server
                    .store
                    .stage_session_part(&parties.upload(&id), offset, bytes);
                if staged.await.is_err() {
                    break 'session;
                }
            }
            while let Some(event) = pump.session.poll_event() {
                match event {
                    Event::IncomingMessage { id, content_type, .. } => {
                        types.insert(id.as_str().to_owned(), content_type.as_str().to_owned());
                    }
                    Event::MessageReceived { id, len } => {
                        let (head, spilled) = sink.forget(id.as_str());
                        let content_type = types.remove(id.as_str()).unwrap_or_else(|| "text/plain".into());
                        let received = Received {
                            msrp_id: id.as_str(),
                            content_type,
                            head,
                            total: spilled.then_some(len),
                        };
                        match store(server, parties, received).await {
                            // Not stored: the 200 must not go out. Closing tells the sender.
                            None => break 'session,
                            Some(Enqueued::Stored(_)) if !told => {
                                // One notice per session, not per message (a chat is many).
                                told = true;
                                system::message_stored(server, &parties.sender, &parties.recipient);
                            }
                            Some(_) => {}
                        }
                    }
                    Event::MessageAborted { id, .. } => {
                        // Staged parts of it, if any, are collected by the expiry loop.
                        sink.forget(id.as_str());
                        types.remove(id.as_str());
                    }
                    _ => {}
                }
            }
            if pump.flush(&mut NoBody).await.is_err() {
                break 'session;
            }
            if consumed == 0 {
                break;
            }
        }
        tokio::select! {
            more = pump.read_more() => {
                if !matches!(more, Ok(true)) {
                    break;
                }
            }
            _ = &mut ended => break,
        }
    }
    pump.close().await;
}

/// A message received in full: its first bytes, and its total size when the rest was staged.
struct Received<'a> {
    msrp_id: &'a str,
    content_type: String,
    head: Vec<u8>,
    total: Option<u64>,
}

/// Stores one received message; `None` when the store did not take it.
async fn store(server: &Arc<Server>, parties: &Parties, received: Received<'_>) -> Option<Enqueued> {
    let Received {
        msrp_id,
        content_type,
        head,
        total,
    } = received;
    let is_cpim = content_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("message/cpim");
    // The CPIM headers are at the start: the first bytes hold them.
    let message_id = is_cpim
        .then(|| cpim::Message::parse(&head).ok())
        .flatten()
        .and_then(|m| m.get(cpim::IMDN_NS, "Message-ID").map(|h| h.value.to_owned()))
        .unwrap_or_else(|| msrp_id.to_owned());
    let now = UnixMillis::now();
    let expiry = u64::try_from(server.config.limits.deferred_expiry().as_millis()).unwrap_or(u64::MAX);
    let size = total.map_or(head.len(), |t| usize::try_from(t).unwrap_or(usize::MAX));
    let message = NewDeferred {
        recipient: parties.recipient.clone(),
        sender: parties.sender.clone(),
        message_id: message_id.clone(),
        content_type,
        date: None,
        cpim: is_cpim,
        extra_headers: Vec::new(),
        body: head,
        submitted: now,
        expires: now.plus_millis(expiry),
    };
    let quota = server.config.limits.quota();
    let stored = match total {
        Some(total) => {
            let upload = parties.upload(msrp_id);
            server
                .store
                .enqueue_session_staged(message, &upload, total, quota)
                .await
        }
        None => server.store.enqueue_session(message, quota).await,
    };
    match stored {
        Ok(outcome) => {
            if let Enqueued::Stored(_) = outcome {
                server.charging.record(&Record {
                    event: Charge::Deferred,
                    sender: &parties.sender,
                    recipient: &parties.recipient,
                    size,
                    message_id: &message_id,
                    status: 200,
                });
            }
            Some(outcome)
        }
        Err(_) => None,
    }
}
