//! tshark as a wire check of what the client builds itself (INVITE with SDP, ACK, BYE, 200 answers,
//! REGISTER/MESSAGE from the core): every SIP packet of a chat, a Large Message and a file push
//! through the server decodes with no malformed packet and no error-level expert item. Skipped with
//! a message when tshark is not installed.

mod client_support;

use client_support::{ServerProcess, WAIT};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn tshark() -> Option<&'static str> {
    Command::new("tshark")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| "tshark")
}

#[test]
fn sip_of_chats_large_messages_and_files_decodes_cleanly() {
    let Some(tshark) = tshark() else {
        eprintln!("tshark not installed: wire check skipped");
        return;
    };
    let server = ServerProcess::start();
    let port = server.address.rsplit(':').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("client.pcapng");
    let mut dumping = Command::new(tshark)
        .args([
            "-i",
            "lo",
            "-q",
            "-f",
            &format!("port {port}"),
            "-a",
            "duration:60",
            "-w",
        ])
        .arg(&capture)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(dumping.stderr.take().unwrap()).lines();
    assert!(
        log.any(|l| l.is_ok_and(|l| l.contains("Capturing on"))),
        "tshark did not start"
    );
    std::thread::spawn(move || for _ in log {});
    std::thread::sleep(Duration::from_millis(300));

    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let mut bob = server.online(
        "bob",
        &["--accept-chats", "--download-dir", downloads.to_str().unwrap()],
    );
    let mut alice = server.online("alice", &["chat", "bob"]);
    alice.say("hello over the wire");
    bob.expect(|l| l.starts_with("chat_message "));
    alice.finish();
    let large = "w".repeat(3000);
    assert!(server.run("alice", &["send", "bob", &large]).status.success());
    let file = dir.path().join("small.bin");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    assert!(server
        .run("alice", &["send-file", "bob", file.to_str().unwrap()])
        .status
        .success());
    bob.expect(|l| l.starts_with("file_received "));
    bob.finish();

    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-INT", &dumping.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + WAIT;
    while dumping.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "tshark did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let decode = |filter: &str| {
        let out = Command::new(tshark)
            .arg("-r")
            .arg(&capture)
            .args([
                "-d",
                &format!("udp.port=={port},sip"),
                "-d",
                &format!("tcp.port=={port},sip"),
            ])
            .args(["-Y", filter])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let sip = decode("sip");
    for method in ["INVITE", "ACK", "BYE", "REGISTER", "200 OK"] {
        assert!(sip.contains(method), "no {method} captured:\n{sip}");
    }
    let broken = decode("_ws.malformed || _ws.expert.severity >= error");
    assert!(
        broken.trim().is_empty(),
        "malformed packets:\n{broken}\nall SIP:\n{sip}"
    );
}
