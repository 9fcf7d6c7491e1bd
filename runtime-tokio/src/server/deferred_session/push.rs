//! Pushing stored session-mode messages to a user who registered: one session per sender, the
//! messages in the order they were accepted, each removed only after the recipient's success REPORT
//! (see the table in the parent's module docs).

use super::super::charging::{Event as Charge, Record};
use super::super::rng::OsRng;
use super::super::sip::SipMessage;
use super::super::Server;
use super::accept::Connect;
use super::pump::{Gather, Pump, Window, CHUNK_SIZE, IN_MEMORY};
use super::signalling::{new_dialog, send_invite, Answer, Dialog};
use super::{lock, DeferredSessions, SdpHost};
use crate::store::{DeferredMessage, UnixMillis};
use simple_im_core::msrp::session::{Event, Session, SessionConfig, Setup};
use simple_im_core::msrp::wire::ReportRequest;
use simple_im_core::sdp::builder::{MsrpMediaDesc, SessionDesc};
use simple_im_core::sdp::offer_answer::{check_answer, Role};
use simple_im_core::sip::header::NameAddr;
use simple_im_core::sip::{HeaderName, Method};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::oneshot;

/// How many pending messages one pass reads.
const PUSH_BATCH: usize = 64;
/// How long the recipient has to answer our INVITE (Timer B ends it sooner when nothing answers).
const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(64);
/// How long one message may take to be reported delivered.
const DELIVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Pushes `user`'s stored session-mode messages to their newest contact. A registration during a
/// push asks for another pass instead of a second push.
pub async fn deliver(server: &Arc<Server>, user: &str) {
    let sessions = &server.deferred_sessions;
    {
        let mut busy = lock(&sessions.busy);
        if let Some(again) = busy.get_mut(user) {
            *again = true;
            return;
        }
        busy.insert(user.to_owned(), false);
    }
    loop {
        let pending = server
            .store
            .pending_session(user, PUSH_BATCH)
            .await
            .unwrap_or_default();
        let delivered_all = match pending.first() {
            None => false,
            Some(first) => {
                let batch: Vec<&DeferredMessage> = pending
                    .iter()
                    .filter(|m| m.message.sender == first.message.sender)
                    .collect();
                push_session(server, user, &batch).await
            }
        };
        let mut busy = lock(&sessions.busy);
        let again = busy.get(user).copied().unwrap_or(false);
        if !delivered_all && !again {
            busy.remove(user);
            return;
        }
        busy.insert(user.to_owned(), false);
    }
}

/// One session to `user` carrying `messages` (all from one sender); `true` when every one of them
/// was reported delivered.
async fn push_session(server: &Arc<Server>, user: &str, messages: &[&DeferredMessage]) -> bool {
    let Some(first) = messages.first() else {
        return true;
    };
    let Some(binding) = server.location.lookup(user).pop() else {
        return false;
    };
    let sessions = &server.deferred_sessions;
    let (id, uri) = sessions.new_uri();
    let Some(offer) = offer_sdp(sessions, &uri) else {
        return false;
    };
    let to_uri = format!("sip:{user}@{}", server.config.domain);
    let mut dialog = new_dialog(server, &first.message.sender, &to_uri, &binding.uri, binding.flow);
    let handover = sessions.expect_connection(&id);
    let Some((answer, retransmissions)) = invite(server, &dialog, &offer).await else {
        sessions.forget_connection(&id);
        return false;
    };
    let ended = sessions.open_dialog(&dialog.call_id);
    confirm(server, &mut dialog, &answer, retransmissions);
    let delivered = match session_for(&offer, &answer, &uri, handover) {
        Some((session, connect)) => match connect.establish(session).await {
            Some(pump) => send_all(server, pump, messages, ended).await,
            None => false,
        },
        None => false,
    };
    sessions.forget_connection(&id);
    sessions.close_dialog(&dialog.call_id);
    bye(server, &dialog).await;
    delivered
}

