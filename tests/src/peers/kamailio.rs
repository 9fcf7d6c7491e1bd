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
    /// Its SIP port on 127.0.0.1 (UDP).
    pub port: u16,
}

impl Kamailio {
    /// Starts Kamailio listening on `port`, routing MESSAGE through the AS at 127.0.0.1:`as_port`;
    /// returns once it answers SIP (an OPTIONS gets a response) or panics after 15 s.
    pub fn start(dir: &Path, port: u16, as_port: u16) -> Kamailio {
        let program = require_program("kamailio");
        let config = interop_dir().join("kamailio").join("as-core.cfg");
        let run_dir = dir.join("kamailio-run");
        std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| panic!("creating {}: {e}", run_dir.display()));
        let mut cmd = Command::new(program);
        cmd.arg("-DD").arg("-E").arg("-f").arg(&config);
        cmd.arg("-l").arg(format!("udp:127.0.0.1:{port}"));
        cmd.args(["-m", &SHM_MB.to_string(), "-M", &PKG_MB.to_string()]);
        cmd.arg("-Y").arg(&run_dir).current_dir(&run_dir);
        cmd.arg("-A").arg(format!("AS_URI=\"sip:127.0.0.1:{as_port}\""));
        cmd.arg("-A").arg(format!("AS_PORT={as_port}"));
        cmd.arg("-A").arg(format!("CORE_ROUTE=\"<sip:127.0.0.1:{port};lr>\""));
        let mut running = Running::spawn("kamailio", cmd);
        if probe_sip(&format!("127.0.0.1:{port}"), Duration::from_secs(15)).is_none() {
            let status = running.wait_timeout(Duration::from_millis(10));
            panic!("kamailio did not answer SIP on port {port} within 15 s (exit {status:?}):\n{}", running.output());
        }
        Kamailio { running, port }
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
