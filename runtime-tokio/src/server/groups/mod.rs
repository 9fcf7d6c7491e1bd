//! The Controlling IM Function (OMA IM 2.0, AD 5.3.2.4.2) for pre-defined groups: chat URIs
//! `sip:NAME@DOMAIN` whose members and policy are kept in the store (`simple-im group ...` until the
//! XDMS holds group documents).
//!
//! Modules: [`pager`](fan_out) (this page), [`cpim_edit`] (CPIM header edits), [`exploder`] (RFC 5365 URI lists) with
//! [`imdn_aggregate`] (its notifications, with [`exploder_imdn`] answering them and [`tracked_lists`]
//! keeping the lists in the store), [`imdn_route`] (notifications of group messages),
//! [`focus`] (joining and
//! leaving with INVITE/BYE), [`switch`] (the MSRP switch of group chats), [`expel`] (the owner
//! removing a participant), [`conference`] (RFC 4575 subscriptions), [`cli`].
//!
//! ## Pager mode into a group
//!
//! A MESSAGE whose Request-URI names no account of the domain is offered to [`message`]. The bare
//! domain URI and `exploder@DOMAIN` are the URI-list service ([`exploder`], RFC 5365), which shares
//! the first two checks below and the fan-out; when the name is a group, the request is answered
//! here, after these checks, in order:
//!
//! | check | answer |
//! |---|---|
//! | the request carries [`CONTROLLING_HEADER`] (it already passed a Controlling function) | 403, nested group (the OMA loop rule) |
//! | the sender is the system URI | 403, system messages are never sent into a group |
//! | the group is private and the sender is neither a member nor the owner | 403, not a member |
//! | otherwise | one copy per member except the sender, see below |
//!
//! Each copy is a new MESSAGE from the server (the B2BUA role of the Controlling function), built
//! like a deferred message ([`super::deferred::stored_copy`]): the sender's From (anonymised when
//! the sender asked for privacy, RFC 3323), To = the group URI (so the member sees which group it
//! came through), Date, Subject and Content-Type as sent, the body byte for byte (a CPIM body keeps
//! its CPIM From, the sender's identity for CPIM-aware clients), a fresh Call-ID, and
//! [`CONTROLLING_HEADER`]`: <group URI>`, which names the function downstream and is what the loop
//! rule looks for. A CPIM body that asks for notifications gets the group as its top
//! `IMDN-Record-Route` (and an anonymised CPIM From when the sender asked for privacy), so members'
//! notifications come back through the group to the sender ([`imdn_route`]); a notification sent
//! to the group URI is routed there instead of being fanned out.
//!
//! | member | outcome of its copy |
//! |---|---|
//! | is itself a group | refused (the copy would pass a second Controlling function): counted, not sent |
//! | no such account | refused (404) |
//! | its Participating policy refuses the sender | refused (the policy's 403/413/415) |
//! | registered, not storing pager messages, a contact answers 2xx | delivered |
//! | registered, a contact answers non-2xx | refused (the member's client declined) |
//! | offline, storing pager messages, or no contact answered | stored durably (Deferred Messaging), pushed on register |
//! | storing failed (quota full, store error) | failed |
//!
//! The sender is answered only when every copy has an outcome: 200 when every copy was delivered
//! or refused, 202 when at least one was stored, and 480 when any copy failed (neither delivered nor
//! stored), so a 2xx never hides a dropped copy. The reason phrase counts the outcomes, e.g.
//! `OK (delivered 3, stored 1, refused 0)`. When copies were stored, the sender gets one system
//! notice (not one per member: fan-out must not multiply notices).

pub mod adhoc;
pub mod cli;
pub mod conference;
pub mod cpim_edit;
pub mod expel;
pub mod exploder;
pub mod exploder_imdn;
pub mod focus;
pub mod imdn_aggregate;
pub mod imdn_route;
mod pager;
pub mod switch;
pub mod tracked_lists;

pub use pager::{fan_out, fan_out_copies, fan_out_each, Outcome, Tally};

use super::participating::address_key;
use super::sip::SipMessage;
use super::{reply, Request, Server};
use crate::store::Group;
use simple_im_core::sip::Uri;
use std::sync::Arc;

/// The header a fanned-out request carries: `Simple-IM-Controlling: <sip:GROUP@DOMAIN>`. Its presence
/// means the request already passed a Controlling IM Function, so a group or exploder receiving it
/// refuses it (nested-group loop prevention).
pub const CONTROLLING_HEADER: &str = "Simple-IM-Controlling";

/// The group named by a Request-URI of our domain, if any.
pub async fn lookup(server: &Server, request_uri: &str) -> Option<Group> {
    let uri = Uri::parse(request_uri).ok()?;
    let sip = uri.as_sip()?;
    if !server.is_local(&sip.host.to_string()) {
        return None;
    }
    server.store.group(sip.user?).await.ok().flatten()
}

