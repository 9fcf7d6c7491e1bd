//! `cargo xtask size`: what each part of the core adds to a minimal Cortex-M firmware, then the QEMU
//! and Nucleo firmwares split into network stack, simple-im and the rest (`size_split`), against the
//! issue 7 budget (simple-im <= 64 KiB code and <= 16 KiB RAM; QEMU firmware <= 128 KiB / 64 KiB).
//!
//! The probe firmware in `boards/size-probe` calls into the core only through features. It is built
//! bare and then once per feature, for thumbv7em-none-eabihf with the release profile the boards use
//! (opt-level "s", LTO, one codegen unit, panic=abort). Sizes come from the ELF's allocated sections:
//! text = vector table + code + read-only data, data = initialised RAM (also stored in flash),
//! bss = zeroed RAM. The build also proves the core needs no allocator: the firmware links without one,
//! and no allocator symbol may appear in it.

use crate::size_split::Part;
use crate::steps::{cargo, root, run as run_cmd};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind};
use std::path::PathBuf;

/// The firmwares split into network stack, simple-im and the rest (see `size_split`): board, cargo
/// features, title, and whether the whole-firmware budget is checked. Both QEMU variants get a
/// verdict: the default (pager) firmware is the one the budget is met for; the chat variant's verdict
/// shows how far session mode is from it. The Nucleo has 2 MiB of flash.
const FIRMWARES: &[(&str, &str, &str, bool)] = &[
    (
        "qemu-mps2-an385",
        "",
        "QEMU mps2-an385 IM client firmware, pager + IMDN (thumbv7m-none-eabi, release)",
        true,
    ),
    (
        "qemu-mps2-an385",
        "chat",
        "QEMU mps2-an385 IM client firmware, pager + IMDN + one chat over MSRP (feature chat)",
        true,
    ),
    (
        "nucleo-f767zi",
        "",
        "Nucleo-F767ZI IM client firmware (thumbv7em-none-eabihf, release)",
        false,
    ),
];

/// The layers the probe can link, each one feature of `boards/size-probe`.
const LAYERS: &[(&str, &str)] = &[
    ("sip", "SIP codec + validation + transactions + digest"),
    ("messaging", "MSRP chunk reader + CPIM + IMDN"),
    ("sip,messaging", "both"),
];

#[derive(Clone, Copy, Default)]
struct Footprint {
    text: u64,
    data: u64,
    bss: u64,
}

fn probe_dir() -> PathBuf {
    root().join("boards").join("size-probe")
}

fn build_probe(feature: Option<&str>) -> Result<Footprint, String> {
    let target_dir = probe_dir()
        .join("target")
        .join(feature.unwrap_or("bare").replace(',', "-"));
    let mut cmd = cargo();
    cmd.current_dir(probe_dir())
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(&target_dir);
    if let Some(f) = feature {
        cmd.args(["--features", f]);
    }
    run_cmd(&mut cmd)?;
    let elf = target_dir
        .join("thumbv7em-none-eabihf")
        .join("release")
        .join("size-probe");
    let bytes = std::fs::read(&elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("parsing {}: {e}", elf.display()))?;
    if let Some(sym) = file.symbols().find(|s| {
        s.name()
            .is_ok_and(|n| n.contains("__rust_alloc") || n.contains("__rdl_alloc"))
    }) {
        return Err(format!(
            "the probe links an allocator symbol ({:?}): the core must not allocate",
            sym.name()
        ));
    }
    let mut fp = Footprint::default();
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        match section.kind() {
            SectionKind::Text | SectionKind::ReadOnlyData | SectionKind::ReadOnlyString => {
                fp.text += section.size()
            }
            SectionKind::Data => fp.data += section.size(),
            SectionKind::UninitializedData => fp.bss += section.size(),
            _ if name == ".vector_table" => fp.text += section.size(),
            _ => {}
        }
    }
    Ok(fp)
}