/// Our SDP offer: one MSRP stream at our URI, `a=setup:actpass`.
fn offer_sdp(sessions: &DeferredSessions, uri: &str) -> Option<Vec<u8>> {
    let host = SdpHost::new(sessions.msrp_addr);
    let path = [uri];
    let media = [MsrpMediaDesc {
        port: sessions.msrp_addr.port(),
        tls: false,
        title: None,
        direction: None,
        accept_types: &["*"],
        accept_wrapped_types: &[],
        path: &path,
        max_size: None,
        setup: Some(simple_im_core::sdp::attrs::Setup::ActPass),
        file: None,
    }];
    let desc = SessionDesc {
        origin: host.origin(),
        session_name: "-",
        connection: Some(host.connection()),
        media: &media,
    };
    let mut buf = vec![0u8; 2048];
    let len = desc.write(&mut buf).ok()?;
    buf.truncate(len);
    Some(buf)
}

/// Sends the INVITE and waits for its final response; the 2xx, or `None`.
/// The 2xx with the channel that hears its retransmissions, or `None`.
async fn invite(
    server: &Arc<Server>,
    dialog: &Dialog,
    offer: &[u8],
) -> Option<(SipMessage, UnboundedReceiver<Answer>)> {
    let (branch, bytes) = dialog.request(server, Method::Invite, 1, Some(("application/sdp", offer)))?;
    let mut answers = send_invite(server, dialog.flow, &branch, bytes)?;
    let answer = tokio::time::timeout(ANSWER_WAIT, answers.recv()).await.ok()??;
    match answer {
        Answer::Final(response) if response.status().is_some_and(|c| (200..300).contains(&c)) => {
            Some((response, answers))
        }
        _ => None,
    }
}

/// Takes the dialog's remote tag and target from the 2xx and ACKs it, and every retransmission of it
/// (an ACK lost over UDP would otherwise make the recipient end the dialog) until the INVITE
/// transaction ends.
pub(crate) fn confirm(
    server: &Arc<Server>,
    dialog: &mut Dialog,
    answer: &SipMessage,
    mut retransmissions: UnboundedReceiver<Answer>,
) {
    if let Some(to) = answer.header(HeaderName::To) {
        dialog.remote = to.to_owned();
    }
    if let Some(target) = answer
        .header(HeaderName::Contact)
        .and_then(|c| NameAddr::parse(c).ok())
        .map(|c| c.uri_text.to_owned())
    {
        dialog.target = target;
    }
    let Some((_, ack)) = dialog.request(server, Method::Ack, 1, None) else {
        return;
    };
    let _ = server.transactions.transports().send(&dialog.flow, ack.clone());
    let (server, flow) = (Arc::downgrade(server), dialog.flow);
    tokio::spawn(async move {
        while let Some(Answer::Final(_)) = retransmissions.recv().await {
            let Some(server) = server.upgrade() else { return };
            let _ = server.transactions.transports().send(&flow, ack.clone());
        }
    });
}

/// The MSRP session the answer agreed on, and how its connection comes about.
fn session_for(
    offer: &[u8],
    answer: &SipMessage,
    uri: &str,
    handover: oneshot::Receiver<super::Handover>,
) -> Option<(Session, Connect)> {
    let offer = simple_im_core::sdp::Session::parse(offer).ok()?;
    let answer_sdp = simple_im_core::sdp::Session::parse(answer.body()).ok()?;
    let agreement = check_answer(&offer, &answer_sdp).ok()?;
    let media = answer_sdp.media().nth(agreement.media_index)?;
    let remote_path = media.path().collect::<Vec<_>>().join(" ");
    let config = SessionConfig {
        chunk_size: CHUNK_SIZE,
        success_report: true,
        failure_report: ReportRequest::Yes,
        ..SessionConfig::default()
    };
    let (setup, connect) = match agreement.offerer_role {
        Role::Passive => (Setup::Passive, Connect::Wait(handover)),
        Role::Active => (Setup::Active, Connect::Dial(remote_path.clone())),
    };
    let session = Session::new(config, uri, &remote_path, setup, &mut OsRng).ok()?;
    Some((session, connect))
}

