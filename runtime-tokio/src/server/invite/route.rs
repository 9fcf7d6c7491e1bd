//! Routing by Route (RFC 3261 §16.4, §16.12 loose routing) for requests inside a dialog the proxy
//! Record-Routed, and the requests the proxy itself builds towards a branch (ACK for a non-2xx,
//! CANCEL).
//!
//! | request | handling |
//! |---|---|
//! | in-dialog (To tag, top Route naming us), non-INVITE | our own top Route removed; sent statefully (non-INVITE client transaction) to the next Route, else to the Request-URI; the response relayed |
//! | in-dialog UPDATE offering MSRP (RFC 3311) in a relayed call | as above, with the offer and its 2xx answer rewritten like a re-INVITE's ([`crate::server::msrp::MsrpRelay::reoffer`]); a non-2xx leaves the session as it was |
//! | in-dialog re-INVITE | the same target, through an INVITE client transaction (`reinvite` in the parent module) |
//! | ACK for a 2xx | the same target, statelessly (it has no transaction, §16.11); dropped without our Route; an answer to an offer the relay rewrote in the 2xx is rewritten |
//! | CANCEL matching an INVITE server transaction | 200 through its own transaction; the call CANCELs its pending branches |
//! | CANCEL matching none | given back: the dispatcher answers 481 |
//!
//! The next hop comes from the URI: a registered contact (by URI, or by the peer address of the flow
//! it registered on) is reached over that flow, TCP included; any other IP literal (port 5060 by
//! default) over UDP from the socket the request came in on; a user of our domain through the first
//! registered contact's flow.

use super::super::proxy::{self, Forked, Target};
use super::super::sip::{unfold, SipMessage};
use super::super::transaction::Arrival;
use super::super::transport::Flow;
use super::super::{reply, Request, Server};
use bytes::Bytes;
use simple_im_core::sip::header::split_list;
use simple_im_core::sip::transaction::cancel_target_key;
use simple_im_core::sip::{ack_for_non_2xx, HeaderName, MessageWriter, Method, Uri};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Whether the request belongs to a dialog this proxy Record-Routed: its To has a tag and its top
/// Route names us. Requests without our Route are not relayed by Route (no open relay to any address
/// a request names); they go through the ordinary dispatch.
pub fn is_in_dialog(server: &Server, msg: &SipMessage) -> bool {
    let method = msg.method().unwrap_or("");
    method != "REGISTER" && msg.to().and_then(|t| t.tag()).is_some() && routed_through_us(server, msg)
}

/// Whether the top Route names this proxy.
fn routed_through_us(server: &Server, msg: &SipMessage) -> bool {
    msg.values(HeaderName::Route)
        .next()
        .and_then(|v| split_list(v).next())
        .is_some_and(|route| proxy::names_us(server, route))
}

