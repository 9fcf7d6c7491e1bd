//! Crash durability of the deferred queue: a child process (this test executable, re-run on its
//! ignored `crash_child` test) enqueues messages from many concurrent tasks and prints each message id
//! as soon as its enqueue returns, the moment the server would send the 2xx. The parent kills it with
//! SIGKILL at a random point, then runs a second child that re-sends every message from the start (as
//! senders retransmit after a crash) and kills it too. Reopening the store must show every
//! acknowledged message exactly once.

mod store_support;

use simple_im_tokio::store::{Enqueued, SqliteStore, Store};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use store_support::{message, ROOMY};

const CHILD_DIR_VAR: &str = "SIMPLE_IM_STORE_CRASH_DIR";
/// Messages a child tries to enqueue; more than it can finish before it is killed.
const MESSAGES: u64 = 200_000;
const CONCURRENT_SENDERS: u64 = 32;

/// Not a test on its own: the body of the child process, run by `acknowledged_messages_survive_sigkill`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of acknowledged_messages_survive_sigkill"]
async fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
        return;
    };
    let store = Arc::new(SqliteStore::open(Path::new(&dir)).expect("open store"));
    let senders: Vec<_> = (0..CONCURRENT_SENDERS)
        .map(|sender| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in (sender..MESSAGES).step_by(CONCURRENT_SENDERS as usize) {
                    let id = format!("m{i}");
                    let outcome = store
                        .enqueue(message("bob", "sip:alice@localhost", &id, i), ROOMY)
                        .await;
                    let kind = match outcome.expect("enqueue") {
                        Enqueued::Stored(_) => "stored",
                        Enqueued::Duplicate(_) => "duplicate",
                    };
                    // One write per line so a kill never leaves half a line from another task mixed in.
                    let line = format!("ACK {id} {kind}\n");
                    std::io::stdout()
                        .lock()
                        .write_all(line.as_bytes())
                        .expect("stdout");
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender task");
    }
}

/// A kill delay between 20 and 300 ms, different on every run.
fn random_delay() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(20 + u64::from(nanos) % 280)
}

/// Runs one child until `random_delay` after its first acknowledgement, kills it, and returns the
/// acknowledgement lines it printed, as (message id, "stored" or "duplicate").
fn run_and_kill_child(dir: &Path) -> Vec<(String, String)> {
    let mut child = Command::new(std::env::current_exe().expect("test executable"))
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let mut lines = BufReader::new(child.stdout.take().expect("child stdout")).lines();
    let mut acks = Vec::new();
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    while let Some(Ok(line)) = lines.next() {
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (id, kind) = rest.split_once(' ').expect("ACK line has an id and a kind");
            acks.push((id.to_owned(), kind.to_owned()));
            let deadline = *kill_at.get_or_insert_with(|| Instant::now() + random_delay());
            if !killed && Instant::now() >= deadline {
                child.kill().expect("SIGKILL the child");
                killed = true;
            }
        }
    }
    // Lines already in the pipe when the child died were read above: each is a returned enqueue.
    let status = child.wait().expect("reap child");
    assert!(
        killed && !status.success(),
        "the child must be killed mid-run, not finish ({status:?})"
    );
    acks
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = run_and_kill_child(dir.path());
    let second = run_and_kill_child(dir.path());
    assert!(!first.is_empty() && !second.is_empty());
    assert!(
        first.iter().all(|(_, kind)| kind == "stored"),
        "the first run starts from an empty store"
    );

    let store = SqliteStore::open(dir.path()).expect("reopen after the crash");
    let pending = store.pending("bob", usize::MAX).await.expect("pending");
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for m in &pending {
        *copies.entry(m.message.message_id.as_str()).or_default() += 1;
    }
    let acknowledged: BTreeSet<&str> = first.iter().chain(&second).map(|(id, _)| id.as_str()).collect();
    for id in &acknowledged {
        assert_eq!(
            copies.get(id),
            Some(&1),
            "acknowledged message {id} must be stored exactly once"
        );
    }
    assert!(copies.values().all(|&n| n == 1), "no message is stored twice");
    // The second child re-sent from the start, so what the first had stored came back as duplicates.
    let first_ids: BTreeSet<&str> = first.iter().map(|(id, _)| id.as_str()).collect();
    for (id, kind) in &second {
        if first_ids.contains(id.as_str()) {
            assert_eq!(
                kind, "duplicate",
                "{id} was stored by the first run, the re-send must be a duplicate"
            );
        }
    }
    eprintln!(
        "crash test: {} + {} acknowledgements, {} distinct, {} stored",
        first.len(),
        second.len(),
        acknowledged.len(),
        pending.len()
    );
}
