//! `simple-im client send-file` end to end (RFC 5547 push through the real server and its MSRP relay):
//! a 50 MB file arrives with its SHA-256 intact, the sender's progress reaches 100%, and the server's
//! memory grows by less than 10 MB (it streams, never holding the file); a receiver without a
//! download directory declines with 603, which the sender reports clearly.

mod client_support;

use client_support::{field, stderr, stdout, ServerProcess};
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The file size of the large transfer.
const LARGE: usize = 50 * 1024 * 1024;

#[test]
fn a_50_mb_file_arrives_with_its_sha256_through_the_relay_without_growing_the_server() {
    let server = ServerProcess::start();
    let dir = tempfile::tempdir().unwrap();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let mut bob = server.online("bob", &["--download-dir", downloads.to_str().unwrap()]);

    // 50 MB of varied bytes (a pattern a truncation, duplication or reordering would break).
    let content: Vec<u8> = (0u32..LARGE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = dir.path().join("holiday photos.bin");
    std::fs::write(&file, &content).unwrap();
    let (before, _) = server.memory_kib();
    let sender = server
        .client_command("alice", &["send-file", "bob", file.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let sending = std::thread::spawn(move || sender.wait_with_output().unwrap());
    // The server's memory, sampled while the file goes (VmHWM, the kernel's high-water mark, is
    // read too: it catches a spike between samples, though it is updated lazily).
    let mut peak = 0;
    while !sending.is_finished() {
        let (rss, hwm) = server.memory_kib();
        peak = peak.max(rss).max(hwm);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = sending.join().unwrap();
    let (rss, hwm) = server.memory_kib();
    let peak = peak.max(rss).max(hwm);
    assert!(sent.status.success(), "{sent:?}");
    assert!(stdout(&sent).starts_with("file_sent chat="), "{}", stdout(&sent));
    assert!(
        stderr(&sent).contains(&format!("100% {LARGE}/{LARGE} bytes delivered")),
        "{}",
        stderr(&sent)
    );
    // Progress is shown while the file goes, not only at the end: redrawn states short of 100%.
    let partial = stderr(&sent)
        .split('\r')
        .filter(|s| s.contains(" bytes sent") && !s.contains("100%"))
        .count();
    assert!(partial > 1, "{}", stderr(&sent));
    // The relay streams: the server's peak resident memory during the transfer stays within 10 MB
    // of what it was before.
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 10 * 1024,
        "server RSS grew by {growth} KiB (from {before} KiB)"
    );
    eprintln!("server RSS before {before} KiB, peak during the 50 MB transfer {peak} KiB");

    let offered = bob.expect(|l| l.starts_with("file_offered "));
    assert_eq!(field(&offered, "from").as_deref(), Some("sip:alice@localhost"));
    assert_eq!(field(&offered, "name").as_deref(), Some("holiday photos.bin"));
    assert_eq!(field(&offered, "bytes"), Some(LARGE.to_string()));
    let received = bob.expect(|l| l.starts_with("file_received ") || l.starts_with("file_failed "));
    assert!(received.starts_with("file_received "), "{:?}", bob.seen);
    assert_eq!(field(&received, "sha256"), Some(sha256_hex(&content)));
    let saved = std::fs::read(downloads.join("holiday photos.bin")).unwrap();
    assert_eq!(sha256_hex(&saved), sha256_hex(&content));
    assert!(!downloads.join("holiday photos.bin.part").exists());
    bob.expect(|l| l.starts_with("chat_closed "));
}

#[test]
fn a_receiver_without_a_download_directory_declines_and_the_sender_says_so() {
    let server = ServerProcess::start();
    let mut bob = server.online("bob", &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"some notes").unwrap();
    let sent = server.run("alice", &["send-file", "bob", file.to_str().unwrap()]);
    assert_eq!(sent.status.code(), Some(1), "{sent:?}");
    assert!(
        stderr(&sent).contains("sip:bob@localhost declined the file: 603 Decline (no download directory)"),
        "{sent:?}"
    );
    bob.expect(|l| l.starts_with("file_declined "));

    let missing = server.run("alice", &["send-file", "bob", "/nonexistent/file"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("/nonexistent/file: No such file"),
        "{missing:?}"
    );
}

#[test]
fn a_transfer_that_breaks_is_reported_with_how_far_it_got() {
    let server = ServerProcess::start();
    let dir = tempfile::tempdir().unwrap();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let mut bob = server.online("bob", &["--download-dir", downloads.to_str().unwrap()]);
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![0x5au8; 24 * 1024 * 1024]).unwrap();
    let sender = server
        .client_command(
            "alice",
            &["--timeout", "10", "send-file", "bob", file.to_str().unwrap()],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    bob.expect(|l| l.starts_with("file_offered "));
    // Kill bob once part of the file has arrived.
    let part = downloads.join("big.bin.part");
    let deadline = std::time::Instant::now() + client_support::WAIT;
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 1024 * 1024 {
        assert!(std::time::Instant::now() < deadline, "the transfer did not start");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    bob.kill();
    let out = sender.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr(&out).contains("the transfer broke after "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(" of 25165824 bytes"), "{}", stderr(&out));
}
