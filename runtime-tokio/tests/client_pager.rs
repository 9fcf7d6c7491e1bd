//! `simple-im client` end to end: real client processes through a real `simple-im server`, in pager
//! mode with IMDN, deferred delivery, the `pending` list, failures and `--help`.

mod client_support;

use client_support::{field, stderr, stdout, ServerProcess};

#[test]
fn pagers_go_both_ways_with_delivery_and_display_notifications() {
    let server = ServerProcess::start();
    // bob is online over UDP and marks everything displayed; alice over TCP marks by hand.
    let mut bob = server.online("bob", &["--auto-display"]);
    let mut alice = server.online("alice", &["--tcp"]);

    let sent = server.run("alice", &["send", "bob", "hello \"bob\"", "--imdn", "--wait"]);
    assert!(sent.status.success(), "{sent:?}");
    let out = stdout(&sent);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("sent handle=1 status=200"), "{out}");
    // The two notifications are separate MESSAGEs: either may arrive first.
    let id = field(lines[1], "id").unwrap();
    let mut notifications = vec![lines[1], lines[2]];
    notifications.sort();
    assert_eq!(
        notifications,
        [
            format!("delivered id={id} status=delivered handle=1"),
            format!("displayed id={id} status=displayed handle=1")
        ]
    );
    let got = bob.expect(|l| l.starts_with("message "));
    assert_eq!(field(&got, "from").as_deref(), Some("sip:alice@localhost"));
    assert_eq!(field(&got, "text").as_deref(), Some("hello \"bob\""));
    assert_eq!(field(&got, "id"), Some(id));
    assert_eq!(field(&got, "display").as_deref(), Some("requested"));

    // The other way, in JSON, with the display notification sent by a `display ID` line.
    let sender = server
        .client_command(
            "bob",
            &["--json", "send", "alice", "two\nlines", "--imdn", "--wait"],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let got = alice.expect(|l| l.starts_with("message "));
    assert_eq!(field(&got, "text").as_deref(), Some("two\nlines"));
    assert_eq!(field(&got, "from").as_deref(), Some("sip:bob@localhost"));
    let id = field(&got, "id").unwrap();
    alice.say(&format!("display {id}"));
    let sent = sender.wait_with_output().unwrap();
    assert!(sent.status.success(), "{sent:?}");
    let out = stdout(&sent);
    assert!(
        out.contains("{\"event\":\"sent\",\"handle\":1,\"status\":200"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{{\"event\":\"delivered\",\"id\":\"{id}\",\"status\":\"delivered\""
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{{\"event\":\"displayed\",\"id\":\"{id}\",\"status\":\"displayed\""
        )),
        "{out}"
    );

    // Clean exits on end of input, with the registrations removed: a new message to bob is stored.
    let (status, rest) = bob.finish();
    assert!(status.success());
    assert_eq!(rest.last().map(String::as_str), Some("unregistered"));
    let (status, _) = alice.finish();
    assert!(status.success());
    let stored = server.run("alice", &["send", "bob", "later"]);
    assert!(
        stdout(&stored).starts_with("sent handle=1 status=202"),
        "{stored:?}"
    );
}

#[test]
fn a_message_to_an_offline_user_is_listed_by_pending_then_delivered_on_register() {
    let server = ServerProcess::start();
    for text in ["first", "second one"] {
        let sent = server.run("alice", &["send", "sip:bob@localhost", text]);
        assert!(sent.status.success(), "{sent:?}");
        assert!(stdout(&sent).contains("status=202 reason=Accepted"), "{sent:?}");
    }
    let listed = server.run("bob", &["pending"]);
    assert!(listed.status.success(), "{listed:?}");
    let out = stdout(&listed);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "2 pending message(s)");
    let columns: Vec<&str> = lines[2].split('\t').collect();
    assert_eq!(
        &columns[1..],
        ["sip:alice@localhost", "text/plain;charset=utf-8", "10"]
    );

    // Listing fetched nothing: the messages arrive, in order, when bob comes online.
    let mut bob = server.online("bob", &[]);
    let first = bob.expect(|l| l.starts_with("message "));
    let second = bob.expect(|l| l.starts_with("message "));
    assert_eq!(field(&first, "text").as_deref(), Some("first"));
    assert_eq!(field(&second, "text").as_deref(), Some("second one"));
    let (status, _) = bob.finish();
    assert!(status.success());
    let json = server.run("bob", &["--json", "pending"]);
    assert_eq!(
        stdout(&json),
        "{\"event\":\"pending\",\"summary\":\"0 pending message(s)\"}\n"
    );
}

#[test]
fn the_registration_is_refreshed_before_it_expires() {
    let server = ServerProcess::start();
    let mut bob = server.online("bob", &["--expires", "2"]);
    // Several lifetimes later bob is still registered: the message is delivered (200), not stored.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let sent = server.run("alice", &["send", "bob", "still there?"]);
    assert!(stdout(&sent).starts_with("sent handle=1 status=200"), "{sent:?}");
    bob.expect(|l| l.starts_with("message "));
    let seen = bob.seen.clone();
    let (status, rest) = bob.finish();
    assert!(status.success());
    assert!(
        !seen
            .iter()
            .chain(&rest)
            .any(|l| l.starts_with("registration_failed")),
        "refreshes are silent unless they fail: {seen:?} {rest:?}"
    );
}

#[test]
fn sigterm_and_quit_unregister_before_exiting() {
    let server = ServerProcess::start();
    let bob = server.online("bob", &["--json"]);
    bob.terminate();
    let (status, rest) = bob.wait_exit();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest, ["{\"event\":\"unregistered\"}"]);
    // Un-registered, not merely gone: the server stores the next message (202) at once.
    let stored = server.run("alice", &["send", "bob", "are you there?"]);
    assert!(
        stdout(&stored).starts_with("sent handle=1 status=202"),
        "{stored:?}"
    );

    let mut alice = server.online("alice", &[]);
    alice.say("quit");
    let (status, rest) = alice.wait_exit();
    assert!(status.success());
    assert_eq!(rest, ["unregistered"]);
    let stored = server.run("bob", &["send", "alice", "hello?"]);
    assert!(
        stdout(&stored).starts_with("sent handle=1 status=202"),
        "{stored:?}"
    );
}

#[test]
fn failures_exit_1_with_the_status_and_reason() {
    let server = ServerProcess::start();
    let unknown = server.run("alice", &["send", "nobody", "hi"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("sip:nobody@localhost: 404 Not Found"),
        "{unknown:?}"
    );

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_simple-im"));
    let wrong = command
        .args([
            "client",
            "--server",
            &server.address,
            "--user",
            "alice",
            "--password",
            "nope",
        ])
        .args(["send", "bob", "hi", "--wait"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("registration failed: 403 Forbidden"),
        "{wrong:?}"
    );

    let over = server.run("alice", &["--pager-limit", "3001", "send", "bob", "hi"]);
    assert_eq!(over.status.code(), Some(1));
    assert!(
        stderr(&over).contains("--pager-limit 3001 is over the maximum, 3000"),
        "{over:?}"
    );
}

#[test]
fn help_mentions_every_option_and_event() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_simple-im"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        stdout(&out)
    };
    let help = run(&["client", "--help"]);
    for option in [
        "--server",
        "--user",
        "--password",
        "--domain",
        "--tcp",
        "--json",
        "--auto-display",
        "--accept-chats",
        "--pager-limit",
        "--timeout",
        "--system-uri",
        "--download-dir",
        "--msrp-active",
        "--expires",
        "--msrp-relay",
        "--msrp-tls",
        "--data",
        "--config",
        "send",
        "pending",
        "chat",
        "send-file",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
    for event in [
        "registered",
        "registration_failed",
        "unregistered",
        "message from content_type text",
        "sent handle status reason",
        "send_failed",
        "delivered id status (handle) (chat)",
        "displayed id status (handle) (chat)",
        "chat_message chat text (id) (display=requested)",
        "invitation",
        "chat_message",
        "chat_closed chat status",
        "file_offered chat from name bytes",
        "file_received chat path bytes sha256",
        "file_declined",
        "file_failed",
        "file_sent",
        "display ID",
        "chat CHAT TEXT",
        "bye CHAT",
    ] {
        assert!(help.contains(event), "{event} missing from:\n{help}");
    }
    let send = run(&["client", "send", "--help"]);
    for option in ["--imdn", "--wait", "<TO>", "<TEXT>"] {
        assert!(send.contains(option), "{option} missing from:\n{send}");
    }
    let send_file = run(&["client", "send-file", "--help"]);
    for words in ["<TO>", "<PATH>", "603", "progress bar"] {
        assert!(send_file.contains(words), "{words} missing from:\n{send_file}");
    }
}