/// Builds the core for both Cortex-M targets, with and without defmt. The targets have no `std`, and
/// the core declares no `alloc`, so success proves both.
pub fn check_no_std_builds() -> Result<(), String> {
    for target in crate::setup::EMBEDDED_TARGETS {
        run_cmd(cargo().args([
            "build",
            "--quiet",
            "--package",
            "simple-im-core",
            "--target",
            target,
        ]))?;
        run_cmd(cargo().args([
            "build",
            "--quiet",
            "--package",
            "simple-im-core",
            "--features",
            "defmt",
            "--target",
            target,
        ]))?;
    }
    let lib = root().join("core").join("src");
    let uses_alloc = walk_rs(&lib)?
        .into_iter()
        .find(|(_, text)| text.contains("extern crate alloc"));
    match uses_alloc {
        Some((path, _)) => Err(format!("{} declares `extern crate alloc`", path.display())),
        None => Ok(()),
    }
}

fn walk_rs(dir: &std::path::Path) -> Result<Vec<(PathBuf, String)>, String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            out.extend(walk_rs(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            out.push((path, text));
        }
    }
    Ok(out)
}

/// Prints the table and returns a one-line summary.
pub fn run() -> Result<String, String> {
    let bare = build_probe(None)?;
    println!("\nsize of boards/size-probe (thumbv7em-none-eabihf, opt-level s, LTO), bytes:");
    println!("  {:<52} {:>8} {:>8} {:>8}", "firmware", "text", "data", "bss");
    println!(
        "  {:<52} {:>8} {:>8} {:>8}",
        "bare (cortex-m-rt, no simple-im)", bare.text, bare.data, bare.bss
    );
    let mut summary = Vec::new();
    for (feature, what) in LAYERS {
        let with = build_probe(Some(feature))?;
        let added = Footprint {
            text: with.text.saturating_sub(bare.text),
            data: with.data.saturating_sub(bare.data),
            bss: with.bss.saturating_sub(bare.bss),
        };
        println!(
            "  {:<52} {:>+8} {:>+8} {:>+8}",
            format!("+ {feature}: {what}"),
            added.text,
            added.data,
            added.bss
        );
        summary.push(format!("{feature} +{} B text +{} B bss", added.text, added.bss));
    }
    for &(board, features, title, firmware_budget) in FIRMWARES {
        let elf = crate::build_boards::build_with_features(&root().join("boards").join(board), features)?;
        crate::build_boards::measure(&elf)?; // refuses an allocator
        let split = crate::size_split::split(&elf)?;
        crate::size_split::print_table(title, &split);
        let simple_im =
            |m: &std::collections::BTreeMap<Part, u64>| m.get(&Part::SimpleIm).copied().unwrap_or(0);
        let total = |m: &std::collections::BTreeMap<Part, u64>| m.values().sum::<u64>();
        let verdict = |value: u64, limit: u64| {
            if value <= limit {
                "met".to_string()
            } else {
                format!("NOT met, {} B over", value - limit)
            }
        };
        let (im_text, im_ram) = (
            simple_im(&split.text),
            simple_im(&split.data) + simple_im(&split.bss),
        );
        let (fw_text, fw_ram) = (
            total(&split.text) + total(&split.data),
            total(&split.data) + total(&split.bss),
        );
        print!(
            "  issue 7 budget: simple-im {im_text} B code <= 64 KiB {}, {im_ram} B RAM <= 16 KiB {}",
            verdict(im_text, 64 * 1024),
            verdict(im_ram, 16 * 1024),
        );
        if firmware_budget {
            print!(
                "; firmware {fw_text} B flash <= 128 KiB {}, {fw_ram} B RAM <= 64 KiB {}",
                verdict(fw_text, 128 * 1024),
                verdict(fw_ram, 64 * 1024),
            );
        }
        println!();
        summary.push(format!(
            "{board}{}{features}: {} B text, {} B RAM (simple-im {} B text, {} B RAM)",
            if features.is_empty() { "" } else { "+" },
            total(&split.text),
            total(&split.data) + total(&split.bss),
            simple_im(&split.text),
            simple_im(&split.data) + simple_im(&split.bss)
        ));
    }
    Ok(summary.join(", "))
}
