//! Transaction keys and request classification built from parsed messages
//! (`sip::transaction::from_message`), with real messages and RFC 4475 vectors.

use simple_im_core::sip::transaction::*;
use simple_im_core::sip::{Header, Message, ParseConfig};
use simple_im_core::time::Instant;

const SLOTS: usize = 64;

macro_rules! vector {
    ($dir:literal, $name:literal) => {
        include_bytes!(concat!("vectors/rfc4475/", $dir, "/", $name, ".dat"))
    };
}

/// Parses `text` and hands the message to `f` (the header slots live only for the call).
fn with_message<T>(text: &[u8], f: impl FnOnce(&Message<'_, '_>) -> T) -> T {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = Message::parse_datagram(text, &mut slots, &ParseConfig::default()).expect("parses");
    f(&m)
}

fn server_key(text: &str) -> Result<TransactionKey, MatchError> {
    with_message(text.as_bytes(), server_key_for_request)
}

fn client_key(text: &str) -> Result<TransactionKey, MatchError> {
    with_message(text.as_bytes(), client_key_for_response)
}

/// A request with the given start line, top Via value and CSeq, and fixed dialog headers.
fn request(start: &str, via: &str, cseq: &str) -> String {
    format!(
        "{start}\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
         To: Bob <sip:bob@biloxi.example.com>\r\nCall-ID: 3848276298220188511@atlanta.example.com\r\n\
         CSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn response(status: &str, vias: &str, cseq: &str) -> String {
    format!(
        "SIP/2.0 {status}\r\n{vias}From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
         To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\nCall-ID: 3848276298220188511@atlanta.example.com\r\n\
         CSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    )
}

const INVITE_LINE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0";
const ACK_LINE: &str = "ACK sip:bob@biloxi.example.com SIP/2.0";
const CANCEL_LINE: &str = "CANCEL sip:bob@biloxi.example.com SIP/2.0";
const VIA: &str = "SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bKnashds8";

fn invite() -> String {
    request(INVITE_LINE, VIA, "314159 INVITE")
}

// ---- client side (§17.1.3) -----------------------------------------------------------------------

#[test]
fn response_key_is_top_via_branch_and_cseq_method() {
    let vias = format!("Via: {VIA}\r\nVia: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKother\r\n");
    let key = client_key(&response("200 OK", &vias, "314159 INVITE")).unwrap();
    assert_eq!(key, TransactionKey::client("z9hG4bKnashds8", "INVITE").unwrap());
    assert_eq!(key.role(), Role::Client);
    assert!(key.is_invite());
}

#[test]
fn response_to_cancel_does_not_match_the_invite() {
    let vias = format!("Via: {VIA}\r\n");
    let to_invite = client_key(&response("487 Request Terminated", &vias, "1 INVITE")).unwrap();
    let to_cancel = client_key(&response("200 OK", &vias, "1 CANCEL")).unwrap();
    assert_ne!(to_invite, to_cancel);
    assert_eq!(to_cancel.method(), "CANCEL");
}

#[test]
fn response_key_takes_the_first_value_of_a_comma_list_via() {
    let vias = "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKfirst, SIP/2.0/UDP b.example.com;branch=z9hG4bKsecond\r\n";
    let key = client_key(&response("200 OK", vias, "2 MESSAGE")).unwrap();
    assert_eq!(key.branch(), Some("z9hG4bKfirst"));
}

#[test]
fn response_without_cookie_branch_is_stray() {
    let vias = "Via: SIP/2.0/UDP a.example.com;branch=1234\r\n";
    assert_eq!(
        client_key(&response("200 OK", vias, "2 MESSAGE")),
        Err(MatchError::Key(KeyError::NotRfc3261Branch))
    );
    let no_branch = "Via: SIP/2.0/UDP a.example.com\r\n";
    assert_eq!(
        client_key(&response("200 OK", no_branch, "2 MESSAGE")),
        Err(MatchError::Key(KeyError::NotRfc3261Branch))
    );
}

#[test]
fn response_without_via_or_cseq_is_rejected() {
    let text = "SIP/2.0 200 OK\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(client_key(text), Err(MatchError::MissingVia));
    let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(client_key(text), Err(MatchError::MissingCSeq));
    let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: x\r\nContent-Length: 0\r\n\r\n";
    assert!(matches!(client_key(text), Err(MatchError::MalformedCSeq(_))));
    let text = "SIP/2.0 200 OK\r\nVia: nonsense\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
    assert!(matches!(client_key(text), Err(MatchError::MalformedVia(_))));
}

#[test]
fn keys_refuse_the_wrong_direction() {
    assert_eq!(client_key(&invite()), Err(MatchError::WrongDirection));
    let vias = format!("Via: {VIA}\r\n");
    assert_eq!(
        server_key(&response("200 OK", &vias, "1 INVITE")),
        Err(MatchError::WrongDirection)
    );
}

// ---- server side (§17.2.3) -----------------------------------------------------------------------

#[test]
fn request_key_is_branch_sent_by_and_method() {
    let key = server_key(&invite()).unwrap();
    assert_eq!(
        key,
        TransactionKey::server("z9hG4bKnashds8", "pc33.atlanta.example.com:5060", "INVITE").unwrap()
    );
    assert_eq!(key.role(), Role::Server);
}

#[test]
fn sent_by_host_compares_case_insensitively_and_port_as_written() {
    let upper = "SIP/2.0/UDP PC33.Atlanta.Example.COM:5060;branch=z9hG4bKnashds8";
    assert_eq!(
        server_key(&request(INVITE_LINE, upper, "314159 INVITE")).unwrap(),
        server_key(&invite()).unwrap()
    );
    let no_port = "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8";
    assert_ne!(
        server_key(&request(INVITE_LINE, no_port, "314159 INVITE")).unwrap(),
        server_key(&invite()).unwrap()
    );
    let other_host = "SIP/2.0/UDP pc34.atlanta.example.com:5060;branch=z9hG4bKnashds8";
    assert_ne!(
        server_key(&request(INVITE_LINE, other_host, "314159 INVITE")).unwrap(),
        server_key(&invite()).unwrap()
    );
}

#[test]
fn ipv6_sent_by_is_written_canonically() {
    let long = "SIP/2.0/UDP [2001:db8:0:0:0:0:0:1]:5070;branch=z9hG4bKv6";
    let short = "SIP/2.0/UDP [2001:DB8::1]:5070;branch=z9hG4bKv6";
    let key = server_key(&request(INVITE_LINE, long, "1 INVITE")).unwrap();
    assert_eq!(key, server_key(&request(INVITE_LINE, short, "1 INVITE")).unwrap());
    assert_eq!(
        key,
        TransactionKey::server("z9hG4bKv6", "[2001:db8::1]:5070", "INVITE").unwrap()
    );
}

#[test]
fn ack_and_invite_share_a_key_cancel_does_not() {
    let invite = server_key(&invite()).unwrap();
    let ack = server_key(&request(ACK_LINE, VIA, "314159 ACK")).unwrap();
    let cancel = server_key(&request(CANCEL_LINE, VIA, "314159 CANCEL")).unwrap();
    assert_eq!(ack, invite);
    assert_ne!(cancel, invite);
    assert_eq!(cancel.method(), "CANCEL");
}

#[test]
fn cancel_target_is_the_invite_transaction() {
    let cancel = request(CANCEL_LINE, VIA, "314159 CANCEL");
    let target = with_message(cancel.as_bytes(), cancel_target_key).unwrap();
    assert_eq!(target, server_key(&invite()).unwrap());
    assert_eq!(
        with_message(invite().as_bytes(), cancel_target_key),
        Err(MatchError::WrongDirection)
    );
}

#[test]
fn cancel_target_of_an_rfc2543_cancel_is_the_fallback_invite_key() {
    let via = "SIP/2.0/UDP old.example.com";
    let invite = server_key(&request(INVITE_LINE, via, "7 INVITE")).unwrap();
    let cancel = request(CANCEL_LINE, via, "7 CANCEL");
    assert_eq!(
        with_message(cancel.as_bytes(), cancel_target_key).unwrap(),
        invite
    );
}

/// RFC 4475 §3.2.1: the branch is exactly the cookie, so the request is matched the RFC 2543 way.
#[test]
fn rfc4475_transaction_badbranch() {
    let key = with_message(vector!("transaction", "badbranch"), server_key_for_request).unwrap();
    assert_eq!(key.branch(), None);
    assert_eq!(key.method(), "OPTIONS");
    let pieces = Rfc2543Pieces {
        request_uri: "sip:user@example.com",
        from_tag: "33242",
        call_id: "badbranch.sadonfo23i420jv0as0derf3j3n",
        cseq_number: 8,
        method: "OPTIONS",
        top_via: "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK",
    };
    assert_eq!(key, TransactionKey::server_rfc2543(&pieces).unwrap());
    let classified = with_message(vector!("transaction", "badbranch"), |m| {
        classify_request(m, |_| false)
    });
    assert_eq!(classified, Ok(ReceivedRequest::New(key)));
}

/// RFC 4475 §3.4.1: an RFC 2543 INVITE with no branch at all; its ACK matches by the fallback rule.
#[test]
fn rfc4475_backward_inv2543() {
    let bytes = vector!("backward", "inv2543");
    let key = with_message(bytes, server_key_for_request).unwrap();
    assert_eq!(key.branch(), None);
    assert!(key.is_invite());
    let text = std::str::from_utf8(bytes).unwrap();
    let ack = text
        .replacen("INVITE sip:UserB", "ACK sip:UserB", 1)
        .replace("CSeq: 56 INVITE", "CSeq: 56 ACK");
    assert_eq!(server_key(&ack).unwrap(), key);
    let next = text.replace("CSeq: 56 INVITE", "CSeq: 57 INVITE");
    assert_ne!(server_key(&next).unwrap(), key);
}

/// RFC 4475 §3.1.1.1: the Via is spread over folded lines with LWS everywhere, and its top value's
/// branch (`390skdjuw`) has no cookie, so the key is an RFC 2543 one; the second value's cookie branch
/// must not be picked up.
#[test]
fn rfc4475_wellformed_wsinv() {
    let key = with_message(vector!("wellformed", "wsinv"), server_key_for_request).unwrap();
    assert!(key.is_invite());
    assert_eq!(key.branch(), None);
    let again = with_message(vector!("wellformed", "wsinv"), |m| {
        classify_request(m, |k| *k == key)
    });
    assert_eq!(again, Ok(ReceivedRequest::Retransmission(key)));
}

#[test]
fn rfc2543_fallback_needs_call_id_and_from() {
    let text = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:x@y>;tag=1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(server_key(text), Err(MatchError::MissingCallId));
    let text = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(server_key(text), Err(MatchError::MissingFrom));
    // With an RFC 3261 branch none of them is needed.
    let text = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    assert!(server_key(text).is_ok());
}

#[test]
fn overlong_sent_by_is_a_key_error() {
    let host = format!("{}.example.com", "a".repeat(70));
    let via = format!("SIP/2.0/UDP {host};branch=z9hG4bK1");
    assert_eq!(
        server_key(&request(INVITE_LINE, &via, "1 INVITE")),
        Err(MatchError::Key(KeyError::SentByTooLong))
    );
}

// ---- classification against a table -------------------------------------------------------------

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

#[test]
fn classify_new_retransmission_ack_and_ack_for_2xx() {
    let mut table: TransactionTable<Vec<u8>, 8> = TransactionTable::new();
    let invite = invite();
    let first = with_message(invite.as_bytes(), |m| table.classify(m)).unwrap();
    let ReceivedRequest::New(key) = first.clone() else {
        panic!("expected New, got {first:?}");
    };
    assert_eq!(first.server_request(), None);
    let tx = ServerInvite::new(at(0), TimerConfig::default(), Reliability::Unreliable);
    table
        .insert(at(0), key.clone(), Transaction::ServerInvite(tx))
        .unwrap();

    let again = with_message(invite.as_bytes(), |m| table.classify(m)).unwrap();
    assert_eq!(again, ReceivedRequest::Retransmission(key.clone()));
    assert_eq!(again.server_request(), Some(ServerRequest::Retransmission));
    table
        .handle_request(at(10), again.key(), again.server_request().unwrap())
        .unwrap();

    let ack = request(ACK_LINE, VIA, "314159 ACK");
    let acked = with_message(ack.as_bytes(), |m| table.classify(m)).unwrap();
    assert_eq!(acked, ReceivedRequest::AckForInvite(key.clone()));
    assert_eq!(acked.server_request(), Some(ServerRequest::Ack));

    // The ACK for a 2xx carries a new branch (§13.2.2.4): no transaction owns it.
    let ack_2xx = request(
        ACK_LINE,
        "SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bKnew",
        "314159 ACK",
    );
    let stray = with_message(ack_2xx.as_bytes(), |m| table.classify(m)).unwrap();
    assert!(matches!(stray, ReceivedRequest::AckWithoutTransaction(ref k) if k.is_invite()));
    assert_eq!(stray.server_request(), None);

    // A CANCEL is a new transaction of its own; its target is the INVITE's.
    let cancel = request(CANCEL_LINE, VIA, "314159 CANCEL");
    let cancelled = with_message(cancel.as_bytes(), |m| table.classify(m)).unwrap();
    assert!(matches!(cancelled, ReceivedRequest::New(ref k) if k.method() == "CANCEL"));
    let target = with_message(cancel.as_bytes(), cancel_target_key).unwrap();
    assert!(table.get(&target).is_some());
}

#[test]
fn classify_with_any_lookup() {
    let invite = invite();
    let known = server_key(&invite).unwrap();
    let result = with_message(invite.as_bytes(), |m| classify_request(m, |k| *k == known));
    assert_eq!(result, Ok(ReceivedRequest::Retransmission(known.clone())));
    let message = request(
        "MESSAGE sip:bob@biloxi.example.com SIP/2.0",
        VIA,
        "314160 MESSAGE",
    );
    let result = with_message(message.as_bytes(), |m| classify_request(m, |k| *k == known));
    assert!(matches!(result, Ok(ReceivedRequest::New(ref k)) if k.method() == "MESSAGE"));
}
