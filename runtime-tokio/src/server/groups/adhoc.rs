//! Ad-hoc chats (RFC 5366, OMA IM ad-hoc group session): an INVITE to the URI-list service
//! (`sip:exploder@DOMAIN` or the bare domain, [`super::exploder`]) whose `multipart/mixed` body holds
//! the SDP offer and an `application/resource-lists+xml` part with `Content-Disposition:
//! recipient-list` creates a conference and the focus invites the listed users.
//!
//! | step | what happens |
//! |---|---|
//! | the INVITE fails the rules of [`super`] (loop rule, system URI) | 403 |
//! | the caller is not a user of this domain | 403 |
//! | the body is not multipart/mixed with one recipient-list part | 415 / 400, as for a list MESSAGE |
//! | otherwise | a private group `chat-XXXXXXXXXXXX` (owner: the caller, members: the caller and the listed users of this domain) is created in the store; the caller joins it like a pre-defined room, and the 200's Contact `sip:chat-...@HOST` is the conference URI |
//! | each listed user of this domain with a registration | the focus sends it an INVITE (From: the conference URI, SDP naming its switch leg, `a=setup:passive`); a 2xx is ACKed and the user becomes a participant (NOTIFY to subscribers); any other answer leaves it out |
//! | the last participant leaves (BYE, expulsion, dropped as slow) | the room closes: the group is removed from the store ([`super::focus`]) |
//!
//! Listed users of other domains are skipped (no Participating function of another server is
//! reached yet), and so are users with no registration (nothing is stored for them: a chat is live).

use super::switch::Switch;
use super::{exploder, focus, local_user, passes_invite_rules};
use crate::server::deferred_session::push::confirm;
use crate::server::deferred_session::signalling::{new_dialog, send_invite, Answer, Dialog};
use crate::server::sip::SipMessage;
use crate::server::transport::Flow;
use crate::server::{invite, msrp, reply, rng, Server};
use crate::store::{Group, InvitePolicy, UnixMillis};
use simple_im_core::sip::transaction::TransactionKey;
use simple_im_core::sip::Method;
use std::sync::Arc;
use std::time::Duration;

/// How long an invited user has to answer the focus's INVITE.
const ANSWER_WAIT: Duration = Duration::from_secs(64);

/// An INVITE to the URI-list service: creates the ad-hoc chat (the table in the module docs).
pub async fn invite(server: &Arc<Server>, key: &TransactionKey, msg: &SipMessage, flow: &Flow) {
    let refuse = |code: u16, reason: &str| {
        if let Some(bytes) = reply::build(msg, Some(flow.peer()), code, reason, &[], None) {
            invite::send_upstream(server, key, code, bytes);
        }
    };
    let creator = msg.from().map(|f| f.uri_text.to_owned()).unwrap_or_default();
    if let Err((code, reason)) = passes_invite_rules(server, msg, &creator) {
        refuse(code, &reason);
        return;
    }
    let Some(owner) = local_user(server, &creator) else {
        refuse(403, "Forbidden (only users of this domain create ad-hoc chats)");
        return;
    };
    let listed = match exploder::split(msg).and_then(|(_, list)| exploder::recipients(list.body)) {
        Ok(listed) => listed,
        Err((code, reason)) => {
            refuse(code, &reason);
            return;
        }
    };
    let invitees: Vec<String> = listed
        .iter()
        .filter_map(|key| local_user(server, key))
        .filter(|user| !user.eq_ignore_ascii_case(&owner))
        .collect();
    let group = Group {
        name: format!("chat-{}", rng::token(6)),
        owner: owner.clone(),
        private: true,
        may_invite: InvitePolicy::Owner,
        max_participants: 0,
        members: std::iter::once(owner).chain(invitees.iter().cloned()).collect(),
        created: UnixMillis::now(),
    };
    if server.store.add_group(group.clone()).await.is_err() {
        refuse(500, "Server Internal Error (the ad-hoc chat could not be stored)");
        return;
    }
    server.focus.mark_adhoc(&group.name);
    focus::join(server, key, msg, flow, &group).await;
    for user in invitees {
        tokio::spawn(dial_out(server.clone(), group.name.clone(), user));
    }
}

/// The focus invites `user` into the ad-hoc room `group`.
async fn dial_out(server: Arc<Server>, group: String, user: String) {
    let Some(switch) = server.focus.switch(&server) else {
        return;
    };
    let Some(binding) = server.location.lookup(&user).pop() else {
        return;
    };
    let domain = &server.config.domain;
    let (group_uri, user_uri) = (format!("sip:{group}@{domain}"), format!("sip:{user}@{domain}"));
    let (sid, leg) = switch.reserve();
    let dialog = new_dialog(&server, &group_uri, &user_uri, &binding.uri, binding.flow);
    if invite_and_join(&server, &switch, dialog, &group, &user_uri, &sid, &leg)
        .await
        .is_none()
    {
        switch.unreserve(&sid);
    }
}

/// Sends the focus's INVITE offering the reserved leg `sid` (URI `leg`), ACKs a 2xx and puts the user
/// in the room; `None` when it does not answer 2xx with MSRP media.
async fn invite_and_join(
    server: &Arc<Server>,
    switch: &Switch,
    mut dialog: Dialog,
    group: &str,
    user_uri: &str,
    sid: &str,
    leg: &str,
) -> Option<()> {
    let group_uri = format!("sip:{group}@{}", server.config.domain);
    let offer = focus::switch_answer(&switch.address(), leg);
    let sdp = Some(("application/sdp", offer.as_bytes()));
    let (branch, bytes) = dialog.request(server, Method::Invite, 1, sdp)?;
    let mut answers = send_invite(server, dialog.flow, &branch, bytes)?;
    let Ok(Some(Answer::Final(answer))) = tokio::time::timeout(ANSWER_WAIT, answers.recv()).await else {
        return None;
    };
    if !answer.status().is_some_and(|c| (200..300).contains(&c)) {
        return None;
    }
    // Learns the dialog's remote tag and target, ACKs the 2xx and every retransmission of it.
    confirm(server, &mut dialog, &answer, answers);
    // A 2xx without MSRP media: the dialog stays, the user is not in the chat (it may BYE).
    let media = msrp::sdp::find(answer.body())?;
    switch.join_reserved(
        group,
        &group_uri,
        user_uri,
        false,
        &dialog.call_id,
        &media.path,
        sid.into(),
    );
    let local_tag = dialog.local.rsplit(";tag=").next().unwrap_or("").to_owned();
    focus::add_invited(
        server,
        group,
        user_uri,
        &dialog.target,
        &dialog.call_id,
        &dialog.remote,
        &local_tag,
        dialog.flow,
    );
    Some(())
}
