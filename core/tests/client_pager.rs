//! Pager mode, IMDN, barring and error answers of the IM client, row by row of the incoming-request
//! table in the `client` module docs and the outgoing table in `client::pager`.

mod client_harness;

use client_harness::{body_of, config, header_of, Seen, World};
use core::time::Duration;
use simple_im_core::client::{ClientEvent, CommandError, Destination, Disposition, ImdnRequest};
use simple_im_core::cpim;
use simple_im_core::imdn::{NotificationKind, Received, Status};
use simple_im_core::sim::{LinkConfig, SimRng};
use simple_im_core::sip::HeaderName;

fn registered(link: LinkConfig, seed: u64) -> World {
    let mut w = World::new(config(), link, seed);
    let now = w.now();
    w.client.register(now).unwrap();
    w.run_for_secs(60);
    assert!(
        w.events().contains(&ClientEvent::Registered { expires: 600 }),
        "{:?}",
        w.events()
    );
    w.seen.clear();
    w
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

const IM_ASKING_IMDN: &str = "From: Bob <sip:bob@example.com>\r\n\
To: Alice <sip:alice@example.com>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\n\
imdn.Message-ID: 34jk324j\r\n\
DateTime: 2006-04-04T12:16:49-05:00\r\n\
imdn.Disposition-Notification: positive-delivery, display\r\n\
\r\n\
Content-Type: text/plain\r\n\
Content-Length: 12\r\n\
\r\n\
Hello World!";

#[test]
fn outgoing_2xx_reports_pager_sent_and_the_server_gets_the_body() {
    let mut w = registered(LinkConfig::PERFECT, 10);
    let now = w.now();
    let handle = w
        .client
        .send_pager(now, "sip:bob@example.com", "text/plain", b"hi bob", None)
        .unwrap();
    w.run_for_secs(5);
    assert_eq!(w.events(), vec![ClientEvent::PagerSent { handle }]);
    assert_eq!(w.server.requests.len(), 1);
    let raw = &w.server.requests[0];
    assert!(raw.starts_with(b"MESSAGE sip:bob@example.com SIP/2.0\r\n"));
    assert_eq!(body_of(raw), b"hi bob");
    assert_eq!(
        header_of(raw, HeaderName::ContentType).as_deref(),
        Some("text/plain")
    );
}

#[test]
fn message_otherwise_answers_200_and_reports_pager_received() {
    let mut w = registered(LinkConfig::PERFECT, 11);
    let now = w.now();
    w.server
        .send_request(now, "MESSAGE", "text/plain", b"hello alice");
    w.run_for_secs(5);
    assert_eq!(
        w.pagers(),
        vec![Seen::Pager {
            from: "\"Bob\" <sip:bob@example.com>;tag=b0b".into(),
            content_type: "text/plain".into(),
            body: b"hello alice".to_vec(),
            message_id: None,
            display_handle: None,
        }]
    );
    let statuses: Vec<u16> = w.server.responses.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, vec![200]);
}

#[test]
fn lossy_link_30_percent_pagers_arrive_once_each_way() {
    let link = LinkConfig::lossy(30, Duration::from_millis(5), Duration::from_millis(60));
    for seed in [21u64, 22, 23, 24] {
        let mut w = registered(link, seed);
        let now = w.now();
        let handle = w
            .client
            .send_pager(now, "sip:bob@example.com", "text/plain", b"through loss", None)
            .unwrap();
        w.server
            .send_request(now, "MESSAGE", "text/plain", b"back through loss");
        w.run_for_secs(40);
        assert_eq!(
            w.server.requests.len(),
            1,
            "seed {seed}: the device's MESSAGE arrived once"
        );
        assert_eq!(body_of(&w.server.requests[0]), b"through loss");
        assert_eq!(
            w.pagers().len(),
            1,
            "seed {seed}: retransmissions are not reported twice"
        );
        assert!(
            w.events().contains(&ClientEvent::PagerSent { handle }),
            "seed {seed}: {:?}",
            w.events()
        );
        assert!(
            w.up.stats().lost + w.down.stats().lost > 0,
            "seed {seed}: the link lost something"
        );
    }
}