/// The next hop of an in-dialog request: the first Route after ours, else the Request-URI.
pub fn next_hop(server: &Server, msg: &SipMessage, flow: &Flow) -> Option<Target> {
    let uri = msg.request_uri()?.to_owned();
    let routes: Vec<String> = msg
        .values(HeaderName::Route)
        .flat_map(|v| split_list(v).map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let skip = usize::from(routes.first().is_some_and(|r| proxy::names_us(server, r)));
    let hop = match routes.get(skip) {
        Some(route) => simple_im_core::sip::header::NameAddr::parse(route)
            .ok()?
            .uri_text
            .to_owned(),
        None => uri.clone(),
    };
    let parsed = Uri::parse(&hop).ok()?;
    let sip = parsed.as_sip()?;
    let host = sip.host.to_string();
    if server.is_local(&host) {
        let binding = server.location.lookup(sip.user?).into_iter().next()?;
        return Some(Target {
            uri,
            flow: binding.flow,
        });
    }
    let ip: IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
    let peer = SocketAddr::new(ip, sip.port.unwrap_or(5060));
    if let Some(registered) = server.location.flow_to(&hop, Some(peer)) {
        return Some(Target {
            uri,
            flow: registered,
        });
    }
    let socket = match flow {
        Flow::Udp { socket, .. } => *socket,
        Flow::Tcp { .. } => 0,
    };
    Some(Target {
        uri,
        flow: Flow::Udp { socket, peer },
    })
}

/// An in-dialog request other than ACK and CANCEL.
pub fn in_dialog(server: &Arc<Server>, msg: SipMessage, flow: Flow) {
    let Some(target) = next_hop(server, &msg, &flow) else {
        let request = Request { msg, flow, key: None };
        reply::send(
            server,
            &request,
            404,
            "Not Found (no route to the next hop)",
            &[],
            None,
        );
        return;
    };
    if msg.method() == Some("INVITE") {
        super::reinvite(server, msg, flow, target);
        return;
    }
    let key = match server.transactions.arrive(&msg, flow) {
        Some(Arrival::New(key)) => Some(key),
        Some(Arrival::Retransmission) => return,
        None => None,
    };
    // An UPDATE offering MSRP (RFC 3311) in a relayed call is a re-offer like a re-INVITE's.
    let media = match msg.method() {
        Some("UPDATE") => server.msrp.as_ref().and_then(|relay| relay.reoffer(&msg)),
        _ => None,
    };
    let server = server.clone();
    tokio::spawn(async move {
        let request = Request { msg, flow, key };
        let Some(max_forwards) = proxy::next_max_forwards(&request.msg) else {
            if let Some((_, media)) = &media {
                media.end();
            }
            reply::send(&server, &request, 483, "Too Many Hops", &[], None);
            return;
        };
        let forwarded = media.as_ref().map_or(&request.msg, |(rewritten, _)| rewritten);
        match proxy::fork(&server, forwarded, &flow, &[target], max_forwards, false).await {
            Forked::Answered(response) => {
                let code = response.status().unwrap_or(500);
                let response = match &media {
                    Some((_, media)) if (200..300).contains(&code) => media.answer(&response),
                    Some((_, media)) => {
                        media.end();
                        None
                    }
                    None => None,
                }
                .unwrap_or(response);
                if let Some(bytes) = reply::relayed(&response) {
                    server
                        .transactions
                        .respond(request.key.as_ref(), &flow, code, bytes);
                }
            }
            Forked::Unreachable => {
                if let Some((_, media)) = &media {
                    media.end();
                }
                reply::send(&server, &request, 408, "Request Timeout", &[], None)
            }
        }
        // The call is over once the BYE has been answered (or could not be): so is its MSRP relay
        // session, whose connections close. Not before: the callee must see the BYE ahead of the
        // closed connection, or it takes the session for broken (RFC 4975 §5.1 ties the MSRP
        // session's end to the SIP session's).
        if request.msg.method() == Some("BYE") {
            if let Some(relay) = &server.msrp {
                relay.end_call(request.msg.call_id());
            }
        }
    });
}

/// An ACK no INVITE server transaction absorbed (the ACK for a 2xx): forwarded statelessly.
pub fn ack(server: &Arc<Server>, msg: &SipMessage, flow: Flow) {
    if !routed_through_us(server, msg) {
        return;
    }
    let Some(target) = next_hop(server, msg, &flow) else {
        return;
    };
    let Some(max_forwards) = proxy::next_max_forwards(msg) else {
        return;
    };
    // The answer to an offer the relay rewrote in the 2xx (a re-INVITE without SDP) is rewritten too.
    let rewritten = server.msrp.as_ref().and_then(|relay| relay.answer_in_ack(msg));
    let msg = rewritten.as_ref().unwrap_or(msg);
    let branch = proxy::new_branch();
    if let Some(bytes) = proxy::build_branch(server, msg, &flow, &target, &branch, max_forwards, false) {
        let _ = server.transactions.transports().send(&target.flow, bytes);
    }
}

/// A CANCEL: handled when it matches an INVITE server transaction, else given back.
pub fn cancel(server: &Arc<Server>, msg: SipMessage, flow: Flow) -> Option<(SipMessage, Flow)> {
    let Some(Ok(invite_key)) = msg.with_view(cancel_target_key) else {
        return Some((msg, flow));
    };
    if !super::cancel_call(server, &invite_key) {
        return Some((msg, flow));
    }
    let key = match server.transactions.arrive(&msg, flow) {
        Some(Arrival::New(key)) => Some(key),
        Some(Arrival::Retransmission) => return None,
        None => None,
    };
    let request = Request { msg, flow, key };
    reply::send(server, &request, 200, "OK", &[], None);
    None
}

/// `bytes` (a request) with our Record-Route on top of any others.
pub fn with_record_route(server: &Server, flow: &Flow, bytes: &[u8]) -> Bytes {
    let local = server.transactions.transports().local_addr(flow);
    let transport = if flow.is_reliable() { ";transport=tcp" } else { "" };
    let line = format!("Record-Route: <sip:{local};lr{transport}>\r\n");
    let at = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(bytes.len(), |i| i + 2);
    let mut out = Vec::with_capacity(bytes.len() + line.len());
    out.extend_from_slice(bytes.get(..at).unwrap_or(bytes));
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(bytes.get(at..).unwrap_or(&[]));
    Bytes::from(out)
}

/// The ACK for a non-2xx final `response` to our branch `invite` (§17.1.1.3).
pub fn ack_for(invite: &SipMessage, response: &SipMessage) -> Option<Bytes> {
    let mut buf = vec![0u8; 1024 + invite.raw().len()];
    let len = invite
        .with_view(|i| response.with_view(|r| ack_for_non_2xx(i, r, &mut buf).ok()))
        .flatten()
        .flatten()?;
    buf.truncate(len);
    Some(Bytes::from(buf))
}

/// Sends a CANCEL for our branch `invite` on `flow` (§9.1: same Request-URI, top Via, From, To,
/// Call-ID, CSeq number and Route as the INVITE), in its own non-INVITE client transaction.
pub fn send_cancel(server: &Arc<Server>, invite: &SipMessage, flow: Flow) {
    let Some(bytes) = cancel_for(invite) else {
        return;
    };
    let Some(branch) = invite.top_via().and_then(|v| v.branch).map(str::to_owned) else {
        return;
    };
    let server = server.clone();
    tokio::spawn(async move {
        let _ = server.transactions.request(flow, &branch, "CANCEL", bytes).await;
    });
}

fn cancel_for(invite: &SipMessage) -> Option<Bytes> {
    let mut buf = vec![0u8; 1024 + invite.raw().len()];
    let mut w = MessageWriter::request(&mut buf, Method::Cancel, invite.request_uri()?).ok()?;
    w.header(HeaderName::Via, &unfold(invite.values(HeaderName::Via).next()?))
        .ok()?;
    w.header(HeaderName::MaxForwards, "70").ok()?;
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        w.header(name, &unfold(invite.header(name)?)).ok()?;
    }
    let number = invite.header(HeaderName::CSeq)?.split_whitespace().next()?;
    w.header_fmt(HeaderName::CSeq, format_args!("{number} CANCEL"))
        .ok()?;
    for route in invite.values(HeaderName::Route) {
        w.header(HeaderName::Route, &unfold(route)).ok()?;
    }
    let len = w.finish(b"").ok()?;
    buf.truncate(len);
    Some(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@127.0.0.1:5072 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsim1\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\n\
Max-Forwards: 69\r\nRoute: <sip:127.0.0.1:5080;lr>\r\nFrom: <sip:alice@localhost>;tag=1\r\n\
To: <sip:bob@localhost>\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";

    fn parse(text: &str) -> SipMessage {
        SipMessage::parse(Bytes::copy_from_slice(text.as_bytes()), false).expect("valid")
    }

    #[test]
    fn cancel_copies_uri_top_via_from_to_call_id_route_and_the_cseq_number() {
        let cancel = parse(std::str::from_utf8(&cancel_for(&parse(INVITE)).unwrap()).unwrap());
        assert_eq!(cancel.method(), Some("CANCEL"));
        assert_eq!(cancel.request_uri(), Some("sip:bob@127.0.0.1:5072"));
        let vias: Vec<&str> = cancel.values(HeaderName::Via).collect();
        assert_eq!(vias, ["SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsim1"]);
        assert_eq!(cancel.header(HeaderName::CSeq), Some("7 CANCEL"));
        assert_eq!(cancel.header(HeaderName::Route), Some("<sip:127.0.0.1:5080;lr>"));
        assert_eq!(cancel.header(HeaderName::To), Some("<sip:bob@localhost>"));
        assert_eq!(cancel.call_id(), "c1");
    }

    #[test]
    fn ack_for_an_error_takes_the_responses_to_tag_and_the_invites_branch() {
        let response = parse(
            "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsim1\r\n\
From: <sip:alice@localhost>;tag=1\r\nTo: <sip:bob@localhost>;tag=b\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\n\
Content-Length: 0\r\n\r\n",
        );
        let ack = parse(std::str::from_utf8(&ack_for(&parse(INVITE), &response).unwrap()).unwrap());
        assert_eq!(ack.method(), Some("ACK"));
        assert_eq!(ack.top_via().unwrap().branch, Some("z9hG4bKsim1"));
        assert_eq!(ack.to().unwrap().tag(), Some("b"));
        assert_eq!(ack.header(HeaderName::CSeq), Some("7 ACK"));
    }
}
