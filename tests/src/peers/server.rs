//! The `simple-im` binary under test: a data directory, a config file with chosen ports, users added
//! through the CLI, start-up awaited on `simple-im: ready`, restarts on the same data (crash tests).
//!
//! The binary is looked up next to the test executable's profile directory (`target/debug/simple-im`)
//! or at `$SIMPLE_IM_BIN`; `cargo xtask test` builds the whole workspace, which includes it.

use super::process::{run_bounded, Running};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long start-up may take before the test fails.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The line the server prints once it serves requests.
pub const READY_LINE: &str = "simple-im: ready";

/// The `simple-im` executable.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SIMPLE_IM_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test-exe> -> target/<profile>/simple-im
    let exe = std::env::current_exe().unwrap_or_default();
    let candidates = exe.ancestors().skip(1).take(3).map(|dir| dir.join("simple-im"));
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "the simple-im binary was not found next to {}; build it with `cargo build -p simple-im-tokio` \
         (cargo xtask test does) or set SIMPLE_IM_BIN",
        exe.display()
    );
}

/// What the test wants from the server's configuration; turned into the TOML file.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The SIP port, on UDP and TCP of 127.0.0.1.
    pub port: u16,
    /// `limits.max_pager_body_bytes`, when the test needs a specific one.
    pub max_pager_body_bytes: Option<u64>,
    /// `trusted_cores`: addresses whose P-Asserted-Identity is believed.
    pub trusted_cores: Vec<String>,
    /// `server --digest-algorithms`: the challenge order, most preferred first (server default when
    /// empty). SIPp answers only the first challenge and only with MD5, so its tests put MD5 first.
    pub digest_algorithms: Vec<String>,
}

impl ServerOptions {
    /// Defaults (domain `localhost`) on the given port.
    pub fn on_port(port: u16) -> ServerOptions {
        ServerOptions {
            port,
            max_pager_body_bytes: None,
            trusted_cores: Vec::new(),
            digest_algorithms: Vec::new(),
        }
    }

    /// The config file text. Keys follow runtime-tokio/src/config.rs.
    pub fn to_toml(&self) -> String {
        let mut text = String::from("domain = \"localhost\"\n");
        if !self.trusted_cores.is_empty() {
            let list: Vec<String> = self.trusted_cores.iter().map(|a| format!("\"{a}\"")).collect();
            let _ = writeln!(text, "trusted_cores = [{}]", list.join(", "));
        }
        let _ = write!(
            text,
            "\n[sip]\nudp = [\"127.0.0.1:{p}\"]\ntcp = [\"127.0.0.1:{p}\"]\n\n[msrp]\nlisten = \"127.0.0.1:0\"\n",
            p = self.port
        );
        if let Some(max) = self.max_pager_body_bytes {
            let _ = write!(text, "\n[limits]\nmax_pager_body_bytes = {max}\n");
        }
        text
    }
}

/// One server instance's data directory and config; can be (re)started any number of times.
pub struct Server {
    /// The options it was configured with.
    pub options: ServerOptions,
    /// Its data directory (kept across restarts).
    pub data_dir: PathBuf,
    config: PathBuf,
    running: Option<Running>,
}

impl Server {
    /// Prepares (does not start) a server with its data and config under `dir`.
    pub fn new(dir: &Path, options: ServerOptions) -> Server {
        let data_dir = dir.join("data");
        let config = dir.join("simple-im.toml");
        std::fs::create_dir_all(&data_dir).unwrap_or_else(|e| panic!("creating {}: {e}", data_dir.display()));
        std::fs::write(&config, options.to_toml())
            .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        Server {
            options,
            data_dir,
            config,
            running: None,
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(binary());
        cmd.arg("--data")
            .arg(&self.data_dir)
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    /// Runs a CLI command (`user add alice --password pw`, ...) against this data directory;
    /// panics with its output unless it exits 0.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = self.command();
        cmd.args(args);
        let done = run_bounded("simple-im cli", cmd, Duration::from_secs(30));
        match done.status {
            Some(status) if status.success() => done.output,
            other => panic!(
                "`simple-im {}` failed ({other:?}):\n{}",
                args.join(" "),
                done.output
            ),
        }
    }

    /// Adds a user with a password.
    pub fn add_user(&self, name: &str, password: &str) {
        self.cli(&["user", "add", name, "--password", password]);
    }

    /// Starts the server and waits for its ready line, checking the listen lines on the way.
    pub fn start(&mut self) {
        assert!(self.running.is_none(), "server already running");
        let mut cmd = self.command();
        cmd.arg("server");
        if !self.options.digest_algorithms.is_empty() {
            cmd.arg("--digest-algorithms")
                .arg(self.options.digest_algorithms.join(","));
        }
        let mut running = Running::spawn("simple-im server", cmd);
        running.wait_for_line(READY_LINE, READY_TIMEOUT, |l| l.trim() == READY_LINE);
        let output = running.output();
        let udp = format!("simple-im: listening on udp 127.0.0.1:{}", self.options.port);
        assert!(
            output.contains(&udp),
            "server did not print `{udp}`; it printed:\n{output}"
        );
        self.running = Some(running);
    }

    /// SIGKILL: no chance to flush or clean up, as in a power cut.
    pub fn kill(&mut self) {
        if let Some(mut running) = self.running.take() {
            running.kill_hard();
        }
    }

    /// A graceful stop (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        if let Some(mut running) = self.running.take() {
            running.stop("TERM", Duration::from_secs(5));
        }
    }

    /// Everything the current (or last) instance printed.
    pub fn output(&self) -> String {
        self.running.as_ref().map(Running::output).unwrap_or_default()
    }

    /// The SIP address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.options.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A started server on a fresh port with `users` (name, password) added, in a scratch dir for `test`.
pub fn start_with_users(
    test: &str,
    users: &[(&str, &str)],
    configure: impl FnOnce(&mut ServerOptions),
) -> Server {
    let dir = super::scratch_dir(test);
    let mut options = ServerOptions::on_port(super::free_port());
    configure(&mut options);
    let mut server = Server::new(&dir, options);
    for (name, password) in users {
        server.add_user(name, password);
    }
    server.start();
    server
}