#[test]
fn message_cpim_asking_imdn_gets_delivery_notification_then_display_on_mark_displayed() {
    let mut w = registered(LinkConfig::PERFECT, 12);
    let now = w.now();
    w.server
        .send_request(now, "MESSAGE", "message/cpim", IM_ASKING_IMDN.as_bytes());
    w.run_for_secs(5);
    let pagers = w.pagers();
    let Seen::Pager {
        from,
        content_type,
        body,
        message_id,
        display_handle,
    } = &pagers[0]
    else {
        panic!()
    };
    assert_eq!(
        (from.as_str(), content_type.as_str()),
        ("Bob <sip:bob@example.com>", "text/plain")
    );
    assert_eq!(
        (body.as_slice(), message_id.as_deref()),
        (&b"Hello World!"[..], Some("34jk324j"))
    );
    let display = display_handle.expect("display was asked");

    assert_eq!(w.server.requests.len(), 1, "the delivery notification");
    let delivery = &w.server.requests[0];
    assert!(delivery.starts_with(b"MESSAGE sip:bob@example.com SIP/2.0\r\n"));
    assert_eq!(
        header_of(delivery, HeaderName::ContentType).as_deref(),
        Some("message/cpim")
    );
    let body = body_of(delivery);
    assert!(contains(&body, "<delivered/>") && contains(&body, "<message-id>34jk324j</message-id>"));
    assert!(contains(&body, "Content-Disposition: notification"));

    let now = w.now();
    w.client.mark_displayed(now, display).unwrap();
    w.run_for_secs(5);
    assert_eq!(w.server.requests.len(), 2, "the display notification");
    let body = body_of(&w.server.requests[1]);
    assert!(contains(&body, "<displayed/>") && contains(&body, "<message-id>34jk324j</message-id>"));
    assert_eq!(
        w.client.mark_displayed(now, display),
        Err(simple_im_core::client::CommandError::UnknownHandle)
    );
}

#[test]
fn message_cpim_with_imdn_payload_reports_notifications_for_our_handle() {
    let mut w = registered(LinkConfig::PERFECT, 13);
    let now = w.now();
    let ask = ImdnRequest {
        date_time: "2026-11-24T02:00:00Z",
        display: true,
    };
    let handle = w
        .client
        .send_pager(now, "sip:bob@example.com", "text/plain", b"tell me", Some(ask))
        .unwrap();
    w.run_for_secs(5);
    let sent = body_of(&w.server.requests[0]);
    // The peer reads the IM's IMDN request with the core tracker and answers both notifications.
    let im = cpim::Message::parse(&sent).unwrap();
    assert_eq!(im.body(), b"tell me");
    let mut received = Received::from_cpim(&im).unwrap().expect("asks for IMDN");
    let mut rng = SimRng::new(5);
    for (kind, status) in [received.delivered().unwrap(), received.displayed().unwrap()] {
        let mut buf = [0u8; 1024];
        let len = received
            .build_notification(kind, status, None, &mut rng, &mut buf)
            .unwrap();
        let now = w.now();
        w.server.send_request(now, "MESSAGE", "message/cpim", &buf[..len]);
        w.run_for_secs(2);
    }
    let notes: Vec<ClientEvent> = w
        .events()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                ClientEvent::DeliveryNotification { .. } | ClientEvent::DisplayNotification { .. }
            )
        })
        .collect();
    assert_eq!(notes.len(), 2);
    assert!(
        matches!(notes[0], ClientEvent::DeliveryNotification { handle: Some(h), status: Disposition::Success, .. } if h == handle)
    );
    assert!(
        matches!(notes[1], ClientEvent::DisplayNotification { handle: Some(h), status: Disposition::Success, .. } if h == handle)
    );
    assert!(w.pagers().is_empty(), "notifications are not reported as IMs");
    let _ = (NotificationKind::Delivery, Status::Delivered);
}

