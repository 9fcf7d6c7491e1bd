//! The CI step that builds the real boards' firmware: every crate under `boards/` that no other step
//! builds, in release mode, for the target its own `.cargo/config.toml` names. Nothing runs (there is
//! no hardware in CI); the build proves the firmware still compiles and links against the current core,
//! and the sizes show how much flash and RAM it takes.
//!
//! The QEMU board is left out because the hardware-in-loop tests build and run it, and the size probe
//! because `cargo xtask size` builds it once per feature.
//!
//! Each ELF is also checked for allocator symbols: the firmware must link without a global allocator,
//! so memory stays bounded by construction. Sizes come from the ELF's allocated sections:
//! text = vector table + code + read-only data (flash), data = initialised RAM (stored in flash too),
//! bss = zeroed and uninitialised RAM.

use crate::steps::{cargo, root};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Board crates built by other steps (see the module docs).
const BUILT_ELSEWHERE: &[&str] = &["qemu-mps2-an385", "size-probe"];

/// Flash and RAM taken by one firmware image, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElfSize {
    /// Code, read-only data and the vector table.
    pub text: u64,
    /// Initialised statics.
    pub data: u64,
    /// Zeroed and uninitialised statics.
    pub bss: u64,
}

/// Builds every board that is not built elsewhere; returns one summary line with their sizes.
pub fn run() -> Result<String, String> {
    let boards = boards_to_build()?;
    if boards.is_empty() {
        return Ok("no board crates to build".into());
    }
    let mut summary = Vec::new();
    for dir in &boards {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let elf = build(dir)?;
        let size = measure(&elf)?;
        println!(
            "{name}: text {} B, data {} B, bss {} B ({})",
            size.text,
            size.data,
            size.bss,
            elf.display()
        );
        summary.push(format!(
            "{name} text {} B data {} B bss {} B",
            size.text, size.data, size.bss
        ));
    }
    Ok(format!("{}; no allocator linked", summary.join(", ")))
}

/// The board directories with a Cargo.toml, minus [`BUILT_ELSEWHERE`], in name order.
fn boards_to_build() -> Result<Vec<PathBuf>, String> {
    let boards = root().join("boards");
    let entries = std::fs::read_dir(&boards).map_err(|e| format!("reading {}: {e}", boards.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !BUILT_ELSEWHERE.contains(&n))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// `cargo build --release` in the board's directory (so its `.cargo/config.toml` applies); returns
/// the path of the executable cargo reports.
pub fn build(dir: &Path) -> Result<PathBuf, String> {
    build_with_features(dir, "")
}

/// [`build`] with the board's cargo `features` (comma-separated; empty for the defaults).
pub fn build_with_features(dir: &Path, features: &str) -> Result<PathBuf, String> {
    let mut cmd = cargo();
    cmd.current_dir(dir)
        .args(["build", "--release", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped());
    if !features.is_empty() {
        cmd.args(["--features", features]);
    }
    eprintln!("xtask: running {cmd:?} in {}", dir.display());
    let output = cmd.output().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building {} failed with {}",
            dir.display(),
            output.status
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| message["executable"].as_str().map(PathBuf::from))
        .next_back()
        .ok_or_else(|| format!("building {} produced no executable", dir.display()))
}

/// Sizes of a firmware ELF; an error if it links an allocator.
pub fn measure(elf: &Path) -> Result<ElfSize, String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("parsing {}: {e}", elf.display()))?;
    let allocator = file.symbols().find(|symbol| {
        symbol
            .name()
            .is_ok_and(|n| n.contains("__rust_alloc") || n.contains("__rdl_alloc"))
    });
    if let Some(symbol) = allocator {
        return Err(format!(
            "{} links an allocator ({}): the firmware must not allocate",
            elf.display(),
            symbol.name().unwrap_or("?")
        ));
    }
    let mut size = ElfSize::default();
    for section in file.sections() {
        match (section.kind(), section.name().unwrap_or("")) {
            (SectionKind::Text | SectionKind::ReadOnlyData | SectionKind::ReadOnlyString, _)
            | (_, ".vector_table") => size.text += section.size(),
            (SectionKind::Data, _) => size.data += section.size(),
            (SectionKind::UninitializedData, _) | (_, ".uninit") => size.bss += section.size(),
            _ => {}
        }
    }
    Ok(size)
}