/// Sends the messages one at a time, each marked delivered after its success REPORT.
async fn send_all(
    server: &Arc<Server>,
    mut pump: Pump,
    messages: &[&DeferredMessage],
    mut ended: oneshot::Receiver<()>,
) -> bool {
    // Whatever the recipient sends us in this session is not kept (it is for the original sender's
    // session, which is over).
    let mut discard = Gather::new(0);
    let mut all = true;
    for stored in messages {
        let m = &stored.message;
        let delivered = send_one(server, &mut pump, stored, &mut discard, &mut ended).await;
        if delivered.is_none() {
            all = false;
            break;
        }
        // Not marked (a store failure, or it expired meanwhile): stop here rather than push it again
        // and again; the next registration tries once more.
        if !matches!(
            server.store.session_delivered(stored.id, UnixMillis::now()).await,
            Ok(true)
        ) {
            all = false;
            break;
        }
        server.charging.record(&Record {
            event: Charge::Delivered,
            sender: &m.sender,
            recipient: &m.recipient,
            size: delivered_size(stored, &delivered),
            message_id: &m.message_id,
            status: 200,
        });
        // The notification goes its own way: a slow or offline sender must not hold up the push.
        let (server, stored) = (server.clone(), (*stored).clone());
        tokio::spawn(async move { super::super::imdn::delivered(&server, &stored).await });
    }
    pump.close().await;
    all
}

fn delivered_size(stored: &DeferredMessage, delivered: &Option<u64>) -> usize {
    delivered.map_or(stored.size(), |total| {
        usize::try_from(total).unwrap_or(usize::MAX)
    })
}

/// Sends one stored message (its first bytes from the row, the rest read from the store a window
/// at a time) and waits for its success REPORT; its size when it was reported delivered.
async fn send_one(
    server: &Arc<Server>,
    pump: &mut Pump,
    stored: &DeferredMessage,
    discard: &mut Gather,
    ended: &mut oneshot::Receiver<()>,
) -> Option<u64> {
    let m = &stored.message;
    let head_len = m.body.len() as u64;
    let (first_window, total) = server
        .store
        .session_body(stored.id, head_len, IN_MEMORY)
        .await
        .ok()?;
    if total == 0 {
        // Empty, or no longer pending (expired meanwhile): nothing to send.
        return Some(0);
    }
    let mut source = Window::new(m.body.clone(), total);
    source.refill(head_len, first_window);
    let handle = pump
        .session
        .send_with_reports(&m.content_type, Some(total), true, ReportRequest::Yes)
        .ok()?;
    source.handle = Some(handle);
    let exchange = async {
        loop {
            pump.flush(&mut source).await.ok()?;
            if let Some(offset) = source.starved_at() {
                let (bytes, _) = server
                    .store
                    .session_body(stored.id, offset, IN_MEMORY)
                    .await
                    .ok()?;
                if bytes.is_empty() {
                    return None; // the stored message is shorter than its size says
                }
                source.refill(offset, bytes);
                continue;
            }
            pump.feed(discard).ok()?;
            while let Some(event) = pump.session.poll_event() {
                match event {
                    Event::Delivered { message, end, .. } if message == handle && end >= total => {
                        return Some(total);
                    }
                    Event::SendFailed { message, .. } if message == handle => return None,
                    _ => {}
                }
            }
            pump.flush(&mut source).await.ok()?;
            if source.starved_at().is_some() {
                continue;
            }
            tokio::select! {
                more = pump.read_more() => {
                    if !matches!(more, Ok(true)) {
                        return None;
                    }
                }
                _ = &mut *ended => return None,
            }
        }
    };
    tokio::time::timeout(DELIVERY_WAIT, exchange).await.ok()?
}

/// Ends the dialog (best effort: the messages' fate is already settled).
async fn bye(server: &Arc<Server>, dialog: &Dialog) {
    if let Some((branch, bytes)) = dialog.request(server, Method::Bye, 2, None) {
        let _ = server
            .transactions
            .request(dialog.flow, &branch, "BYE", bytes)
            .await;
    }
}