/// A URI-list server's aggregated notification (RFC 5438 §8.3): each `message/imdn+xml` part is
/// reported for our handle, and nothing is reported as an IM.
#[test]
fn an_aggregated_notification_reports_every_part() {
    let mut w = registered(LinkConfig::PERFECT, 15);
    let now = w.now();
    let ask = ImdnRequest {
        date_time: "2026-11-24T02:00:00Z",
        display: false,
    };
    let handle = w
        .client
        .send_pager(
            now,
            "sip:exploder@example.com",
            "text/plain",
            b"to all",
            Some(ask),
        )
        .unwrap();
    w.run_for_secs(5);
    let sent = body_of(&w.server.requests[0]);
    let im = cpim::Message::parse(&sent).unwrap();
    let message_id = im.get(cpim::IMDN_NS, "Message-ID").unwrap().value;
    let document = |recipient: &str, status: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">\
             <message-id>{message_id}</message-id><datetime>2026-11-24T02:00:00Z</datetime>\
             <recipient-uri>{recipient}</recipient-uri><delivery-notification><status><{status}/></status>\
             </delivery-notification></imdn>"
        )
    };
    let content = format!(
        "--agg\r\nContent-Type: message/imdn+xml\r\n\r\n{}\r\n--agg\r\nContent-Type: message/imdn+xml\r\n\r\n{}\r\n--agg--\r\n",
        document("sip:bob@example.com", "delivered"),
        document("sip:carol@example.com", "failed")
    );
    let aggregated = format!(
        "From: <sip:exploder@example.com>\r\nTo: <sip:alice@example.com>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\
         imdn.Message-ID: agg1\r\n\r\nContent-Type: multipart/mixed;boundary=\"agg\"\r\n\
         Content-Disposition: notification\r\nContent-Length: {}\r\n\r\n{content}",
        content.len()
    );
    let now = w.now();
    w.server
        .send_request(now, "MESSAGE", "message/cpim", aggregated.as_bytes());
    w.run_for_secs(2);
    let statuses: std::vec::Vec<Disposition> = w
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::DeliveryNotification {
                handle: Some(h),
                status,
                ..
            } if h == handle => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [Disposition::Success, Disposition::Failed]);
    assert!(w.pagers().is_empty(), "an aggregated notification is not an IM");
}

#[test]
fn message_incoming_ims_barred_answers_480_after_the_publish() {
    let mut w = registered(LinkConfig::PERFECT, 14);
    let now = w.now();
    w.client.set_barring(now, true).unwrap();
    w.run_for_secs(3);
    assert_eq!(
        w.events(),
        vec![ClientEvent::BarringPublished {
            barred: true,
            status: 200
        }]
    );
    let publish = &w.server.requests[0];
    assert!(publish.starts_with(b"PUBLISH sip:alice@example.com SIP/2.0\r\n"));
    assert_eq!(
        header_of(publish, HeaderName::Event).as_deref(),
        Some("simple-im-settings")
    );
    assert!(contains(
        &body_of(publish),
        "<incoming-im-barring>true</incoming-im-barring>"
    ));

    let now = w.now();
    w.server
        .send_request(now, "MESSAGE", "text/plain", b"are you there");
    w.run_for_secs(3);
    assert!(w.pagers().is_empty());
    assert!(w.events().contains(&ClientEvent::IncomingBarred));
    assert_eq!(
        w.server.responses.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![480]
    );

    let now = w.now();
    w.client.set_barring(now, false).unwrap();
    w.server.send_request(now, "MESSAGE", "text/plain", b"now?");
    w.run_for_secs(3);
    assert_eq!(w.pagers().len(), 1);
}

fn message_from_peer(cseq_method: &str, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:alice@device.invalid SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-{cseq_method}-{len}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:carol@example.com>;tag=c1\r\nTo: <sip:alice@example.com>\r\n\
         Call-ID: peer-{cseq_method}-{len}\r\nCSeq: 7 {cseq_method}\r\nContent-Type: text/plain\r\n\
         Content-Length: {len}\r\n\r\n{body}",
        len = body.len()
    )
    .into_bytes()
}

fn status_of(raw: &[u8]) -> &str {
    std::str::from_utf8(&raw[..raw.iter().position(|&b| b == b'\r').unwrap()]).unwrap()
}

#[test]
fn any_failing_check_answers_400_with_the_defect_and_the_next_message_is_handled() {
    let mut w = registered(LinkConfig::PERFECT, 15);
    let answers = w.inject(&message_from_peer("INVITE", "bad"));
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].0, Destination::Peer(9));
    let line = status_of(&answers[0].1);
    assert!(line.starts_with("SIP/2.0 400 Bad Request ("), "{line}");
    assert!(line.contains("CSeq"), "the reason names the defect: {line}");
    assert_eq!(w.events(), vec![ClientEvent::Rejected { status: 400 }]);

    let answers = w.inject(&message_from_peer("MESSAGE", "good"));
    assert_eq!(status_of(&answers[0].1), "SIP/2.0 200 OK");
    assert_eq!(w.pagers().len(), 1);
}

