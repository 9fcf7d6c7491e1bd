//! The registrar (RFC 3261 §10.3): REGISTER with digest authentication, bindings in the location
//! service, and the push of deferred messages when a user comes online.
//!
//! | request | answer |
//! |---|---|
//! | To not in our domain | 404 |
//! | no credentials, or stale nonce | 401 with one WWW-Authenticate per algorithm |
//! | wrong credentials, or authenticated as another user | 403 |
//! | `Contact: *` with `Expires: 0` (and no other Contact) | all bindings removed, 200 |
//! | `Contact: *` otherwise | 400 |
//! | an expiry above 0 but below the minimum | 423 with Min-Expires |
//! | otherwise | bindings added/refreshed/removed, 200 listing every current binding |
//!
//! An expiry comes from the contact's `expires` parameter, else the Expires header, else the maximum;
//! it is capped at the maximum.
//!
//! ## Third-party registration (application-server mode)
//!
//! Behind an external SIP/IP core the users register there, and the core tells the server with a
//! REGISTER of its own (3GPP TS 24.229 §5.4.1.7 calls it third-party registration; the committed
//! Kamailio config sends it with the `uac` module after saving the user's binding): To is the user's
//! AoR, Contact the core, Expires the registration's lifetime. Such a REGISTER from a configured
//! trusted core is not challenged (the core authenticated the user). It becomes one binding whose
//! URI is the AoR and whose flow is the core, so terminating requests (a new MESSAGE, the push of
//! deferred messages) go to the core with the AoR as Request-URI, and the core routes them to the
//! user's devices. `Expires: 0` removes that binding.

use super::auth::{AuthOutcome, Realm};
use super::location::Binding;
use super::transport::Flow;
use super::{deferred, reply, Request, Server};
use simple_im_core::sip::header::{parse_expires, Contact};
use simple_im_core::sip::uri::Host;
use simple_im_core::sip::HeaderName;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Handles one REGISTER.
pub async fn register(server: &Arc<Server>, request: &Request) {
    let msg = &request.msg;
    let Some(user) = aor_user(server, msg) else {
        reply::send(
            server,
            request,
            404,
            "Not Found (not a user of this domain)",
            &[],
            None,
        );
        return;
    };
    if super::pager::from_trusted_core(server, request) {
        third_party(server, request, user).await;
        return;
    }
    let now = server.transactions.now();
    match server
        .auth
        .check(msg, Realm::Registrar, server.store.as_ref(), now)
        .await
    {
        AuthOutcome::Authenticated(name) if name == user => {}
        AuthOutcome::Authenticated(name) => {
            let reason = format!("Forbidden (authenticated as {name}, not {user})");
            reply::send(server, request, 403, &reason, &[], None);
            return;
        }
        AuthOutcome::Challenge { stale } => {
            challenge(server, request, Realm::Registrar, stale);
            return;
        }
        AuthOutcome::Forbidden(reason) => {
            reply::send(server, request, 403, &format!("Forbidden ({reason})"), &[], None);
            return;
        }
    }
    let header_expires = msg
        .header(HeaderName::Expires)
        .and_then(|v| parse_expires(v).ok());
    let contacts: Vec<&str> = msg.values(HeaderName::Contact).collect();
    let parsed: Vec<Contact<'_>> = contacts.iter().filter_map(|c| Contact::parse(c).ok()).collect();
    if parsed.len() != contacts.len() {
        reply::send(server, request, 400, "Bad Request (malformed Contact)", &[], None);
        return;
    }
    if parsed.contains(&Contact::Star) {
        if parsed.len() != 1 || header_expires != Some(0) {
            reply::send(
                server,
                request,
                400,
                "Bad Request (Contact: * needs Expires: 0 and no other Contact)",
                &[],
                None,
            );
            return;
        }
        server.location.remove_all(&user);
        ok(server, request, &user);
        return;
    }
    let (min, max) = (server.options.min_expires, server.options.max_expires);
    let mut changes = Vec::new();
    for contact in &parsed {
        let Contact::Address(address) = contact else {
            continue;
        };
        let expires = address.expires().or(header_expires).unwrap_or(max).min(max);
        if expires > 0 && expires < min {
            reply::send(
                server,
                request,
                423,
                "Interval Too Brief",
                &[("Min-Expires", min.to_string())],
                None,
            );
            return;
        }
        changes.push((address.uri_text.to_owned(), expires));
    }
    let cseq = msg
        .header(HeaderName::CSeq)
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let mut added = false;
    for (uri, expires) in changes {
        let lifetime = Duration::from_secs(u64::from(expires));
        let binding = Binding {
            flow: contact_flow(&request.flow, &uri),
            uri,
            expires_at: Instant::now() + lifetime,
            call_id: msg.call_id().to_owned(),
            cseq,
        };
        added |= expires > 0;
        server.location.update(&user, binding, lifetime);
    }
    ok(server, request, &user);
    if added {
        let server = server.clone();
        tokio::spawn(async move {
            deferred::deliver(&server, &user).await;
            super::deferred_session::deliver(&server, &user).await;
        });
    }
}

