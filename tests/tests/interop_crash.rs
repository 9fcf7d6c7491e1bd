//! Crash safety of deferred messaging (issue 4 acceptance): a UA sends N MESSAGEs to an offline
//! user while another thread SIGKILLs the server at random moments and restarts it on the same data.
//! Afterwards the user registers and receives. Every message that got a 2xx must be delivered
//! (exactly once after de-duplication by message id), none that got an error may be delivered, and
//! messages that got no answer at all (sent while the server was down) may go either way.

use simple_im_tests::peers::server::{Server, ServerOptions};
use simple_im_tests::peers::ua::{Outcome, Ua};
use simple_im_tests::peers::{free_port, scratch_dir};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: u32 = 120;
const KILLS: u32 = 3;

/// xorshift64: enough randomness for kill timing; the seed is printed on failure to replay a run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn message_id(body: &str) -> Option<u32> {
    body.strip_prefix("crash-safety id=")
        .and_then(|n| n.trim().parse().ok())
}

#[test]
fn messages_acknowledged_before_sigkill_are_delivered_once_and_rejected_ones_never() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    let dir = scratch_dir("crash");
    let mut server = Server::new(&dir, ServerOptions::on_port(free_port()));
    server.add_user("alice", "alice-pw");
    server.add_user("bob", "bob-pw");
    server.start();
    let addr = server.addr();

    let sending = Arc::new(AtomicBool::new(true));
    let killer = {
        let sending = Arc::clone(&sending);
        std::thread::spawn(move || {
            let mut rng = seed;
            let mut kills = 0;
            while kills < KILLS && sending.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(150 + next(&mut rng) % 600));
                if !sending.load(Ordering::Relaxed) {
                    break;
                }
                server.kill();
                kills += 1;
                std::thread::sleep(Duration::from_millis(next(&mut rng) % 300));
                server.start();
            }
            (server, kills)
        })
    };

    let mut alice = Ua::new(&addr, "alice", "alice-pw");
    // Short enough that a MESSAGE sent while the server is down is given up (its fate unknown to
    // the sender), long enough for a few retransmissions to a live server.
    alice.set_transaction_timeout(Duration::from_millis(1200));
    let mut outcomes = BTreeMap::new();
    let started = Instant::now();
    for id in 0..MESSAGES {
        outcomes.insert(id, alice.message("bob", &format!("crash-safety id={id}")));
        std::thread::sleep(Duration::from_millis(15));
    }
    sending.store(false, Ordering::Relaxed);
    let (server, kills) = killer
        .join()
        .unwrap_or_else(|_| panic!("restarting the server failed (seed {seed})"));
    let send_time = started.elapsed();

    let mut bob = Ua::new(&addr, "bob", "bob-pw");
    assert_eq!(
        bob.register(300),
        Outcome::Final(200),
        "bob could not register after the crashes (seed {seed})"
    );
    bob.receive_for(Duration::from_secs(60), Duration::from_secs(3));

    let acked: BTreeSet<u32> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Final(200..=299)))
        .map(|(id, _)| *id)
        .collect();
    let rejected: BTreeSet<u32> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Final(300..)))
        .map(|(id, _)| *id)
        .collect();
    let mut copies: BTreeMap<u32, usize> = BTreeMap::new();
    for received in &bob.inbox {
        let id = message_id(&received.body)
            .unwrap_or_else(|| panic!("bob got an unexpected body {:?}", received.body));
        *copies.entry(id).or_default() += 1;
    }
    let delivered: BTreeSet<u32> = copies.keys().copied().collect();
    let rejections: Vec<String> = rejected
        .iter()
        .map(|id| format!("{id}: {:?}", outcomes.get(id)))
        .collect();
    let context = format!(
        "seed {seed}, {kills} kills over {send_time:?}; {} acked, {} rejected ({rejections:?}), {} unanswered; \
         {} delivered ({} copies)\n\
         --- server:\n{}",
        acked.len(),
        rejected.len(),
        outcomes.len() - acked.len() - rejected.len(),
        delivered.len(),
        bob.inbox.len(),
        server.output()
    );
    eprintln!("{}", context.lines().next().unwrap_or_default());
    assert!(kills > 0, "the server was never killed while sending: {context}");
    assert!(!acked.is_empty(), "no MESSAGE was acknowledged at all: {context}");
    let lost: Vec<u32> = acked.difference(&delivered).copied().collect();
    assert!(
        lost.is_empty(),
        "acknowledged messages never delivered: {lost:?}; {context}"
    );
    let wrongly: Vec<u32> = rejected.intersection(&delivered).copied().collect();
    assert!(
        wrongly.is_empty(),
        "rejected messages delivered anyway: {wrongly:?}; {context}"
    );
}