#[test]
fn any_unparseable_input_is_dropped_without_answer() {
    let mut w = registered(LinkConfig::PERFECT, 16);
    for garbage in [
        &b"\x00\x01garbage"[..],
        b"MESSAGE\r\n\r\n",
        b"",
        b"SIP/2.0 999999 x\r\n\r\n",
    ] {
        assert!(w.inject(garbage).is_empty());
    }
    assert!(w
        .events()
        .iter()
        .all(|e| *e == ClientEvent::Rejected { status: 0 }));
    let answers = w.inject(&message_from_peer("MESSAGE", "still alive"));
    assert_eq!(status_of(&answers[0].1), "SIP/2.0 200 OK");
}

#[test]
fn message_body_over_max_pager_size_answers_413() {
    let mut w = registered(LinkConfig::PERFECT, 17);
    let big = "x".repeat(1500);
    let answers = w.inject(&message_from_peer("MESSAGE", &big));
    assert_eq!(status_of(&answers[0].1), "SIP/2.0 413 Request Entity Too Large");
    assert_eq!(w.events(), vec![ClientEvent::Rejected { status: 413 }]);
    assert!(w.pagers().is_empty());
}

#[test]
fn message_retransmitted_gets_the_same_answer_and_one_event() {
    let mut w = registered(LinkConfig::PERFECT, 18);
    let msg = message_from_peer("MESSAGE", "once");
    let first = w.inject(&msg);
    let second = w.inject(&msg);
    assert_eq!(first.len(), 1);
    assert_eq!(second, first, "the server transaction resends its response");
    assert_eq!(w.pagers().len(), 1);
}

