//! The real `simple-im server` for hardware-in-loop runs: built once, started on loopback ports the
//! OS picks, with users added through its own CLI and a temporary data directory removed on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bound from start to `simple-im: ready` (it opens SQLite and binds two sockets).
pub const SERVER_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The domain the firmware and the host users are in (the server's default).
pub const DOMAIN: &str = "localhost";

/// Builds the server binary (debug profile, the host workspace's target directory) once per process.
pub fn build_server() -> Result<PathBuf, String> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace.join("target"));
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.current_dir(&workspace)
                .args(["build", "-p", "simple-im-tokio", "--bin", "simple-im"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let output = cmd.output().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "server build failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(target.join("debug/simple-im"))
        })
        .clone()
}

/// A running server. Dropping it kills the process and removes its data directory.
pub struct ImServer {
    child: Child,
    data: PathBuf,
    /// The server's UDP SIP address on 127.0.0.1 (QEMU's guest reaches it as 10.0.2.2:port).
    pub udp: SocketAddr,
}

impl ImServer {
    /// Starts a server with these `(name, password)` users in a fresh data directory. The server takes
    /// its TCP port equal to the UDP port the OS gave it; when another process holds that TCP port it
    /// exits at once ("Address already in use"), and the start is tried again (a few times).
    pub fn start(users: &[(&str, &str)]) -> Result<ImServer, String> {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::start_or_exit(users) {
                Ok(server) => return Ok(server),
                Err(StartError::Exited(e)) => last = e,
                Err(StartError::Fatal(e)) => return Err(e),
            }
        }
        Err(format!(
            "server did not start in {START_ATTEMPTS} attempts: {last}"
        ))
    }

    fn start_or_exit(users: &[(&str, &str)]) -> Result<ImServer, StartError> {
        let bin = build_server()?;
        let data = fresh_data_dir()?;
        for (name, password) in users {
            let out = Command::new(&bin)
                .arg("--data")
                .arg(&data)
                .args(["user", "add", name, "--password", password])
                .output()
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                return Err(format!("user add {name} failed: {stderr}").into());
            }
        }
        let config = data.join("server.toml");
        // Direct media path: the relay names one address in every leg's SDP, and no single address
        // reaches both the guest (the host is 10.0.2.2 behind QEMU's user network) and the host user.
        std::fs::write(
            &config,
            format!("domain = \"{DOMAIN}\"\n[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n[msrp]\nlisten = \"127.0.0.1:0\"\nmedia_path = \"direct\"\n"),
        )
        .map_err(|e| format!("{}: {e}", config.display()))?;
        let mut child = Command::new(&bin)
            .arg("--data")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .arg("server")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let (lines_tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if lines_tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut server = ImServer {
            child,
            data,
            udp: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = std::time::Instant::now() + SERVER_READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                // Its stdout closed before "ready": the process ended (a port taken).
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(StartError::Exited("the server exited before it was ready".into()))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("server not ready within {SERVER_READY_TIMEOUT:?}").into())
                }
            };
            if let Some(addr) = line.strip_prefix("simple-im: listening on udp ") {
                server.udp = addr
                    .trim()
                    .parse()
                    .map_err(|e| format!("server printed a bad address {addr:?}: {e}"))?;
            }
            if line.trim() == "simple-im: ready" {
                return Ok(server);
            }
        }
    }
}

/// How often [`ImServer::start`] tries when the server exits at start.
const START_ATTEMPTS: usize = 5;

enum StartError {
    /// The server process ended before it was ready: worth another try.
    Exited(String),
    /// Anything else (build, users, timeout): reported as it is.
    Fatal(String),
}

impl From<String> for StartError {
    fn from(e: String) -> Self {
        StartError::Fatal(e)
    }
}

impl Drop for ImServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn fresh_data_dir() -> Result<PathBuf, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "simple-im-hil-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
