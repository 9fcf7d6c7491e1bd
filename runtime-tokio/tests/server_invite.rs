//! INVITE through the proxy with two test UAs: a whole call (100, 180, 200, ACK, BYE by Route), CANCEL
//! before the answer, forking to two contacts, an offline callee, and an unauthenticated caller.

mod server_support;

use server_support::{registered, start, tcp_addr, udp_addr, Ua};
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::reply;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::Options;
use std::time::Duration;

/// A dialog-forming request's fixed parts, as the caller keeps them.
struct Call {
    call_id: String,
    from: String,
    cseq: u32,
}

impl Call {
    fn new(caller: &Ua, id: &str) -> Call {
        Call {
            call_id: format!("{id}-{}", caller.local().port()),
            from: format!("<sip:{}@localhost>;tag=c{}", caller.name, caller.local().port()),
            cseq: 1,
        }
    }
}

/// The text of a request from `ua` in `call`. CANCEL and the ACK for an error (no Route) share the
/// INVITE's branch (RFC 3261 §9.1, §17.1.1.3); other requests, the ACK for a 2xx included, get their own.
fn request(ua: &Ua, call: &Call, method: &str, uri: &str, to: &str, extra: &[(&str, String)]) -> Vec<u8> {
    let branch_kind = match method {
        "CANCEL" => "INVITE",
        "ACK" if extra.is_empty() => "INVITE",
        other => other,
    };
    let transport = if ua.contact().ends_with(";transport=tcp") {
        "TCP"
    } else {
        "UDP"
    };
    let mut text = format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{transport} {};branch=z9hG4bK{branch_kind}{}{};rport\r\nMax-Forwards: 70\r\n\
From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\nContact: <{}>\r\n",
        ua.local(),
        call.cseq,
        call.call_id,
        call.from,
        call.call_id,
        call.cseq,
        ua.contact()
    );
    for (name, value) in extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    text.into_bytes()
}

/// The next message that is a response with `code`, skipping others.
async fn response_with(ua: &mut Ua, code: u16) -> SipMessage {
    loop {
        let msg = ua.receive().await.unwrap_or_else(|| panic!("no {code} arrived"));
        if msg.status() == Some(code) {
            return msg;
        }
    }
}

/// The next request with `method`, skipping others.
async fn request_with(ua: &mut Ua, method: &str) -> SipMessage {
    loop {
        let msg = ua
            .receive()
            .await
            .unwrap_or_else(|| panic!("no {method} arrived"));
        if msg.method() == Some(method) {
            return msg;
        }
    }
}

/// The callee's response to `req`, copying Record-Route as a UAS must (RFC 3261 §12.1.1).
async fn answer(ua: &mut Ua, req: &SipMessage, code: u16, reason: &str) {
    let mut headers = vec![("Contact", format!("<{}>", ua.contact()))];
    for rr in req.values(HeaderName::RecordRoute) {
        headers.push(("Record-Route", rr.to_owned()));
    }
    let bytes = reply::build(req, None, code, reason, &headers, None).expect("response");
    ua.send_raw(&bytes).await;
}

