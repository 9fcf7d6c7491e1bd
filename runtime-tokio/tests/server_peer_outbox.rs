//! The durable outbound queue for notifications to `[[peers]]` domains, end to end with two server
//! processes (this test executable re-run on its ignored `peer_server_child` test, so each can be
//! SIGKILLed and started again on the same ports): `localhost` (A, 127.0.0.1, alice) and `b.test`
//! (B, 127.0.0.2, carol), each the other's peer over TCP.
//!
//! carol asks for a delivery notification on a message to alice, who is offline, so A stores it.
//! B goes down; alice registers and takes the message; A's notification to carol cannot reach B and
//! waits in A's queue (seen in A's store file, retried). When B is back, carol gets it; also when A
//! was killed and restarted between the failed attempt and B's return.

mod server_support;

use bytes::BytesMut;
use server_support::Ua;
use simple_im_core::sip::{frame, Framed};
use simple_im_tokio::config::Config;
use simple_im_tokio::server::peer_outbox::{backoff, FIRST_RETRY, MAX_BACKOFF};
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{self, reply, Options};
use simple_im_tokio::store::{NewUser, SqliteStore, Store, UnixMillis, DB_FILE_NAME};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The child's settings: `role|data dir|udp port|tcp port|peer tcp port|[limits] lines`.
const CHILD_VAR: &str = "SIMPLE_IM_PEER_OUTBOX_CHILD";

/// The IM whose delivery carol asks to be told of.
const CPIM_TO_ALICE: &str = "From: <sip:carol@b.test>\r\nTo: <sip:alice@localhost>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: peer-outbox-1\r\nDateTime: 2026-11-24T13:00:00Z\r\n\
imdn.Disposition-Notification: positive-delivery\r\n\r\n\
Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

/// Not a test on its own: a server process of the tests below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of the peer outbox tests"]
async fn peer_server_child() {
    let Some(settings) = std::env::var_os(CHILD_VAR) else {
        return;
    };
    let settings = settings.to_string_lossy().into_owned();
    let fields: Vec<&str> = settings.split('|').collect();
    let [role, dir, udp, tcp, peer_tcp, limits] = fields[..] else {
        panic!("bad {CHILD_VAR}: {settings}");
    };
    let dir = Path::new(dir);
    let (domain, ip, peer_domain, peer_ip, user) = match role {
        "A" => ("localhost", "127.0.0.1", "b.test", "127.0.0.2", "alice"),
        _ => ("b.test", "127.0.0.2", "localhost", "127.0.0.1", "carol"),
    };
    let store = SqliteStore::open(dir).unwrap();
    let account = NewUser {
        name: user.into(),
        display_name: user.into(),
        credentials: simple_im_tokio::users::credentials(user, domain, &format!("{user}-pw")),
        created: UnixMillis::now(),
    };
    // A restarted server finds its user there already.
    let _ = store.add_user(account).await;
    let text = format!(
        "domain = \"{domain}\"\ndata_dir = \"{}\"\n[limits]\n{limits}\n[sip]\nudp = [\"{ip}:{udp}\"]\ntcp = [\"{ip}:{tcp}\"]\n\
         [msrp]\nlisten = \"{ip}:0\"\n[[peers]]\ndomain = \"{peer_domain}\"\n\
         address = \"{peer_ip}:{peer_tcp}\"\ntransport = \"tcp\"\n",
        dir.display()
    );
    let config = Config::from_toml(&text, dir).unwrap();
    let running = server::start(config, Options::default(), std::sync::Arc::new(store))
        .await
        .expect("the child server starts");
    let line = format!("READY {}\n", running.udp[0]);
    std::io::stdout().lock().write_all(line.as_bytes()).unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// A server process; SIGKILLed when dropped.
struct ChildServer {
    child: Child,
    udp: SocketAddr,
}

impl ChildServer {
    fn start(settings: &str) -> ChildServer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "peer_server_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_VAR, settings)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a server process");
        let stdout = child.stdout.take().unwrap();
        let udp = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.split_once("READY ").and_then(|(_, a)| a.trim().parse().ok()))
            .expect("the child server reports its address");
        ChildServer { child, udp }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two servers' data directories and fixed ports (so a restarted server is where its peer
/// expects it).
struct Domains {
    dir_a: tempfile::TempDir,
    dir_b: tempfile::TempDir,
    a_ports: (u16, u16),
    b_ports: (u16, u16),
    /// A's `[limits]` lines.
    a_limits: &'static str,
}

