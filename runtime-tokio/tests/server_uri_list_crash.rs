//! Crash durability of the URI-list service's notification aggregation: a child process (this test
//! executable, re-run on its ignored `list_server_child` test) runs the server; the parent drives the
//! UAs, SIGKILLs the child while a stored copy's delivery notification waits in its aggregation
//! batch, restarts it on the same data, and checks that the sender gets every recipient's
//! notification exactly once.

mod groups_support;
mod server_support;

use groups_support::{drain, imdn_documents, start_with_groups};
use server_support::Ua;
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::Options;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHILD_DIR_VAR: &str = "SIMPLE_IM_LIST_CRASH_DIR";

/// A batch window longer than the test's steps before the kill (about 1.5 s), so the kill lands inside it.
const AGGREGATION_MS: u64 = 5_000;

/// Not a test on its own: the server process of `a_held_notification_survives_sigkill_inside_its_batch_window`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of a_held_notification_survives_sigkill_inside_its_batch_window"]
async fn list_server_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
        return;
    };
    let limits = format!("[limits]\nmax_pager_body_bytes = 65000\nimdn_aggregation_ms = {AGGREGATION_MS}\n");
    let running = start_with_groups(
        Path::new(&dir),
        &["alice", "carol", "dave"],
        &[],
        &limits,
        Options::default(),
    )
    .await;
    let line = format!("READY {}\n", running.udp[0]);
    std::io::stdout()
        .lock()
        .write_all(line.as_bytes())
        .expect("stdout");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// The child server; SIGKILLed when dropped.
struct ChildServer {
    child: Child,
    addr: SocketAddr,
}

impl ChildServer {
    fn start(dir: &Path) -> ChildServer {
        let mut child = Command::new(std::env::current_exe().expect("test executable"))
            .args([
                "--ignored",
                "--exact",
                "list_server_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_VAR, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let addr = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // The harness's own "test list_server_child ... " precedes it on the same line.
            .find_map(|line| line.split_once("READY ").and_then(|(_, a)| a.trim().parse().ok()))
            .expect("the child server reports its address");
        ChildServer { child, addr }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CPIM_LIST_MESSAGE: &str = "From: <sip:alice@localhost>\r\nTo: <sip:exploder@localhost>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: crash-list-1\r\nDateTime: 2026-11-24T08:00:00Z\r\n\
imdn.Disposition-Notification: positive-delivery\r\n\r\n\
Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

fn list_body(recipients: &[&str]) -> Vec<u8> {
    let mut list = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\r\n<list>\r\n",
    );
    for uri in recipients {
        list.push_str(&format!("<entry uri=\"{uri}\"/>\r\n"));
    }
    list.push_str("</list>\r\n</resource-lists>\r\n");
    format!(
        "--b1\r\nContent-Type: message/cpim\r\n\r\n{CPIM_LIST_MESSAGE}\r\n--b1\r\n\
         Content-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n\
         {list}--b1--\r\n"
    )
    .into_bytes()
}

async fn registered(name: &str, server: SocketAddr) -> Ua {
    let mut ua = Ua::udp(name, &format!("{name}-pw"), server).await;
    assert_eq!(ua.register(600).await.status(), Some(200));
    ua
}

/// The `(recipient, status)` of the notification documents among `received`.
fn reported(received: &[SipMessage]) -> Vec<(Option<String>, String)> {
    received
        .iter()
        .filter(|m| String::from_utf8_lossy(m.body()).contains("Content-Disposition: notification"))
        .flat_map(imdn_documents)
        .map(|(message_id, recipient, status)| {
            assert_eq!(message_id, "crash-list-1");
            (recipient, status)
        })
        .collect()
}

/// carol and dave are offline when alice's list arrives. carol registers, takes her stored copy, and
/// its delivery notification waits in the 12 s batch (dave has not answered yet); the server is
/// SIGKILLed inside that window and restarted. alice, registering again, gets carol's notification
/// (held in her queue before it joined the batch); dave then takes his copy and his notification
/// reaches alice through the list read back from the store, naming dave, not the exploder. Each
/// arrives exactly once, and nothing is left held.
#[test]
fn a_held_notification_survives_sigkill_inside_its_batch_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let first = ChildServer::start(dir.path());
    let before_kill = runtime.block_on(async {
        let mut alice = registered("alice", first.addr).await;
        let body = list_body(&["sip:carol@localhost", "sip:dave@localhost"]);
        let answer = alice
            .request(
                "MESSAGE",
                "sip:exploder@localhost",
                "<sip:exploder@localhost>",
                &[("Require", "recipient-list-message".to_owned())],
                Some(("multipart/mixed;boundary=\"b1\"", &body)),
                true,
            )
            .await;
        assert_eq!(answer.status(), Some(202), "{}", answer.reason());
        assert_eq!(answer.reason(), "Accepted (delivered 0, stored 2, refused 0)");
        let mut carol = registered("carol", first.addr).await;
        let copies = drain(&mut carol).await;
        assert_eq!(copies.len(), 1, "carol's stored copy");
        // Inside the window: carol's notification waits for dave's (or for the window's end).
        let early = drain(&mut alice).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        early
    });
    assert!(
        reported(&before_kill).is_empty(),
        "nothing reaches alice inside the window"
    );
    first.kill();

    let second = ChildServer::start(dir.path());
    let after_restart = runtime.block_on(async {
        let mut alice = registered("alice", second.addr).await;
        let mut received = drain(&mut alice).await;
        let mut dave = registered("dave", second.addr).await;
        assert_eq!(drain(&mut dave).await.len(), 1, "dave's stored copy");
        // dave's notification joins the list read back from the store; its batch goes when the
        // window ends (the restarted server does not know carol already reported).
        let until = tokio::time::Instant::now() + Duration::from_millis(AGGREGATION_MS + 3000);
        while reported(&received).len() < 2 && tokio::time::Instant::now() < until {
            received.extend(alice.incoming_within(Duration::from_millis(500)).await);
        }
        received.extend(drain(&mut alice).await);
        received
    });
    for m in &after_restart {
        assert!(m.header(HeaderName::From).is_some());
    }
    let mut got = reported(&after_restart);
    got.sort();
    assert_eq!(
        got,
        [
            (Some("sip:carol@localhost".to_owned()), "delivered".to_owned()),
            (Some("sip:dave@localhost".to_owned()), "delivered".to_owned()),
        ],
        "every notification exactly once after the restart"
    );
    drop(second);
    let store = simple_im_tokio::store::SqliteStore::open(dir.path()).expect("store");
    let left = runtime.block_on(simple_im_tokio::store::Store::pending(&store, "alice", 10));
    assert!(left.expect("pending").is_empty(), "no held notification left");
}