/// Alice INVITEs `callee`: the 407 is ACKed and answered; returns the call after the 100 Trying.
async fn invite_authenticated(alice: &mut Ua, call: &mut Call, callee: &str) {
    let uri = format!("sip:{callee}@localhost");
    let to = format!("<{uri}>");
    alice
        .send_raw(&request(alice, call, "INVITE", &uri, &to, &[]))
        .await;
    let challenge = response_with(alice, 407).await;
    let challenge_to = challenge.header(HeaderName::To).unwrap().to_owned();
    alice
        .send_raw(&request(alice, call, "ACK", &uri, &challenge_to, &[]))
        .await;
    let credentials = alice.authorization(&challenge, "INVITE", &uri, b"");
    call.cseq += 1;
    alice
        .send_raw(&request(alice, call, "INVITE", &uri, &to, &[credentials]))
        .await;
    response_with(alice, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_ringing_answer_ack_and_bye_pass_through_the_record_routing_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let mut call = Call::new(&alice, "call");
    invite_authenticated(&mut alice, &mut call, "bob").await;

    let invite = request_with(&mut bob, "INVITE").await;
    assert_eq!(invite.request_uri(), Some(bob.contact().as_str()));
    let record_route = invite
        .header(HeaderName::RecordRoute)
        .expect("Record-Route")
        .to_owned();
    assert!(
        record_route.contains(&udp_addr(&running).to_string()) && record_route.contains(";lr"),
        "{record_route}"
    );
    assert!(
        invite.header(HeaderName::ProxyAuthorization).is_none(),
        "our credentials are consumed"
    );
    answer(&mut bob, &invite, 180, "Ringing").await;
    assert_eq!(response_with(&mut alice, 180).await.status(), Some(180));
    answer(&mut bob, &invite, 200, "OK").await;
    let ok = response_with(&mut alice, 200).await;
    assert_eq!(ok.header(HeaderName::RecordRoute), Some(record_route.as_str()));
    assert_eq!(ok.values(HeaderName::Via).count(), 1, "our Via is removed");

    // The dialog: remote target bob's Contact, route set the Record-Route.
    let to = ok.header(HeaderName::To).unwrap().to_owned();
    let target = bob.contact();
    let route = [("Route", record_route.clone())];
    alice
        .send_raw(&request(&alice, &call, "ACK", &target, &to, &route))
        .await;
    let ack = request_with(&mut bob, "ACK").await;
    assert!(
        ack.header(HeaderName::Route).is_none(),
        "the proxy removes its own Route entry"
    );
    assert_eq!(ack.request_uri(), Some(target.as_str()));

    call.cseq += 1;
    alice
        .send_raw(&request(&alice, &call, "BYE", &target, &to, &route))
        .await;
    let bye = request_with(&mut bob, "BYE").await;
    assert_eq!(
        bye.values(HeaderName::Via).count(),
        2,
        "the BYE came through the proxy"
    );
    let bye_ok = reply::build(&bye, None, 200, "OK", &[], None).unwrap();
    bob.send_raw(&bye_ok).await;
    let done = response_with(&mut alice, 200).await;
    assert_eq!(done.cseq_method(), Some("BYE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_the_answer_gets_200_and_the_invite_487() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let mut call = Call::new(&alice, "cancel");
    invite_authenticated(&mut alice, &mut call, "bob").await;
    let invite = request_with(&mut bob, "INVITE").await;
    answer(&mut bob, &invite, 180, "Ringing").await;
    response_with(&mut alice, 180).await;

    // The CANCEL carries the INVITE's branch and CSeq number (RFC 3261 §9.1).
    let cancel = request(
        &alice,
        &call,
        "CANCEL",
        "sip:bob@localhost",
        "<sip:bob@localhost>",
        &[],
    );
    alice.send_raw(&cancel).await;
    let cancel_ok = response_with(&mut alice, 200).await;
    assert_eq!(cancel_ok.cseq_method(), Some("CANCEL"));

    let forwarded = request_with(&mut bob, "CANCEL").await;
    assert_eq!(
        forwarded.top_via().unwrap().branch,
        invite.top_via().unwrap().branch
    );
    bob.send_raw(&reply::build(&forwarded, None, 200, "OK", &[], None).unwrap())
        .await;
    answer(&mut bob, &invite, 487, "Request Terminated").await;
    let ack = request_with(&mut bob, "ACK").await;
    assert_eq!(
        ack.top_via().unwrap().branch,
        invite.top_via().unwrap().branch,
        "the proxy ACKs the 487 hop by hop"
    );
    let terminated = response_with(&mut alice, 487).await;
    assert_eq!(terminated.cseq_method(), Some("INVITE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forking_to_two_contacts_cancels_the_one_that_did_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut desk = registered(&running, "bob").await;
    let mut phone = registered(&running, "bob").await;
    assert_eq!(running.server.location.lookup("bob").len(), 2);
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let mut call = Call::new(&alice, "fork");
    invite_authenticated(&mut alice, &mut call, "bob").await;

    let at_desk = request_with(&mut desk, "INVITE").await;
    let at_phone = request_with(&mut phone, "INVITE").await;
    answer(&mut desk, &at_desk, 180, "Ringing").await;
    answer(&mut phone, &at_phone, 180, "Ringing").await;
    answer(&mut phone, &at_phone, 200, "OK").await;
    let ok = response_with(&mut alice, 200).await;
    assert_eq!(ok.cseq_method(), Some("INVITE"));

    let cancel = request_with(&mut desk, "CANCEL").await;
    assert_eq!(
        cancel.top_via().unwrap().branch,
        at_desk.top_via().unwrap().branch
    );
    assert!(
        phone
            .receive_within(Duration::from_millis(300))
            .await
            .is_none_or(|m| m.method() != Some("CANCEL")),
        "the answering branch is not cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_to_an_offline_user_is_480_and_the_error_is_acked() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let mut call = Call::new(&alice, "offline");
    invite_authenticated(&mut alice, &mut call, "bob").await;
    let unavailable = response_with(&mut alice, 480).await;
    assert_eq!(unavailable.cseq_method(), Some("INVITE"));
    // An ACK to the error ends the server transaction: the 480 is not retransmitted (timer G).
    let to = unavailable.header(HeaderName::To).unwrap().to_owned();
    alice
        .send_raw(&request(&alice, &call, "ACK", "sip:bob@localhost", &to, &[]))
        .await;
    assert!(alice.receive_within(Duration::from_millis(1200)).await.is_none());

    let mut nobody = Call::new(&alice, "unknown");
    invite_authenticated(&mut alice, &mut nobody, "carol").await;
    assert_eq!(response_with(&mut alice, 404).await.cseq_method(), Some("INVITE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_invite_is_challenged_with_407_and_100_comes_first() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let call = Call::new(&alice, "noauth");
    let uri = "sip:bob@localhost";
    alice
        .send_raw(&request(&alice, &call, "INVITE", uri, "<sip:bob@localhost>", &[]))
        .await;
    let first = alice.receive().await.expect("a response");
    assert_eq!(first.status(), Some(100), "100 Trying at once");
    let challenge = response_with(&mut alice, 407).await;
    assert!(challenge.header(HeaderName::ProxyAuthenticate).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_2xx_of_a_forked_invite_is_relayed() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut desk = registered(&running, "bob").await;
    let mut phone = registered(&running, "bob").await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let mut call = Call::new(&alice, "both");
    invite_authenticated(&mut alice, &mut call, "bob").await;
    let at_desk = request_with(&mut desk, "INVITE").await;
    let at_phone = request_with(&mut phone, "INVITE").await;
    // Both answer before any provisional, so neither branch is cancelled (RFC 3261 §9.1).
    answer(&mut phone, &at_phone, 200, "OK").await;
    answer(&mut desk, &at_desk, 200, "OK").await;
    let first = response_with(&mut alice, 200).await;
    let second = response_with(&mut alice, 200).await;
    let contacts: Vec<&str> = [&first, &second]
        .iter()
        .map(|r| r.header(HeaderName::Contact).unwrap())
        .collect();
    assert!(
        contacts.iter().any(|c| c.contains(&desk.contact())),
        "{contacts:?}"
    );
    assert!(
        contacts.iter().any(|c| c.contains(&phone.contact())),
        "{contacts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_dialog_requests_without_our_route_are_not_relayed() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let call = Call::new(&alice, "norr");
    let bye = request(
        &alice,
        &call,
        "BYE",
        &bob.contact(),
        "<sip:bob@localhost>;tag=x",
        &[],
    );
    alice.send_raw(&bye).await;
    assert_eq!(response_with(&mut alice, 405).await.cseq_method(), Some("BYE"));
    assert!(bob.receive_within(Duration::from_millis(300)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_tcp_routes_the_bye_on_the_callees_registered_connection() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut bob = Ua::tcp("bob", "bob-pw", tcp_addr(&running)).await;
    assert_eq!(bob.register(600).await.status(), Some(200));
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let mut call = Call::new(&alice, "tcp");
    invite_authenticated(&mut alice, &mut call, "bob").await;
    let invite = request_with(&mut bob, "INVITE").await;
    let record_route = invite.header(HeaderName::RecordRoute).unwrap().to_owned();
    assert!(record_route.contains(";transport=tcp"), "{record_route}");
    answer(&mut bob, &invite, 200, "OK").await;
    let ok = response_with(&mut alice, 200).await;
    let to = ok.header(HeaderName::To).unwrap().to_owned();
    let route = [("Route", record_route)];
    alice
        .send_raw(&request(&alice, &call, "ACK", &bob.contact(), &to, &route))
        .await;
    request_with(&mut bob, "ACK").await;
    call.cseq += 1;
    alice
        .send_raw(&request(&alice, &call, "BYE", &bob.contact(), &to, &route))
        .await;
    let bye = request_with(&mut bob, "BYE").await;
    bob.send_raw(&reply::build(&bye, None, 200, "OK", &[], None).unwrap())
        .await;
    assert_eq!(response_with(&mut alice, 200).await.cseq_method(), Some("BYE"));
}
