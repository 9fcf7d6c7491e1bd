//! A call's branches: the INVITE sent to every target through its own client transaction, and the
//! responses chosen and relayed upstream (RFC 3261 §16.7), with CANCEL and Timer C.

use super::super::msrp::Media;
use super::super::proxy::{self, Target};
use super::super::sip::SipMessage;
use super::super::transport::Flow;
use super::super::{reply, Server};
use super::{respond, route, send_upstream, BranchListener, CallInput, TIMER_C};
use simple_im_core::sip::transaction::TransactionKey;
use std::sync::Arc;
use tokio::sync::mpsc;

/// One branch as the call sees it.
struct Branch {
    invite: SipMessage,
    flow: Flow,
    provisional: bool,
    done: bool,
    cancelled: bool,
}

/// Forks `msg` to `targets` and relays the responses upstream through the server transaction `key`;
/// a 2xx's SDP goes through `media` (the MSRP relay) first. Returns whether a 2xx went upstream.
#[allow(clippy::too_many_arguments)]
pub(super) async fn relay(
    server: &Arc<Server>,
    key: &TransactionKey,
    msg: &SipMessage,
    flow: &Flow,
    targets: &[Target],
    max_forwards: u32,
    record_route: bool,
    media: Option<&Media>,
    tx: mpsc::UnboundedSender<CallInput>,
    mut rx: mpsc::UnboundedReceiver<CallInput>,
) -> bool {
    let mut branches = Vec::new();
    for target in targets {
        let branch_id = proxy::new_branch();
        let Some(bytes) = proxy::build_branch(server, msg, flow, target, &branch_id, max_forwards, false)
        else {
            continue;
        };
        let bytes = if record_route {
            route::with_record_route(server, &target.flow, &bytes)
        } else {
            bytes
        };
        let Ok(invite) = SipMessage::parse(bytes.clone(), target.flow.is_reliable()) else {
            continue;
        };
        let Ok(client_key) = TransactionKey::client(&branch_id, "INVITE") else {
            continue;
        };
        let listener = BranchListener {
            index: branches.len(),
            call: tx.clone(),
        };
        let (flow, invite_copy) = (target.flow, invite.clone());
        server
            .invites
            .client
            .start(server, client_key, flow, invite_copy, bytes, listener);
        branches.push(Branch {
            invite,
            flow: target.flow,
            provisional: false,
            done: false,
            cancelled: false,
        });
    }
    // The branch transactions hold the only senders from now on: the channel closes when they end.
    drop(tx);
    let mut answered = false;
    let mut cancelled = false;
    let mut best: Option<SipMessage> = None;
    let mut final_sent = false;
    let mut timer_c = tokio::time::Instant::now() + TIMER_C;
    loop {
        let input = match tokio::time::timeout_at(timer_c, rx.recv()).await {
            Ok(Some(input)) => input,
            Ok(None) => break,
            // Timer C (§16.8): the branches rang too long; CANCEL them, and if even that brings no
            // final response, give up on them.
            Err(_) if !cancelled => {
                timer_c += TIMER_C;
                CallInput::Cancel
            }
            Err(_) => {
                timer_c += TIMER_C;
                branches.iter_mut().for_each(|b| b.done = true);
                CallInput::TimerC
            }
        };
        match input {
            CallInput::TimerC => {}
            CallInput::Cancel => {
                cancelled = true;
                cancel_pending(server, &mut branches);
            }
            CallInput::Failed(i) => {
                if let Some(b) = branches.get_mut(i) {
                    b.done = true;
                }
            }
            CallInput::Response(i, response) => {
                let code = response.status().unwrap_or(500);
                let Some(b) = branches.get_mut(i) else { continue };
                if code < 200 {
                    b.provisional = true;
                    if (cancelled || answered) && !b.cancelled && !b.done {
                        b.cancelled = true;
                        route::send_cancel(server, &b.invite, b.flow);
                    }
                    if code > 100 && !final_sent {
                        if let Some(bytes) = reply::relayed(&response) {
                            send_upstream(server, key, code, bytes);
                        }
                    }
                    continue;
                }
                b.done = true;
                if code < 300 {
                    // Every 2xx goes upstream (§16.7 step 5); the first one ends the other branches.
                    let response = media.and_then(|m| m.answer(&response)).unwrap_or(response);
                    if let Some(bytes) = reply::relayed(&response) {
                        send_upstream(server, key, code, bytes);
                    }
                    final_sent = true;
                    if !answered {
                        answered = true;
                        cancel_pending(server, &mut branches);
                    }
                    continue;
                }
                let better = best.as_ref().is_none_or(|current| {
                    let old = current.status().unwrap_or(500);
                    old < 600 && (code >= 600 || code < old)
                });
                if better {
                    best = Some(response);
                }
            }
        }
        if !final_sent && branches.iter().all(|b| b.done) {
            final_sent = true;
            // No 2xx: the MSRP relay session ends now, not when the branches' timers run out.
            if let Some(media) = media {
                media.end();
            }
            match best.take().and_then(|r| Some((r.status()?, reply::relayed(&r)?))) {
                Some((code, bytes)) => send_upstream(server, key, code, bytes),
                None if cancelled => respond(server, key, msg, flow, 487, "Request Terminated", &[]),
                None => respond(server, key, msg, flow, 408, "Request Timeout", &[]),
            }
        }
    }
    if !final_sent {
        respond(server, key, msg, flow, 408, "Request Timeout", &[]);
    }
    answered
}

/// CANCELs every branch still ringing (a branch with no provisional response yet is CANCELled when
/// its first one arrives, RFC 3261 §9.1).
fn cancel_pending(server: &Arc<Server>, branches: &mut [Branch]) {
    for b in branches
        .iter_mut()
        .filter(|b| !b.done && b.provisional && !b.cancelled)
    {
        b.cancelled = true;
        route::send_cancel(server, &b.invite, b.flow);
    }
}
