//! `cargo xtask setup` (interop part): the real SIP peers the interop tests drive, installed
//! idempotently. Each item is checked first, so a second run costs a few process starts.
//!
//! - Debian packages `sip-tester` (SIPp), `kamailio` and `tshark`. tshark's package asks whether
//!   non-root users may capture; the question is answered (no) before apt runs so the install never
//!   waits for a terminal. `apt-get update` runs once, and only when something is missing.
//! - A Python venv at `target/interop-venv` holding `pjsua2-python` (a binary wheel of pjsua2),
//!   pinned in `tests/interop/requirements.txt`.

use crate::steps::{root, run as run_cmd};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Debian packages and the executable each one provides (checked to decide whether to install).
pub const APT_PACKAGES: [(&str, &str); 4] = [
    ("sip-tester", "sipp"),
    ("kamailio", "kamailio"),
    ("tshark", "tshark"),
    ("libxml2-utils", "xmllint"),
];

/// The pinned Python requirements of the interop tests (pjsua2-python).
pub const REQUIREMENTS: &str = "tests/interop/requirements.txt";

/// Where the venv lives, relative to the workspace root (the interop tests look there too).
pub const VENV_DIR: &str = "target/interop-venv";

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn venv_python() -> PathBuf {
    root().join(VENV_DIR).join("bin").join("python")
}

fn pjsua2_importable() -> bool {
    Command::new(venv_python())
        .args(["-c", "import pjsua2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn install_apt(missing: &[&str]) -> Result<(), String> {
    // Without this answer wireshark-common's configuration would prompt (and fail without a tty).
    run_cmd(Command::new("sh").args([
        "-c",
        "echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections",
    ]))?;
    // Another engineer's apt may hold the lock: wait for it rather than fail.
    run_cmd(Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=900", "update"]))?;
    run_cmd(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "-o",
                "DPkg::Lock::Timeout=900",
            ])
            .args(missing),
    )
}

/// Installs whatever the interop tests need and is not there yet.
pub fn run() -> Result<(), String> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .filter(|(_, program)| !on_path(program))
        .map(|(package, _)| *package)
        .collect();
    if !missing.is_empty() {
        install_apt(&missing)?;
    }
    if !pjsua2_importable() {
        if !venv_python().exists() {
            run_cmd(
                Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(root().join(VENV_DIR)),
            )?;
        }
        run_cmd(
            Command::new(venv_python())
                .args(["-m", "pip", "install", "--quiet", "-r"])
                .arg(root().join(REQUIREMENTS)),
        )?;
        if !pjsua2_importable() {
            return Err(format!(
                "{REQUIREMENTS} installed in {VENV_DIR} but `import pjsua2` still fails"
            ));
        }
    }
    Ok(())
}
