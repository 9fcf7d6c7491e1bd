//! The pjsua2 client script (`tests/interop/pjsua2/exchange.py`) run in the venv that
//! `cargo xtask setup` creates at `target/interop-venv`, bounded in time.

use super::process::run_bounded;
use super::{interop_dir, workspace_root, SETUP_HINT};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The venv's Python; panics with the setup hint when the venv or pjsua2 is missing.
pub fn python() -> PathBuf {
    let python = workspace_root().join("target/interop-venv/bin/python");
    assert!(
        python.is_file(),
        "no Python venv at {}: {SETUP_HINT}",
        python.display()
    );
    let mut check = Command::new(&python);
    check.args(["-c", "import pjsua2"]);
    let done = run_bounded("python -c 'import pjsua2'", check, Duration::from_secs(30));
    assert!(
        done.status.is_some_and(|s| s.success()),
        "pjsua2 does not import in the venv ({}): {SETUP_HINT}",
        done.output
    );
    python
}

/// Runs `exchange.py` with `args`; returns (exit code, output). The script bounds itself to
/// `--timeout`; this kills it 10 s later in any case.
pub fn run_exchange(args: &[String], timeout: Duration) -> (Option<i32>, String) {
    let mut cmd = Command::new(python());
    cmd.arg(interop_dir().join("pjsua2").join("exchange.py"))
        .args(args);
    cmd.args(["--timeout", &timeout.as_secs().to_string()]);
    let done = run_bounded("pjsua2 exchange.py", cmd, timeout + Duration::from_secs(10));
    (done.status.and_then(|s| s.code()), done.output)
}