/// The local user name of `uri` (a URI or name-addr of our domain), lowercase.
fn local_user(server: &Server, uri: &str) -> Option<String> {
    let key = address_key(uri);
    let (user, host) = key.split_once('@')?;
    server.is_local(host).then(|| user.to_owned())
}

/// Whether `sender` may send into `group` (OMA: private groups admit only their members).
pub fn may_send(server: &Server, group: &Group, sender: &str) -> bool {
    if !group.private {
        return true;
    }
    local_user(server, sender)
        .is_some_and(|user| group.owner.eq_ignore_ascii_case(&user) || is_member(group, &user))
}

fn is_member(group: &Group, user: &str) -> bool {
    group.members.iter().any(|m| m.eq_ignore_ascii_case(user))
}

/// The rules every request into a group or the exploder must pass (the first rows of the table in
/// the module docs): `Err` with the status and reason to answer when one fails.
pub fn passes_invite_rules(server: &Server, msg: &SipMessage, sender: &str) -> Result<(), (u16, String)> {
    if msg
        .headers()
        .any(|(name, _)| name.eq_ignore_ascii_case(CONTROLLING_HEADER))
    {
        let reason = "Forbidden (nested group: the request already passed a Controlling IM Function)";
        return Err((403, reason.to_owned()));
    }
    if address_key(sender) == address_key(&server.config.system_uri) {
        let reason = "Forbidden (system messages are never sent into a group)";
        return Err((403, reason.to_owned()));
    }
    Ok(())
}

/// [`passes_invite_rules`] for a non-INVITE request: answers the refusal and returns `false`.
pub fn passes_rules(server: &Arc<Server>, request: &Request, sender: &str) -> bool {
    match passes_invite_rules(server, &request.msg, sender) {
        Ok(()) => true,
        Err((code, reason)) => {
            reply::send(server, request, code, &reason, &[], None);
            false
        }
    }
}

/// Handles a MESSAGE to a Request-URI that is not an account: returns `false` without answering when
/// the URI is neither the URI-list service nor a group (the caller answers 404), else answers it (see
/// the module docs).
pub async fn message(server: &Arc<Server>, request: &Request, sender: &str) -> bool {
    let msg = &request.msg;
    let request_uri = msg.request_uri().unwrap_or("");
    if exploder::is_exploder(server, request_uri) {
        exploder::message(server, request, sender).await;
        return true;
    }
    let Some(group) = lookup(server, request_uri).await else {
        return false;
    };
    if imdn_aggregate::is_notification(msg.body()) {
        imdn_route::incoming(server, request, sender, &group).await;
        return true;
    }
    if !passes_rules(server, request, sender) {
        return true;
    }
    if !may_send(server, &group, sender) {
        let reason = format!("Forbidden (not a member of the private group {})", group.name);
        reply::send(server, request, 403, &reason, &[], None);
        return true;
    }
    let sender_user = local_user(server, sender);
    let members: Vec<String> = group
        .members
        .iter()
        .filter(|m| sender_user.as_deref().is_none_or(|s| !m.eq_ignore_ascii_case(s)))
        .cloned()
        .collect();
    let group_uri = format!("sip:{}@{}", group.name, server.config.domain);
    let privacy = super::participating::wants_privacy(msg);
    let body = imdn_route::copy_body(server, msg.body(), &group_uri, sender, privacy).await;
    let tally = fan_out(server, msg, sender, &group_uri, &members, body.as_deref()).await;
    answer(server, request, sender, &group_uri, tally);
    true
}

/// Answers the sender once every copy has its outcome (200/202/480 with the counts), and sends the
/// one system notice when copies were stored.
pub fn answer(server: &Arc<Server>, request: &Request, sender: &str, target_uri: &str, tally: Tally) {
    let counts = format!(
        "delivered {}, stored {}, refused {}",
        tally.delivered, tally.stored, tally.refused
    );
    let (code, reason) = if tally.failed > 0 {
        (
            480,
            format!(
                "Temporarily Unavailable ({} cop(ies) could neither be delivered nor stored; {counts})",
                tally.failed
            ),
        )
    } else if tally.stored > 0 {
        (202, format!("Accepted ({counts})"))
    } else {
        (200, format!("OK ({counts})"))
    };
    reply::send(server, request, code, &reason, &[], None);
    if tally.stored > 0 {
        super::system::send(
            server,
            sender,
            format!(
                "Your message to {target_uri} was stored for {} recipient(s) who are offline; they get it when they register.",
                tally.stored
            ),
        );
    }
}
