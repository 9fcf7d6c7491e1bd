//! SIP over the TCP connection to the server: `handle_stream` frames whole messages and leaves the rest.

mod client_harness;

use client_harness::config;
use simple_im_core::client::{Client, ClientEvent, Destination, TransportKind};
use simple_im_core::sim::{LinkConfig, SimRng, SimStream};
use simple_im_core::time::Instant;

fn message(n: usize, body: &str) -> String {
    format!(
        "MESSAGE sip:alice@device.invalid SIP/2.0\r\n\
         Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK-tcp-{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=b{n}\r\nTo: <sip:alice@example.com>\r\n\
         Call-ID: tcp-{n}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn stream_split_at_random_points_yields_each_message_once() {
    let mut cfg = config();
    cfg.transport = TransportKind::Tcp;
    let mut client: Client<SimRng, u8> = Client::new(cfg, Instant::ZERO, SimRng::new(3));
    let mut link: SimStream<8192> = SimStream::new(LinkConfig::PERFECT, 7, 99);
    let mut wire = String::new();
    for n in 0..5 {
        wire.push_str(&message(n, &format!("tcp message {n}")));
        wire.push_str("\r\n\r\n"); // keep-alives between messages
    }
    link.write(Instant::ZERO, wire.as_bytes()).unwrap();
    let mut pending: Vec<u8> = Vec::new();
    let mut bodies = Vec::new();
    let mut answers = 0;
    let mut now = Instant::ZERO;
    while let Some(t) = link.next_event_time() {
        now = t;
        let mut chunk = [0u8; 64];
        let n = link.read(now, &mut chunk);
        pending.extend_from_slice(&chunk[..n]);
        let used = client.handle_stream(now, &pending).unwrap();
        while let Some(e) = client.poll_event() {
            if let ClientEvent::PagerReceived { body, .. } = e {
                bodies.push(body.str_of(&pending).to_string());
            }
        }
        let mut buf = [0u8; 1500];
        while let Some(t) = client.poll_transmit(&mut buf) {
            assert_eq!(
                t.dest,
                Destination::Server,
                "TCP answers go back on the connection"
            );
            assert!(buf.starts_with(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP"));
            answers += 1;
        }
        pending.drain(..used);
    }
    let _ = now;
    assert_eq!(
        bodies,
        (0..5).map(|n| format!("tcp message {n}")).collect::<Vec<_>>()
    );
    assert_eq!(answers, 5);
    assert!(pending.is_empty());
}

#[test]
fn stream_with_unframeable_bytes_asks_for_a_reconnect() {
    let mut cfg = config();
    cfg.transport = TransportKind::Tcp;
    let mut client: Client<SimRng, u8> = Client::new(cfg, Instant::ZERO, SimRng::new(3));
    let bad = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: nope\r\n\r\n";
    assert!(client.handle_stream(Instant::ZERO, bad).is_err());
    assert_eq!(client.poll_event(), Some(ClientEvent::Rejected { status: 0 }));
}
