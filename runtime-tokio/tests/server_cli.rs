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
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n[msrp]\nlisten = \"127.0.0.1:0\"\n",
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
    assert_eq!(seen.len(), 5, "{seen:?}");
    let udp = seen[0]
        .strip_prefix("simple-im: listening on udp 127.0.0.1:")
        .expect("udp line first");
    let tcp = seen[1]
        .strip_prefix("simple-im: listening on tcp 127.0.0.1:")
        .expect("tcp line second");
    assert_eq!(udp, tcp, "port 0 for TCP takes the UDP port");
    let msrp = seen[2]
        .strip_prefix("simple-im: msrp on tcp 127.0.0.1:")
        .expect("msrp line third");
    assert_ne!(msrp, "0", "the real bound port is printed");
    assert_eq!(seen[3], format!("simple-im: data in {}", data.display()));

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

/// Starts `simple-im --config FILE server EXTRA...` with `toml` (plus loopback listeners); returns the
/// child and the WWW-Authenticate values of its 401 to a REGISTER.
fn challenges_offered(toml: &str, extra: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!("{toml}\n[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = []\n[msrp]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let mut child = simple_im()
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .arg("server")
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let port: u16 = first
        .strip_prefix("simple-im: listening on udp 127.0.0.1:")
        .expect("udp line")
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let offered = runtime.block_on(async {
        let mut ua = server_support::Ua::udp("nobody", "pw", ([127, 0, 0, 1], port).into()).await;
        let (bytes, _) = ua.build("REGISTER", "sip:localhost", "<sip:nobody@localhost>", &[], None);
        ua.send_raw(&bytes).await;
        let challenge = ua.receive().await.expect("a 401");
        challenge
            .values(simple_im_core::sip::HeaderName::WwwAuthenticate)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    child.kill().unwrap();
    let _ = child.wait();
    offered
}

#[test]
fn digest_algorithms_come_from_the_config_file_and_the_flag_overrides_them() {
    let toml = "[server]\ndigest_algorithms = [\"SHA-256\"]";
    let from_file = challenges_offered(toml, &[]);
    assert_eq!(from_file.len(), 1, "{from_file:?}");
    assert!(from_file[0].contains("algorithm=SHA-256"), "{from_file:?}");
    let from_flag = challenges_offered(toml, &["--digest-algorithms", "MD5"]);
    assert_eq!(from_flag.len(), 1, "{from_flag:?}");
    assert!(from_flag[0].contains("algorithm=MD5"), "{from_flag:?}");
}