fn free_udp(ip: &str) -> u16 {
    std::net::UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Domains {
    fn new() -> Domains {
        Domains {
            dir_a: tempfile::tempdir().unwrap(),
            dir_b: tempfile::tempdir().unwrap(),
            a_ports: (free_udp("127.0.0.1"), free_tcp("127.0.0.1")),
            b_ports: (free_udp("127.0.0.2"), free_tcp("127.0.0.2")),
            a_limits: "",
        }
    }

    fn start_a(&self) -> ChildServer {
        let (udp, tcp) = self.a_ports;
        let dir = self.dir_a.path().display();
        ChildServer::start(&format!(
            "A|{dir}|{udp}|{tcp}|{}|{}",
            self.b_ports.1, self.a_limits
        ))
    }

    fn start_b(&self) -> ChildServer {
        let (udp, tcp) = self.b_ports;
        let dir = self.dir_b.path().display();
        ChildServer::start(&format!("B|{dir}|{udp}|{tcp}|{}|", self.a_ports.1))
    }

    fn a_store(&self) -> PathBuf {
        self.dir_a.path().join(DB_FILE_NAME)
    }
}

/// A's queued peer messages as `(destination, message_id, attempts)`, read from its store file.
fn a_outbox(domains: &Domains) -> Vec<(String, String, u32)> {
    let conn = rusqlite::Connection::open(domains.a_store()).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut statement = conn
        .prepare("SELECT destination, message_id, attempts FROM peer_outbox ORDER BY id")
        .unwrap();
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Polls A's outbox until `done` holds of it; what it held then. Panics after `within`.
async fn outbox_until(
    domains: &Domains,
    within: Duration,
    done: impl Fn(&[(String, String, u32)]) -> bool,
) -> Vec<(String, String, u32)> {
    let start = Instant::now();
    loop {
        let rows = a_outbox(domains);
        if done(&rows) {
            return rows;
        }
        assert!(start.elapsed() < within, "A's outbox stayed {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The line of A's charging log for `event` of the notification `message_id` (the log is written by
/// its own task: polled like the outbox). Panics after 5 s.
async fn charged(domains: &Domains, event: &str, message_id: &str) -> String {
    let start = Instant::now();
    loop {
        let log = std::fs::read_to_string(domains.dir_a.path().join("charging.jsonl")).unwrap_or_default();
        let wanted = format!("\"event\":\"{event}\"");
        if let Some(line) = log
            .lines()
            .find(|l| l.contains(&wanted) && l.contains(message_id))
        {
            return line.to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no {event} record in {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn carol(b: &ChildServer) -> Ua {
    let mut carol = Ua::udp("carol", "carol-pw", b.udp).await.in_domain("b.test");
    assert_eq!(carol.register(600).await.status(), Some(200));
    carol
}

/// Up to B's going down: carol's IM stored by A, then B killed, then alice takes the IM; returns
/// once A's notification failed `failures` times at least, with its Message-ID.
async fn notification_stuck_at_a(
    domains: &Domains,
    a: &ChildServer,
    b: ChildServer,
    failures: u32,
) -> String {
    let mut carol = carol(&b).await;
    let stored = carol
        .request(
            "MESSAGE",
            "sip:alice@localhost",
            "<sip:alice@localhost>",
            &[],
            Some(("message/cpim", CPIM_TO_ALICE.as_bytes())),
            true,
        )
        .await;
    assert_eq!(stored.status(), Some(202), "{}", stored.reason());
    drop(b);

    let mut alice = Ua::udp("alice", "alice-pw", a.udp).await;
    assert_eq!(alice.register(600).await.status(), Some(200));
    let im = alice.incoming().await;
    assert!(String::from_utf8_lossy(im.body()).contains("peer-outbox-1"));

    let rows = outbox_until(domains, Duration::from_secs(10), |rows| {
        rows.first().is_some_and(|(_, _, attempts)| *attempts >= failures)
    })
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "sip:carol@b.test");
    rows[0].1.clone()
}

/// The notification carol gets once B is back: a positive delivery notification of her IM.
async fn carol_notified(b: &ChildServer, message_id: &str) -> SipMessage {
    let mut carol = carol(b).await;
    // The first retries come 1, 2, 4 s after the failure: well within this.
    let got = carol
        .incoming_within(Duration::from_secs(20))
        .await
        .expect("the notification reaches carol");
    let body = String::from_utf8_lossy(got.body()).into_owned();
    assert!(body.contains("Content-Disposition: notification"), "{body}");
    assert!(body.contains("<message-id>peer-outbox-1</message-id>"), "{body}");
    assert!(body.contains("<delivered/>"), "{body}");
    assert!(body.contains(&format!("imdn.Message-ID: {message_id}")), "{body}");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_for_a_peer_that_is_down_reaches_it_when_it_is_back() {
    let domains = Domains::new();
    let b = domains.start_b();
    let a = domains.start_a();
    // Two failed attempts: the retry after the first one (1 s) failed too.
    let message_id = notification_stuck_at_a(&domains, &a, b, 2).await;

    let b = domains.start_b();
    carol_notified(&b, &message_id).await;
    outbox_until(&domains, Duration::from_secs(5), <[_]>::is_empty).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_queued_before_a_restart_is_sent_by_the_restarted_server() {
    let domains = Domains::new();
    let b = domains.start_b();
    let a = domains.start_a();
    let message_id = notification_stuck_at_a(&domains, &a, b, 1).await;

    drop(a);
    let _a = domains.start_a();
    let b = domains.start_b();
    carol_notified(&b, &message_id).await;
    outbox_until(&domains, Duration::from_secs(5), <[_]>::is_empty).await;
}

/// A stand-in for B's server on its TCP address, answering each MESSAGE as the test says.
struct FakePeer {
    listener: tokio::net::TcpListener,
    stream: Option<(tokio::net::TcpStream, BytesMut)>,
}

impl FakePeer {
    async fn bind(domains: &Domains) -> FakePeer {
        let listener = tokio::net::TcpListener::bind(("127.0.0.2", domains.b_ports.1))
            .await
            .unwrap();
        FakePeer {
            listener,
            stream: None,
        }
    }

    /// The next request from A (within 10 s), answered `code reason`.
    async fn answer_next(&mut self, code: u16, reason: &str) -> SipMessage {
        let request = tokio::time::timeout(Duration::from_secs(10), self.next_request())
            .await
            .expect("A sends again");
        let answer = reply::build(&request, None, code, reason, &[], None).unwrap();
        let (stream, _) = self.stream.as_mut().unwrap();
        stream.write_all(&answer).await.unwrap();
        request
    }

    async fn next_request(&mut self) -> SipMessage {
        loop {
            let Some((stream, buf)) = self.stream.as_mut() else {
                let (stream, _) = self.listener.accept().await.unwrap();
                self.stream = Some((stream, BytesMut::new()));
                continue;
            };
            if let Ok(Framed::Complete(n)) = frame(buf) {
                let msg = SipMessage::parse(buf.split_to(n).freeze(), true).unwrap();
                if msg.status().is_none() {
                    return msg;
                }
                continue;
            }
            if stream.read_buf(buf).await.unwrap_or(0) == 0 {
                self.stream = None;
            }
        }
    }
}

/// B's address answered by a stand-in: 503 is retried (the same notification again), 404 is final:
/// the notification leaves A's queue and A's charging log records it rejected with 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_peer_gets_the_notification_again_and_a_final_refusal_drops_it() {
    let domains = Domains::new();
    let b = domains.start_b();
    let a = domains.start_a();
    let message_id = notification_stuck_at_a(&domains, &a, b, 1).await;

    let mut fake_b = FakePeer::bind(&domains).await;
    let busy = fake_b.answer_next(503, "Service Unavailable").await;
    assert_eq!(a_outbox(&domains).len(), 1, "kept after a 503");
    let again = fake_b.answer_next(404, "Not Found").await;
    assert_eq!(
        busy.body(),
        again.body(),
        "the same notification, so the same Message-ID"
    );
    assert!(String::from_utf8_lossy(again.body()).contains(&message_id));
    outbox_until(&domains, Duration::from_secs(5), <[_]>::is_empty).await;

    let refused = charged(&domains, "rejected", &message_id).await;
    assert!(refused.contains("\"status\":404"), "{refused}");
    assert!(refused.contains("sip:carol@b.test"), "{refused}");
    drop(a);
}

/// A's notification lives no longer than a stored message: with `deferred_expiry_seconds = 4` and B down for
/// good, the attempts at about 0, 1 and 3 s fail; the next would come after the lifetime (at 7 s), so
/// the notification is dropped then and charged `expired`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_the_peer_never_takes_is_dropped_at_the_end_of_its_lifetime() {
    let domains = Domains {
        a_limits: "deferred_expiry_seconds = 4",
        ..Domains::new()
    };
    let b = domains.start_b();
    let a = domains.start_a();
    let message_id = notification_stuck_at_a(&domains, &a, b, 1).await;
    // Retried once (after 1 s), failed again, kept for the next attempt.
    outbox_until(&domains, Duration::from_secs(5), |rows| {
        rows.first().is_some_and(|(_, _, attempts)| *attempts == 2)
    })
    .await;
    outbox_until(&domains, Duration::from_secs(5), <[_]>::is_empty).await;
    let expired = charged(&domains, "expired", &message_id).await;
    assert!(expired.contains("sip:carol@b.test"), "{expired}");
    drop(a);
}

#[test]
fn the_backoff_doubles_from_one_second_up_to_its_cap() {
    assert_eq!(backoff(1), FIRST_RETRY);
    assert_eq!(backoff(2), 2 * FIRST_RETRY);
    assert_eq!(backoff(4), 8 * FIRST_RETRY);
    assert_eq!(backoff(9), 256 * FIRST_RETRY);
    assert_eq!(backoff(10), MAX_BACKOFF);
    assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
}
