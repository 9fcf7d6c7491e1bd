//! Real SIP peers for the interop tests: the `simple-im` binary itself, SIPp, Kamailio, pjsua2 and
//! tshark, each started as a child process with bounded run time and stopped by its own PID.
//!
//! ## Design
//!
//! Every helper fails loudly: a missing peer is a test failure whose message says
//! "run `cargo xtask setup`", never a skip, because a skipped interop test looks like a passing one.
//! Every wait has a deadline, and every child is killed when its guard is dropped, so a hung peer
//! cannot hang `cargo test`. Ports come from [`free_port`], so the tests run in parallel.
//!
//! The committed peer inputs (SIPp scenarios, the Kamailio config, the pjsua2 script) live in
//! `tests/interop/`; [`interop_dir`] finds them.

pub mod kamailio;
pub mod pjsua;
pub mod process;
pub mod server;
pub mod sipp;
pub mod tshark;
pub mod ua;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The advice every "peer missing" failure ends with.
pub const SETUP_HINT: &str = "run `cargo xtask setup` to install the interop peers";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `tests/interop/`, where the committed scenarios, configs and scripts are.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// The full path of `program` on `PATH` (or in `/usr/sbin`, which a non-login PATH may lack);
/// panics with [`SETUP_HINT`] when it is not installed.
pub fn require_program(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/usr/bin".into()]);
    for dir in dirs {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("interop peer `{program}` is not installed: {SETUP_HINT}");
}

/// A port free on 127.0.0.1 for both UDP and TCP at the time of the call. The kernel picks it, so
/// tests running in parallel do not collide; the tiny window before the peer binds it is accepted.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("binding an ephemeral UDP port on 127.0.0.1");
        let port = udp.local_addr().map(|a| a.port()).unwrap_or(0);
        if port != 0 && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1 after 50 tries");
}

/// A fresh, empty scratch directory for one test (under the system temp dir), named after it.
pub fn scratch_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("simple-im-interop-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
