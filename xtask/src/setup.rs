//! `cargo xtask setup`: everything the tests need beyond the stable toolchain, installed idempotently:
//! the Cortex-M targets, QEMU and defmt-print for the hardware-in-loop tests (`setup_embedded`), SIPp,
//! Kamailio, tshark and a pjsua2 venv for the interop tests (`setup_interop`),
//! nightly and cargo-fuzz for fuzzing.
//! Each item is checked first, so a second run costs a few process starts.

use crate::steps::run as run_cmd;
use std::process::{Command, Stdio};

/// The Cortex-M targets the core and the firmware build for.
pub const EMBEDDED_TARGETS: [&str; 2] = ["thumbv7m-none-eabi", "thumbv7em-none-eabihf"];

/// Whether a command runs and exits 0, with its output discarded.
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn installed_targets() -> String {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// True when a nightly toolchain is available to `cargo +nightly`.
pub fn have_nightly() -> bool {
    succeeds(Command::new("rustup").args(["run", "nightly", "rustc", "--version"]))
}

pub fn run() -> Result<(), String> {
    let installed = installed_targets();
    let missing: Vec<&str> = EMBEDDED_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if !missing.is_empty() {
        run_cmd(Command::new("rustup").arg("target").arg("add").args(&missing))?;
    }
    crate::setup_embedded::run()?;
    crate::setup_interop::run()?;
    if !have_nightly() {
        // Fuzzing wants nightly's sanitizer flags. Where no nightly can be installed, the fuzz step
        // falls back to the stable compiler with RUSTC_BOOTSTRAP (see fuzz.rs), so this is not fatal.
        if let Err(e) =
            run_cmd(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))
        {
            eprintln!("xtask: no nightly toolchain ({e}); fuzzing will use stable with RUSTC_BOOTSTRAP=1");
        }
    }
    if !succeeds(crate::steps::cargo().args(["fuzz", "--version"])) {
        run_cmd(crate::steps::cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}
