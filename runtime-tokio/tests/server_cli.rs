//! The CLI contract the interop tests rely on: `simple-im [--data DIR] [--config FILE] server` prints
//! its start-up lines in order; `user add/list/policy/remove` manage accounts; a running server sees a
//! user added after it started.

mod server_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn simple_im() -> Command {
    Command::new(env!("CARGO_BIN_EXE_simple-im"))
}

#[test]
fn server_prints_the_startup_lines_in_order_and_sees_new_users() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut child = simple_im()
        .arg("--data")
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .arg("server")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line == "simple-im: ready";
        seen.push(line);
        if done {
            break;
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    let udp = seen[0]
        .strip_prefix("simple-im: listening on udp 127.0.0.1:")
        .expect("udp line first");
    let tcp = seen[1]
        .strip_prefix("simple-im: listening on tcp 127.0.0.1:")
        .expect("tcp line second");
    assert_eq!(udp, tcp, "port 0 for TCP takes the UDP port");
    assert_eq!(seen[2], format!("simple-im: data in {}", data.display()));

    let add = simple_im()
        .arg("--data")
        .arg(&data)
        .args(["user", "add", "carol", "--password", "pw"])
        .output()
        .unwrap();
    assert!(add.status.success(), "{add:?}");
    let list = simple_im()
        .arg("--data")
        .arg(&data)
        .args(["user", "list"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).starts_with("carol\t"));
    let policy = simple_im()
        .arg("--data")
        .arg(&data)
        .args(["user", "policy", "carol", "--block", "sip:mallory@localhost"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&policy.stdout).contains("blocked\tsip:mallory@localhost"));

    // The running server authenticates carol without a restart.
    let port: u16 = udp.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        let mut carol = server_support::Ua::udp("carol", "pw", ([127, 0, 0, 1], port).into()).await;
        carol.register(600).await.status()
    });
    assert_eq!(status, Some(200));

    child.kill().unwrap();
    let _ = child.wait();
    let removed = simple_im()
        .arg("--data")
        .arg(&data)
        .args(["user", "remove", "carol"])
        .output()
        .unwrap();
    assert!(removed.status.success());
}