#[test]
fn other_methods_get_405_bye_without_dialog_481_and_invite_without_sdp_488() {
    let mut w = registered(LinkConfig::PERFECT, 19);
    let info = String::from_utf8(message_from_peer("MESSAGE", ""))
        .unwrap()
        .replace("MESSAGE", "INFO");
    let answers = w.inject(info.as_bytes());
    assert_eq!(status_of(&answers[0].1), "SIP/2.0 405 Method Not Allowed");
    assert!(contains(
        &answers[0].1,
        "Allow: INVITE, ACK, BYE, MESSAGE, OPTIONS\r\n"
    ));
    let bye = String::from_utf8(message_from_peer("MESSAGE", ""))
        .unwrap()
        .replace("MESSAGE", "BYE");
    let answers = w.inject(bye.as_bytes());
    assert_eq!(
        status_of(&answers[0].1),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
    let invite = String::from_utf8(message_from_peer("MESSAGE", ""))
        .unwrap()
        .replace("MESSAGE", "INVITE");
    let answers = w.inject(invite.as_bytes());
    assert_eq!(status_of(&answers[0].1), "SIP/2.0 488 Not Acceptable Here");
}

#[test]
fn outgoing_407_not_yet_authenticated_resends_with_credentials_and_cseq_plus_one() {
    let mut w = registered(LinkConfig::PERFECT, 30);
    w.server.challenge_messages = true;
    let now = w.now();
    let handle = w
        .client
        .send_pager(now, "sip:bob@example.com", "text/plain", b"let me in", None)
        .unwrap();
    w.run_for_secs(5);
    assert_eq!(w.events(), vec![ClientEvent::PagerSent { handle }]);
    assert_eq!(
        w.server.requests.len(),
        1,
        "only the authorized MESSAGE is accepted"
    );
    let accepted = &w.server.requests[0];
    assert_eq!(body_of(accepted), b"let me in");
    assert_eq!(
        header_of(accepted, HeaderName::CSeq).as_deref(),
        Some("2 MESSAGE")
    );
    assert!(header_of(accepted, HeaderName::ProxyAuthorization).is_some_and(|v| v.contains("nc=00000001")));
}

#[test]
fn outgoing_407_after_credentials_reports_pager_failed() {
    let mut cfg = config();
    cfg.secret = simple_im_core::client::StoredSecret::Password("wrong".try_into().unwrap());
    let mut w = World::new(cfg, LinkConfig::PERFECT, 31);
    w.server.challenge_messages = true;
    let now = w.now();
    let handle = w
        .client
        .send_pager(now, "sip:bob@example.com", "text/plain", b"nope", None)
        .unwrap();
    w.run_for_secs(5);
    assert_eq!(w.events(), vec![ClientEvent::PagerFailed { handle, status: 407 }]);
    assert!(w.server.requests.is_empty());
}

#[test]
fn a_pager_client_without_session_mode_answers_invite_and_bye_with_405_allowing_message_and_options() {
    use simple_im_core::client::PagerClient;
    use simple_im_core::time::Instant;
    const { assert!(!PagerClient::<SimRng, u8>::SESSION_MODE) };
    let mut client: PagerClient<SimRng, u8> = PagerClient::new(config(), Instant::ZERO, SimRng::new(21));
    let mut buf = [0u8; 1500];
    for method in ["INVITE", "BYE"] {
        let request = String::from_utf8(message_from_peer("MESSAGE", ""))
            .unwrap()
            .replace("MESSAGE", method);
        client.handle_datagram(Instant::ZERO, 9, request.as_bytes());
        let sent = client.poll_transmit(&mut buf).expect("an answer");
        assert_eq!(sent.dest, Destination::Peer(9));
        let answer = &buf[..sent.len];
        assert_eq!(status_of(answer), "SIP/2.0 405 Method Not Allowed", "{method}");
        assert!(contains(answer, "Allow: MESSAGE, OPTIONS\r\n"), "{method}");
        assert!(client.poll_transmit(&mut buf).is_none());
    }
    let now = Instant::from_millis(1);
    assert_eq!(
        client.invite_chat(now, "sip:bob@example.com"),
        Err(CommandError::Busy)
    );
    assert_eq!(
        client.accept_chat(now, simple_im_core::client::ChatId(1)),
        Err(CommandError::UnknownHandle)
    );
}

#[test]
fn barring_publication_is_refreshed_at_half_its_lifetime_so_the_server_keeps_it() {
    let mut w = registered(LinkConfig::PERFECT, 40);
    w.server.publish_granted = Some(120);
    let now = w.now();
    w.client.set_barring(now, true).unwrap();
    w.run_for_secs(600);
    let barring_events: Vec<_> = w
        .events()
        .into_iter()
        .filter(|e| matches!(e, ClientEvent::BarringPublished { .. }))
        .collect();
    assert_eq!(
        barring_events,
        vec![ClientEvent::BarringPublished {
            barred: true,
            status: 200
        }],
        "refreshes report nothing"
    );
    let publishes = &w.server.publishes;
    assert!(publishes.len() >= 10, "a refresh every 60 s: {publishes:?}");
    assert_eq!(
        (publishes[0].1.as_deref(), publishes[0].2, publishes[0].3),
        (None, true, 200)
    );
    for (index, pair) in publishes.windows(2).enumerate() {
        let (before, refresh) = (&pair[0], &pair[1]);
        // The server tags the publication made by its n-th PUBLISH "e<n>".
        let previous_etag = format!("e{}", index + 1);
        assert_eq!(refresh.1.as_deref(), Some(previous_etag.as_str()));
        assert!(!refresh.2, "a refresh carries no body");
        assert_eq!(refresh.3, 200);
        let gap_ms = refresh.0.as_millis() - before.0.as_millis();
        // Half of the granted 120 s, counted from the 2xx (one link round trip after the request).
        assert!(
            (60_000..60_100).contains(&gap_ms),
            "{gap_ms} ms between PUBLISHes"
        );
    }
    let (_, until) = w.server.publication.clone().expect("still published");
    assert!(until > w.now(), "the server still bars after 600 s");

    let now = w.now();
    w.server
        .send_request(now, "MESSAGE", "text/plain", b"still barred?");
    w.run_for_secs(3);
    assert!(w.pagers().is_empty());
    assert_eq!(
        w.server.responses.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![480]
    );
}

#[test]
fn a_refresh_answered_412_starts_a_new_publication_with_the_document() {
    let mut w = registered(LinkConfig::PERFECT, 41);
    w.server.publish_granted = Some(100);
    let now = w.now();
    w.client.set_barring(now, true).unwrap();
    w.run_for_secs(10);
    w.server.publication = None; // the server restarted and lost its publications
    w.run_for_secs(50);
    let statuses: Vec<_> = w
        .server
        .publishes
        .iter()
        .map(|(_, if_match, body, status)| (if_match.is_some(), *body, *status))
        .collect();
    assert_eq!(
        statuses,
        vec![(false, true, 200), (true, false, 412), (false, true, 200)]
    );
    assert!(contains(
        &body_of(w.server.requests.last().unwrap()),
        "<incoming-im-barring>true</incoming-im-barring>"
    ));
    assert_eq!(
        w.events(),
        vec![
            ClientEvent::BarringPublished {
                barred: true,
                status: 200
            },
            ClientEvent::BarringPublished {
                barred: true,
                status: 200
            }
        ]
    );
    assert!(w.server.publication.is_some());
}
