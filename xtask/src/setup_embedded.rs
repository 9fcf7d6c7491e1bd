//! Set-up for the hardware-in-loop tests: QEMU for Arm (`qemu-system-arm`) and `defmt-print`.
//!
//! Debian 12's own QEMU 7.2 conflicts with the `qemu-utils` from bookworm-backports that these machines
//! carry, so QEMU comes from bookworm-backports too. The backports source reuses the mirror of the
//! machine's existing `bookworm` entry, so a machine behind a local mirror keeps using it.
//!
//! Every step checks first, so a second run only starts a few processes. This file uses `std` alone so
//! that it can be called from `setup.rs` or compiled on its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const APT_DIR: &str = "/etc/apt";
const BACKPORTS_SUITE: &str = "bookworm-backports";
const BACKPORTS_FILE: &str = "/etc/apt/sources.list.d/simple-im-bookworm-backports.sources";
/// Used when no `bookworm` entry names a mirror.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Installs `qemu-system-arm` (from bookworm-backports) and `defmt-print` when missing.
pub fn run() -> Result<(), String> {
    let qemu_missing = !on_path("qemu-system-arm");
    let added_source = ensure_backports_source()?;
    if added_source || qemu_missing {
        run_checked(Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=900", "update"]))?;
    }
    if qemu_missing {
        run_checked(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args([
                    "-o",
                    "DPkg::Lock::Timeout=900",
                    "install",
                    "-y",
                    "--no-install-recommends",
                ])
                .args(["-t", BACKPORTS_SUITE, "qemu-system-arm"]),
        )?;
    }
    if !on_path("defmt-print") {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run_checked(Command::new(cargo).args(["install", "defmt-print", "--locked"]))?;
    }
    Ok(())
}

/// Whether `program` is found in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn run_checked(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed with {status}; installing QEMU needs root (apt-get)"
        ))
    }
}

/// Adds the bookworm-backports source unless one exists; returns whether it wrote one.
fn ensure_backports_source() -> Result<bool, String> {
    let sources = apt_source_files();
    let texts: Vec<String> = sources
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    if texts.iter().any(|t| names_suite(t, BACKPORTS_SUITE)) {
        return Ok(false);
    }
    let mirror = texts
        .iter()
        .find_map(|t| bookworm_mirror(t))
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string());
    let mut entry = format!("Types: deb\nURIs: {mirror}\nSuites: {BACKPORTS_SUITE}\nComponents: main\n");
    if Path::new(DEBIAN_KEYRING).is_file() {
        entry.push_str(&format!("Signed-By: {DEBIAN_KEYRING}\n"));
    }
    std::fs::write(BACKPORTS_FILE, entry)
        .map_err(|e| format!("cannot write {BACKPORTS_FILE}: {e} (needs root)"))?;
    eprintln!("xtask: added {BACKPORTS_SUITE} from {mirror} in {BACKPORTS_FILE}");
    Ok(true)
}

/// `/etc/apt/sources.list` and the `.list`/`.sources` files of `sources.list.d`.
fn apt_source_files() -> Vec<PathBuf> {
    let mut files = vec![Path::new(APT_DIR).join("sources.list")];
    if let Ok(dir) = std::fs::read_dir(Path::new(APT_DIR).join("sources.list.d")) {
        for entry in dir.flatten() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str());
            if matches!(ext, Some("list") | Some("sources")) {
                files.push(path);
            }
        }
    }
    files.retain(|p| p.is_file());
    files
}

/// Lines that are not comments, trimmed.
fn active_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Whether a one-line (`deb URI SUITE ...`) or deb822 (`Suites: ...`) source names `suite`.
fn names_suite(text: &str, suite: &str) -> bool {
    active_lines(text).any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"deb") => one_line_uri_and_suite(&words).is_some_and(|(_, s)| s == suite),
            Some(key) if key.eq_ignore_ascii_case("Suites:") => words[1..].contains(&suite),
            _ => false,
        }
    })
}

/// The URI and suite of a one-line entry (`deb [options] URI SUITE COMPONENTS...`).
fn one_line_uri_and_suite<'a>(words: &[&'a str]) -> Option<(&'a str, &'a str)> {
    let mut rest = words.iter().skip(1).copied();
    let mut word = rest.next()?;
    if word.starts_with('[') {
        while !word.ends_with(']') {
            word = rest.next()?;
        }
        word = rest.next()?;
    }
    Some((word, rest.next()?))
}

/// The mirror URI of the first entry for the plain `bookworm` suite, in either format.
fn bookworm_mirror(text: &str) -> Option<String> {
    // deb822: a stanza is a run of non-blank lines; remember its URIs until its Suites are known.
    for stanza in text.split("\n\n") {
        let mut uri = None;
        let mut has_bookworm = false;
        for line in active_lines(stanza) {
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or("");
            if key.eq_ignore_ascii_case("URIs:") {
                uri = words.next().map(str::to_string);
            } else if key.eq_ignore_ascii_case("Suites:") {
                has_bookworm = words.any(|w| w == "bookworm");
            } else if key == "deb" {
                let all: Vec<&str> = line.split_whitespace().collect();
                if let Some((uri, "bookworm")) = one_line_uri_and_suite(&all) {
                    return Some(uri.to_string());
                }
            }
        }
        if has_bookworm {
            if let Some(uri) = uri {
                return Some(uri);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";

    #[test]
    fn deb822_bookworm_mirror_is_copied() {
        assert_eq!(
            bookworm_mirror(DEB822).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert!(!names_suite(DEB822, BACKPORTS_SUITE));
    }

    #[test]
    fn one_line_entries_with_options_are_read() {
        let text = "deb [arch=amd64] http://m.example/debian bookworm main\ndeb http://m.example/debian bookworm-backports main\n";
        assert_eq!(bookworm_mirror(text).as_deref(), Some("http://m.example/debian"));
        assert!(names_suite(text, BACKPORTS_SUITE));
    }

    #[test]
    fn commented_backports_entry_does_not_count() {
        assert!(!names_suite(
            "# deb http://m.example/debian bookworm-backports main\n",
            BACKPORTS_SUITE
        ));
    }
}
