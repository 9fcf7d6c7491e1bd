//! Kamailio as the SIP/IP core in front of simple-im (application-server mode), started in the
//! foreground with the committed config `tests/interop/kamailio/as-core.cfg`, its own run directory
//! and port, and stopped by its PID (SIGTERM to its process group: the main process and its workers).

use super::process::Running;
use super::ua::probe_sip;
use super::{interop_dir, require_program};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Shared memory (MB) and private memory (MB) per process: ample for a functional test.
pub const SHM_MB: u32 = 64;
/// Private memory per process, MB.
pub const PKG_MB: u32 = 8;

/// A running Kamailio.
pub struct Kamailio {
    running: Running,
    /// Its SIP address, `IP:PORT` (UDP).
    pub addr: String,
}

impl Kamailio {
    /// Starts Kamailio listening on `ip`:`port` (any 127.x.y.z works on Linux's `lo`, which lets a
    /// test tell the core's address from the clients'), routing MESSAGE through the AS at
    /// 127.0.0.1:`as_port`; returns once it answers SIP (an OPTIONS gets a response) or panics
    /// after 15 s.
    pub fn start(dir: &Path, ip: &str, port: u16, as_port: u16) -> Kamailio {
        let program = require_program("kamailio");
        let config = interop_dir().join("kamailio").join("as-core.cfg");
        let run_dir = dir.join("kamailio-run");
        std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| panic!("creating {}: {e}", run_dir.display()));
        let mut cmd = Command::new(program);
        cmd.arg("-DD").arg("-E").arg("-f").arg(&config);
        cmd.arg("-l").arg(format!("udp:{ip}:{port}"));
        cmd.args(["-m", &SHM_MB.to_string(), "-M", &PKG_MB.to_string()]);
        cmd.arg("-Y").arg(&run_dir).current_dir(&run_dir);
        cmd.arg("-A").arg(format!("AS_URI=\"sip:127.0.0.1:{as_port}\""));
        cmd.arg("-A").arg(format!("AS_PORT={as_port}"));
        cmd.arg("-A").arg(format!("CORE_ROUTE=\"<sip:{ip}:{port};lr>\""));
        let mut running = Running::spawn("kamailio", cmd);
        let addr = format!("{ip}:{port}");
        if probe_sip(&addr, Duration::from_secs(15)).is_none() {
            let status = running.wait_timeout(Duration::from_millis(10));
            panic!(
                "kamailio did not answer SIP on {addr} within 15 s (exit {status:?}):\n{}",
                running.output()
            );
        }
        Kamailio { running, addr }
    }

    /// Its log so far.
    pub fn output(&self) -> String {
        self.running.output()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.running.stop("TERM", Duration::from_secs(5));
    }
}

/// Whether a `kamailio` binary is on the PATH (or in /usr/sbin): the MSRP relay test skips, saying
/// so, when it is not.
pub fn is_installed() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into()])
        .any(|dir| dir.join("kamailio").is_file())
}

/// Kamailio's `msrp` module as an RFC 4976 MSRP relay (committed config
/// `tests/interop/kamailio/msrp-relay.cfg`), listening on TCP `127.0.0.1:port`.
pub struct MsrpRelay {
    running: Running,
    /// Its MSRP URI (no session-id: the one to AUTH with; the Use-Path it answers has one).
    pub uri: String,
}

impl MsrpRelay {
    /// Starts the relay, accepting AUTH from `user` with `password`; returns once its port accepts
    /// TCP connections, or panics after 15 s.
    pub fn start(dir: &Path, port: u16, user: &str, password: &str) -> MsrpRelay {
        let program = require_program("kamailio");
        let config = interop_dir().join("kamailio").join("msrp-relay.cfg");
        let run_dir = dir.join("kamailio-msrp-run");
        std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| panic!("creating {}: {e}", run_dir.display()));
        let mut cmd = Command::new(program);
        cmd.arg("-DD").arg("-E").arg("-f").arg(&config);
        cmd.arg("-l").arg(format!("tcp:127.0.0.1:{port}"));
        cmd.args(["-m", &SHM_MB.to_string(), "-M", &PKG_MB.to_string()]);
        cmd.arg("-Y").arg(&run_dir).current_dir(&run_dir);
        cmd.arg("-A").arg(format!("USE_PATH_ADDR=\"127.0.0.1:{port}\""));
        cmd.arg("-A").arg(format!("AUTH_USER=\"{user}\""));
        cmd.arg("-A").arg(format!("AUTH_PASSWORD=\"{password}\""));
        let mut running = Running::spawn("kamailio-msrp", cmd);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                let status = running.wait_timeout(Duration::from_millis(10));
                panic!(
                    "kamailio (msrp relay) did not listen on 127.0.0.1:{port} within 15 s (exit {status:?}):\n{}",
                    running.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        MsrpRelay {
            running,
            uri: format!("msrp://127.0.0.1:{port};tcp"),
        }
    }

    /// Its log so far.
    pub fn output(&self) -> String {
        self.running.output()
    }
}

impl Drop for MsrpRelay {
    fn drop(&mut self) {
        self.running.stop("TERM", Duration::from_secs(5));
    }
}