/// A trusted core's third-party REGISTER for `user` (see the module docs).
async fn third_party(server: &Arc<Server>, request: &Request, user: String) {
    let msg = &request.msg;
    if !matches!(server.store.user(&user).await, Ok(Some(_))) {
        reply::send(server, request, 404, "Not Found (no such user)", &[], None);
        return;
    }
    let contact_expires = msg
        .values(HeaderName::Contact)
        .filter_map(|c| match Contact::parse(c) {
            Ok(Contact::Address(address)) => address.expires(),
            _ => None,
        })
        .max();
    let header_expires = msg
        .header(HeaderName::Expires)
        .and_then(|v| parse_expires(v).ok());
    let max = server.options.max_expires;
    let expires = contact_expires.or(header_expires).unwrap_or(max).min(max);
    let aor = format!("sip:{user}@{}", server.config.domain);
    let lifetime = Duration::from_secs(u64::from(expires));
    let binding = Binding {
        flow: request.flow,
        uri: aor,
        expires_at: Instant::now() + lifetime,
        call_id: msg.call_id().to_owned(),
        cseq: 0,
    };
    server.location.update(&user, binding, lifetime);
    ok(server, request, &user);
    if expires > 0 {
        let server = server.clone();
        tokio::spawn(async move { deferred::deliver(&server, &user).await });
    }
}

/// How requests reach a contact. Over UDP, the contact's own address when it is an IP literal
/// (RFC 3261 §10.3: the Contact says where to send; a REGISTER may come from another socket than the
/// one that receives, as SIPp's UAS scenarios do), sent from the socket the REGISTER arrived on. Over
/// TCP, and for contacts named by host name or asking for RFC 5626 outbound (`;ob`), the flow the
/// REGISTER came on: the connection the client opened (it may accept no other) or the NAT binding.
fn contact_flow(flow: &Flow, contact: &str) -> Flow {
    let Flow::Udp { socket, .. } = *flow else {
        return *flow;
    };
    let Ok(uri) = simple_im_core::sip::Uri::parse(contact) else {
        return *flow;
    };
    let Some(sip) = uri.as_sip() else { return *flow };
    let outbound = sip.params.get("ob").is_some();
    let transport = sip.params.get("transport").flatten().unwrap_or("udp");
    if outbound || !transport.eq_ignore_ascii_case("udp") {
        return *flow;
    }
    let ip = match sip.host {
        Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
        Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
        Host::Domain(_) => return *flow,
    };
    Flow::Udp {
        socket,
        peer: std::net::SocketAddr::new(ip, sip.port.unwrap_or(5060)),
    }
}

/// The user part of the To AoR, when it names this domain.
fn aor_user(server: &Server, msg: &super::sip::SipMessage) -> Option<String> {
    let to = msg.to()?;
    let sip = to.uri.as_sip()?;
    let host = sip.host.to_string();
    if !server.is_local(&host) {
        return None;
    }
    sip.user.map(str::to_owned)
}

/// The WWW-/Proxy-Authenticate headers of a challenge: one per configured digest algorithm.
pub fn challenge_headers(server: &Server, realm: Realm, stale: bool) -> Vec<(&'static str, String)> {
    let now = server.transactions.now();
    let name = realm.challenge_header().as_str();
    server
        .auth
        .challenges(now, stale)
        .into_iter()
        .map(|c| (name, c))
        .collect()
}

/// Answers with a digest challenge (401 or 407).
pub fn challenge(server: &Arc<Server>, request: &Request, realm: Realm, stale: bool) {
    let headers = challenge_headers(server, realm, stale);
    let reason = match realm {
        Realm::Registrar => "Unauthorized",
        Realm::Proxy => "Proxy Authentication Required",
    };
    reply::send(server, request, realm.challenge_code(), reason, &headers, None);
}

fn ok(server: &Arc<Server>, request: &Request, user: &str) {
    let now = Instant::now();
    let headers: Vec<(&str, String)> = server
        .location
        .lookup(user)
        .iter()
        .map(|b| ("Contact", format!("<{}>;expires={}", b.uri, b.remaining(now))))
        .collect();
    reply::send(server, request, 200, "OK", &headers, None);
}
