//! Expelling a participant: the group's owner sends the focus a REFER whose Refer-To names the
//! participant with `method=BYE` (RFC 4579 §5.5, the request conferencing clients send to remove
//! someone), e.g.
//!
//! ```text
//! REFER sip:team@example.com SIP/2.0
//! Refer-To: <sip:bob@example.com;method=BYE>
//! Refer-Sub: false
//! ```
//!
//! A REFER to any other Request-URI is answered 405 as before.
//!
//! | check, in order | answer |
//! |---|---|
//! | the sender does not authenticate | the usual 401/407 challenge |
//! | no Refer-To, or it is not a URI | 400 |
//! | Refer-To has no `method=BYE` (an invitation to dial out) | 501, only expelling is done |
//! | the sender is not the group's owner | 403 |
//! | the named user is not a participant | 404 |
//! | otherwise | 202 with `Refer-Sub: false` (RFC 4488: no implicit subscription); the focus sends the participant a BYE, closes its MSRP leg and tells the conference subscribers ([`super::focus::expel`]) |
//!
//! The owner is also a participant or not: expelling works either way (out of any dialog).

use super::lookup;
use crate::server::participating::address_key;
use crate::server::{pager, reply, Request, Server};
use simple_im_core::sip::header::NameAddr;
use simple_im_core::sip::HeaderName;
use std::sync::Arc;

/// A REFER outside a dialog: handled when its Request-URI is a group (`false`, nothing sent,
/// otherwise).
pub async fn refer(server: &Arc<Server>, request: &Request) -> bool {
    let msg = &request.msg;
    let Some(group) = lookup(server, msg.request_uri().unwrap_or("")).await else {
        return false;
    };
    let Some(sender) = pager::identify(server, request).await else {
        return true;
    };
    let refer_to = msg
        .header(HeaderName::parse("Refer-To"))
        .and_then(|v| NameAddr::parse(v).ok());
    let Some(refer_to) = refer_to else {
        reply::send(server, request, 400, "Bad Request (no Refer-To URI)", &[], None);
        return true;
    };
    let target = refer_to.uri_text.to_owned();
    let is_bye = target
        .split(';')
        .skip(1)
        .any(|p| p.trim().eq_ignore_ascii_case("method=BYE"));
    if !is_bye {
        let reason = "Not Implemented (the focus only expels: Refer-To with method=BYE)";
        reply::send(server, request, 501, reason, &[], None);
        return true;
    }
    if !super::local_user(server, &sender).is_some_and(|user| user.eq_ignore_ascii_case(&group.owner)) {
        let reason = format!("Forbidden (only the owner of {} expels participants)", group.name);
        reply::send(server, request, 403, &reason, &[], None);
        return true;
    }
    let target_key = address_key(target.split(';').next().unwrap_or(""));
    let call_id = server.focus.with_room(&group.name, |room| {
        room.participants
            .iter()
            .find(|p| address_key(&p.user) == target_key)
            .map(|p| p.call_id.clone())
    });
    let Some(call_id) = call_id else {
        reply::send(server, request, 404, "Not Found (not a participant)", &[], None);
        return true;
    };
    reply::send(
        server,
        request,
        202,
        "Accepted",
        &[("Refer-Sub", "false".into())],
        None,
    );
    super::focus::expel(server, &call_id);
    true
}
