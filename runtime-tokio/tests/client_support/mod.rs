//! The real `simple-im server` and `simple-im client` processes for end-to-end tests: a server on an
//! ephemeral loopback port with users alice/alice-pw and bob/bob-pw, online clients whose output lines
//! are read by a thread, and one-shot client commands.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for one line.
pub const WAIT: Duration = Duration::from_secs(15);

fn simple_im() -> Command {
    Command::new(env!("CARGO_BIN_EXE_simple-im"))
}

/// A running server (killed on drop).
pub struct ServerProcess {
    child: Child,
    /// `127.0.0.1:PORT` (UDP and TCP).
    pub address: String,
    /// The MSRP relay's listen port (`[msrp] listen`, fixed in the config: every client MSRP
    /// connection goes to it).
    pub msrp_port: u16,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts a server with alice and bob.
    pub fn start() -> ServerProcess {
        Self::start_with("")
    }

    /// Starts a server with alice and bob and `extra` appended to its configuration (whole tables).
    pub fn start_with(extra: &str) -> ServerProcess {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("server.toml");
        let data = dir.path().join("data");
        for (name, password) in [("alice", "alice-pw"), ("bob", "bob-pw")] {
            let added = simple_im()
                .arg("--data")
                .arg(&data)
                .args(["user", "add", name, "--password", password])
                .output()
                .unwrap();
            assert!(added.status.success(), "{added:?}");
        }
        // Port 0 for TCP takes the UDP port, which another test may hold over TCP: retry then.
        let mut attempts = 0;
        // The relay's port is fixed in the config (2855 by default, which parallel tests would share):
        // a port found free just before, retried like the SIP port when another process took it.
        let (child, address, msrp_port, lines) = loop {
            attempts += 1;
            let msrp_port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            // Short registrations allowed, so a test can watch refreshes. `extra` may bring its own
            // `[msrp]` table (then `msrp_port` is not the relay's).
            let msrp = if extra.contains("[msrp]") {
                String::new()
            } else {
                format!("[msrp]\nlisten = \"127.0.0.1:{msrp_port}\"\n")
            };
            let text = format!(
                "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n[server]\nmin_expires = 1\n{msrp}{extra}"
            );
            std::fs::write(&config, text).unwrap();
            let mut child = simple_im()
                .arg("--data")
                .arg(&data)
                .arg("--config")
                .arg(&config)
                .arg("server")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let first = lines.next().and_then(Result::ok);
            let address = first
                .as_deref()
                .and_then(|l| l.strip_prefix("simple-im: listening on udp "))
                .map(str::to_owned);
            let mut ready = false;
            if address.is_some() {
                for line in lines.by_ref() {
                    if line.unwrap() == "simple-im: ready" {
                        ready = true;
                        break;
                    }
                }
            }
            match address {
                Some(address) if ready => break (child, address, msrp_port, lines),
                _ => {
                    let output = child.wait_with_output().unwrap();
                    assert!(attempts < 10, "server did not start: {output:?}");
                }
            }
        };
        // Keep reading so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess {
            child,
            address,
            msrp_port,
            _dir: dir,
        }
    }

    /// The server's resident set size and its peak so far, in KiB (`VmRSS`, `VmHWM` of
    /// /proc/PID/status).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// `simple-im client --server ADDR --user NAME --password NAME-pw` plus `args`.
    pub fn client_command(&self, user: &str, args: &[&str]) -> Command {
        let mut command = simple_im();
        command
            .args(["client", "--server", &self.address, "--user", user, "--password"])
            .arg(format!("{user}-pw"))
            .args(args);
        command
    }

    /// Runs a one-shot client command to completion.
    pub fn run(&self, user: &str, args: &[&str]) -> Output {
        self.client_command(user, args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Starts an online client (its first line, `registered`, already read).
    pub fn online(&self, user: &str, args: &[&str]) -> OnlineClient {
        let mut client = self.interactive(user, args);
        client.expect(|l| l.contains("registered") && l.contains("expires"));
        client
    }

    /// Starts a client command whose standard input and output the test drives.
    pub fn interactive(&self, user: &str, args: &[&str]) -> OnlineClient {
        let mut child = self
            .client_command(user, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Standard error is read too (so a chatty client never blocks on a full pipe), its lines
        // prefixed with `stderr: ` so that failures show them next to the events.
        let stderr = child.stderr.take().unwrap();
        let errors = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if errors.send(format!("stderr: {line}")).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        OnlineClient {
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client process in online mode.
pub struct OnlineClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl OnlineClient {
    /// Reads lines until one satisfies `wanted`, and returns it; panics after [`WAIT`].
    pub fn expect(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no wanted line within {WAIT:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// Writes one line on the client's standard input.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Kills the process at once (no un-registration, connections reset).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (with the `kill` command: no libc binding needed).
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the client to exit by itself; returns its status and the lines it printed after.
    pub fn wait_exit(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let rest: Vec<String> = self.lines.try_iter().collect();
                return (status, rest);
            }
            assert!(Instant::now() < deadline, "client did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes standard input and waits for the client to un-register and exit; returns its status
    /// and the lines it printed after.
    pub fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        self.stdin.take();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let rest: Vec<String> = self.lines.try_iter().collect();
                return (status, rest);
            }
            assert!(
                Instant::now() < deadline,
                "client did not exit after end of input"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OnlineClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key` in a plain-text event line (bare or quoted).
pub fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = line.get(start..)?;
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        None
    } else {
        Some(rest.split(' ').next().unwrap_or("").to_owned())
    }
}

/// Standard output of a finished command, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error of a finished command, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
