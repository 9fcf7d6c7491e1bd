//! Splits a firmware ELF's text, data and bss into the parts a firmware team budgets for: the network
//! stack, simple-im (core + runtime-embassy + the crates only they use), the Rust core library, and the
//! rest (board, executor, HAL, defmt, cortex-m-rt).
//!
//! # How bytes are attributed
//!
//! | bytes | attributed by |
//! |---|---|
//! | code (`.text`) | the DWARF line table: each address range goes to the crate of its source file |
//! | code whose source file is the Rust library or a crate of no part (inlined `core::...`, `heapless`) | the innermost caller it was inlined into whose file has a part (DWARF inlined-subroutine call sites), else the crate of the enclosing symbol |
//! | read-only data, data, bss | the crate named by the symbol (anonymous constants: "rest") |
//! | a static named in [`STATIC_OWNERS`] | the part its table row names (e.g. the client's `StaticCell`) |
//!
//! LTO inlines across crates, so symbol names alone blur the picture (the whole client is inlined into
//! `simple_im_embassy::runner::run`'s future, the future into the executor's `TaskStorage::poll`); the
//! line table still says which source line each instruction came from. Code from the Rust library that
//! stays a function of its own (`core::fmt::write`, `memcpy`) is "core library": it is shared by every
//! caller, so it is not charged to any one of them. Library code inlined into a function is charged to
//! the source file it was inlined into, found by walking the DWARF inline tree outward: `?` on a
//! `Result` in `client/pager.rs` counts as simple-im even when LTO has inlined that function into the
//! executor's `TaskStorage::poll`. (Charging by the enclosing symbol alone made the simple-im row move by
//! kilobytes when a function was merely kept out of line.)

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use std::collections::BTreeMap;
use std::path::Path;

/// The parts of a firmware, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Network,
    SimpleIm,
    SocketBuffers,
    RustLibrary,
    Rest,
}

impl Part {
    pub fn label(self) -> &'static str {
        match self {
            Part::Network => "network stack (embassy-net, smoltcp, driver)",
            Part::SimpleIm => "simple-im (core + runtime-embassy)",
            Part::SocketBuffers => "simple-im's socket buffers (UDP; MSRP's TCP)",
            Part::RustLibrary => "Rust core library + compiler builtins",
            Part::Rest => "board, executor, HAL, defmt, rest",
        }
    }
}

/// Statics that the application declares but that hold another part's state (suffix of the demangled
/// path): the client and its SIP socket buffers (smoltcp rings and the runtime's datagram scratch,
/// sized by the application, shown on their own row), kept in `StaticCell`s by the boards, and the
/// network stack's resources and its runner task.
pub const STATIC_OWNERS: &[(&str, Part)] = &[
    ("::IM_CLIENT", Part::SimpleIm),
    ("::IM_BUFFERS", Part::SocketBuffers),
    ("::IM_MSRP_BUFFERS", Part::SocketBuffers),
    ("::NET_RESOURCES", Part::Network),
    ("net_task::POOL", Part::Network),
    ("board::PACKETS", Part::Network),
];

/// Crates that belong to each part (as they appear in paths `.../name-1.2.3/src/...` or as the first
/// segment of a symbol). simple-im's own sources are recognised by their workspace directories.
const NETWORK_CRATES: &[&str] = &[
    "embassy-net",
    "embassy_net",
    "smoltcp",
    "embassy-net-driver",
    "embassy_net_driver",
    "embassy-stm32/src/eth",
    "lan9118",
];
const SIMPLE_IM_CRATES: &[&str] = &[
    "simple_im_core",
    "simple_im_embassy",
    "md-5",
    "md5",
    "sha2",
    "digest",
    "block-buffer",
    "block_buffer",
    "crypto-common",
    "generic-array",
    "generic_array",
    "nom",
    "memchr",
    "postcard",
    "serde",
    "serde_core",
];
const RUST_LIBRARY: &[&str] = &[
    "core",
    "compiler_builtins",
    "__aeabi",
    "/rustc/",
    "rustlib/src/rust/library",
];

/// Bytes of each part, per kind of section.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub text: BTreeMap<Part, u64>,
    pub data: BTreeMap<Part, u64>,
    pub bss: BTreeMap<Part, u64>,
    /// Code bytes per source file of simple-im and the Rust library (printed with `--files`).
    pub files: BTreeMap<String, u64>,
}

/// The last three components of a source path (`client/pager.rs`, `core/src/fmt/mod.rs`).
fn short_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    parts[parts.len().saturating_sub(3)..].join("/")
}

fn part_of_path(path: &str) -> Option<Part> {
    let p = path.replace('\\', "/");
    if p.contains("/runtime-embassy/src/") || p.contains("/core/src/") && !p.contains("/library/core/") {
        return Some(Part::SimpleIm);
    }
    if p.contains("/library/") && (p.contains("rustlib/src/rust") || p.starts_with("/rustc/")) {
        return Some(Part::RustLibrary);
    }
    if p.contains("compiler_builtins") || p.contains("compiler-builtins") {
        return Some(Part::RustLibrary);
    }
    if p.contains("/embassy-stm32-") && p.contains("/src/eth/") {
        return Some(Part::Network); // the STM32 Ethernet MAC driver
    }
    let in_crate = |names: &[&str]| {
        names.iter().any(|n| {
            p.contains(&format!("/{n}-")) || p.contains(&format!("/{n}/")) || p.contains(&format!("/{n}.rs"))
        })
    };
    if in_crate(NETWORK_CRATES) {
        return Some(Part::Network);
    }
    if in_crate(SIMPLE_IM_CRATES) {
        return Some(Part::SimpleIm);
    }
    None
}

/// The first path segment of a (legacy-mangled or demangled) Rust symbol, e.g. `smoltcp` for
/// `_ZN7smoltcp5iface...` and `simple_im_core` for `_ZN80_$LT$simple_im_core..sip..Foo$u20$as$u20$...`.
fn crate_of_symbol(symbol: &str) -> String {
    if let Some(v0) = symbol.strip_prefix("_R") {
        return v0_crate(v0).unwrap_or_default();
    }
    let rest = symbol.strip_prefix("_ZN").unwrap_or(symbol);
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let mut name = &rest[digits..];
    for prefix in ["_$LT$", "$LT$", "_"] {
        name = name.strip_prefix(prefix).unwrap_or(name);
    }
    let end = name
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(name.len());
    let first = &name[..end];
    // Legacy mangling: `_ZN` then length-prefixed segments; without `$`/`..` the first segment is the
    // crate, cut to its length.
    if digits > 0 && !symbol[3 + digits..].starts_with('_') && !symbol[3 + digits..].starts_with('$') {
        let len: usize = rest[..digits].parse().unwrap_or(0);
        return rest[digits..].get(..len).unwrap_or(first).to_string();
    }
    first.to_string()
}

/// The first crate root of a v0-mangled symbol (`NvNtCs2fZl91Oq0qp_4core3fmt5write` -> `core`):
/// `C`, an optional disambiguator `s<base-62>_`, then a length-prefixed identifier.
fn v0_crate(mangled: &str) -> Option<String> {
    let bytes = mangled.as_bytes();
    (0..bytes.len()).find_map(|i| {
        if bytes[i] != b'C' {
            return None;
        }
        let mut j = i + 1;
        if bytes.get(j) == Some(&b's') {
            j += 1 + mangled[j + 1..].find('_')?;
            j += 1;
        }
        let digits = mangled[j..].bytes().take_while(u8::is_ascii_digit).count();
        let len: usize = mangled[j..j + digits].parse().ok()?;
        mangled.get(j + digits..j + digits + len).map(str::to_string)
    })
}

fn part_of_symbol(symbol: &str) -> Part {
    let krate = crate_of_symbol(symbol);
    if symbol.starts_with("__aeabi") || symbol.starts_with("__udiv") || symbol.starts_with("__ctz") {
        return Part::RustLibrary;
    }
    let is = |names: &[&str]| names.iter().any(|n| n.replace('-', "_") == krate);
    if is(NETWORK_CRATES) {
        Part::Network
    } else if is(SIMPLE_IM_CRATES) {
        Part::SimpleIm
    } else if is(RUST_LIBRARY) {
        Part::RustLibrary
    } else {
        Part::Rest
    }
}

/// Reads `elf` and splits its allocated sections into parts.
pub fn split(elf: &Path) -> Result<Split, String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("parsing {}: {e}", elf.display()))?;

    // Function and data symbols, by start address, to attribute bytes the line table does not cover.
    let mut symbols: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|s| matches!(s.kind(), SymbolKind::Text | SymbolKind::Data) && s.size() > 0)
        .map(|s| (s.address() & !1, s.size(), s.name().unwrap_or("").to_string()))
        .collect();
    symbols.sort();
    let enclosing = |addr: u64| -> Option<&(u64, u64, String)> {
        let i = symbols.partition_point(|s| s.0 <= addr);
        symbols[..i].last().filter(|s| addr < s.0 + s.1)
    };

    let mut out = Split::default();
    let code_ranges = line_table_ranges(&file)?;
    let inlined_into = InlineOwners::read(&file)?;
    let mut text_sections = Vec::new();
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        let (start, size) = (section.address(), section.size());
        match (section.kind(), name) {
            (SectionKind::Text, _) => text_sections.push((start, start + size)),
            (SectionKind::ReadOnlyData | SectionKind::ReadOnlyString, _) | (_, ".vector_table") => {
                attribute_by_symbols(&mut out.text, start, start + size, &symbols);
            }
            (SectionKind::Data, _) => attribute_by_symbols(&mut out.data, start, start + size, &symbols),
            (SectionKind::UninitializedData, _) | (_, ".uninit") => {
                attribute_by_symbols(&mut out.bss, start, start + size, &symbols)
            }
            _ => {}
        }
    }
    for (start, end) in text_sections {
        let mut covered = 0u64;
        let mut in_section = code_ranges.range(start..end).peekable();
        while let Some((&lo, (hi, path))) = in_section.next() {
            // Ranges of different units may overlap (LTO): each ends where the next begins.
            let next = in_section.peek().map_or(end, |(&next, _)| next);
            let len = (*hi).min(end).min(next).saturating_sub(lo);
            covered += len;
            let by_path = part_of_path(path);
            let part = match by_path {
                Some(Part::RustLibrary) | None => inlined_into.at(lo).unwrap_or_else(|| {
                    let by_symbol = enclosing(lo).map_or(Part::Rest, |s| part_of_symbol(&s.2));
                    match (by_path, by_symbol) {
                        (Some(Part::RustLibrary), Part::Rest) => Part::RustLibrary,
                        (_, part) => part,
                    }
                }),
                Some(part) => part,
            };
            *out.text.entry(part).or_default() += len;
            if part == Part::SimpleIm || part == Part::RustLibrary {
                *out.files.entry(short_path(path)).or_default() += len;
            }
        }
        // Padding and code without line info (hand-written assembly, linker veneers).
        *out.text.entry(Part::Rest).or_default() += (end - start).saturating_sub(covered);
    }
    Ok(out)
}

fn attribute_by_symbols(
    into: &mut BTreeMap<Part, u64>,
    start: u64,
    end: u64,
    symbols: &[(u64, u64, String)],
) {
    let mut covered = 0;
    for (addr, size, name) in symbols.iter().filter(|s| s.0 >= start && s.0 < end) {
        let size = (*size).min(end - addr);
        covered += size;
        let path = demangled_path(name);
        let owner = STATIC_OWNERS.iter().find(|(suffix, _)| path.ends_with(suffix));
        let part = owner.map_or_else(|| part_of_symbol(name), |(_, part)| *part);
        *into.entry(part).or_default() += size;
    }
    *into.entry(Part::Rest).or_default() += (end - start).saturating_sub(covered);
}

/// `a::b::c` for a legacy-mangled `_ZN1a1b1c17h0123456789abcdefE` (hash dropped).
fn demangled_path(symbol: &str) -> String {
    let Some(mut rest) = symbol.strip_prefix("_ZN") else {
        return symbol.to_string();
    };
    let mut parts = Vec::new();
    loop {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(len) = rest[..digits].parse::<usize>() else {
            break;
        };
        let Some(segment) = rest.get(digits..digits + len) else {
            break;
        };
        if !(segment.len() == 17 && segment.starts_with('h')) {
            parts.push(segment);
        }
        rest = &rest[digits + len..];
    }
    parts.join("::")
}

type Dwarf<'a> = gimli::Dwarf<gimli::EndianSlice<'a, gimli::RunTimeEndian>>;
type Reader<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;

/// The ELF's DWARF sections (missing ones empty).
fn load_dwarf<'a>(file: &'a object::File<'_>) -> Result<Dwarf<'a>, String> {
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader<'a>, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(gimli::EndianSlice::new(data, endian))
    };
    gimli::Dwarf::load(load).map_err(|e| format!("DWARF: {e}"))
}

/// `directory/name` of a line-table file entry.
fn file_path<'a>(
    dwarf: &Dwarf<'a>,
    unit: &gimli::Unit<Reader<'a>>,
    header: &gimli::LineProgramHeader<Reader<'a>>,
    entry: &gimli::FileEntry<Reader<'a>>,
) -> String {
    let text = |value| {
        dwarf
            .attr_string(unit, value)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let dir = entry.directory(header).map(text).unwrap_or_default();
    format!("{dir}/{}", text(entry.path_name()))
}

/// Address ranges of code with the source file each came from: start -> (end, path).
fn line_table_ranges(file: &object::File<'_>) -> Result<BTreeMap<u64, (u64, String)>, String> {
    let dwarf = load_dwarf(file)?;
    let mut ranges = BTreeMap::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next().map_err(|e| format!("DWARF unit: {e}"))? {
        let unit = dwarf.unit(header).map_err(|e| format!("DWARF unit: {e}"))?;
        let Some(program) = unit.line_program.clone() else {
            continue;
        };
        let mut rows = program.rows();
        let mut previous: Option<(u64, String)> = None;
        while let Some((header, row)) = rows.next_row().map_err(|e| format!("line table: {e}"))? {
            let path = row
                .file(header)
                .map(|entry| file_path(&dwarf, &unit, header, entry))
                .unwrap_or_default();
            if let Some((start, prev_path)) = previous.take() {
                if row.address() > start {
                    ranges.insert(start, (row.address(), prev_path));
                }
            }
            if !row.end_sequence() {
                previous = Some((row.address(), path));
            }
        }
    }
    Ok(ranges)
}

/// For library code inlined into other code: the part of the innermost caller, at each code address,
/// whose source file has a part other than the Rust library (from the DWARF inline tree), painted
/// over the text at 2-byte (Thumb instruction) granularity.
struct InlineOwners {
    start: u64,
    /// Per half-word: nesting depth of the innermost inlined subroutine painted there, and its owner.
    cells: Vec<(u16, Option<Part>)>,
}

impl InlineOwners {
    fn at(&self, addr: u64) -> Option<Part> {
        let index = usize::try_from(addr.checked_sub(self.start)? / 2).ok()?;
        self.cells.get(index).and_then(|cell| cell.1)
    }

    fn read(file: &object::File<'_>) -> Result<Self, String> {
        let (start, end) = file
            .sections()
            .filter(|s| s.kind() == SectionKind::Text)
            .fold((u64::MAX, 0), |(lo, hi), s| {
                (lo.min(s.address()), hi.max(s.address() + s.size()))
            });
        let mut owners = InlineOwners {
            start,
            cells: vec![(0, None); usize::try_from(end.saturating_sub(start) / 2 + 1).unwrap_or(0)],
        };
        let dwarf = load_dwarf(file)?;
        let mut units = dwarf.units();
        while let Some(header) = units.next().map_err(|e| format!("DWARF unit: {e}"))? {
            let unit = dwarf.unit(header).map_err(|e| format!("DWARF unit: {e}"))?;
            let Some(program) = unit.line_program.clone() else {
                continue;
            };
            let line_header = program.header();
            let file_part = |index: u64| -> Option<Part> {
                let entry = line_header.file(index)?;
                part_of_path(&file_path(&dwarf, &unit, line_header, entry))
                    .filter(|p| *p != Part::RustLibrary)
            };
            // Owner of each open inlined subroutine, by tree depth: its call site's part, or its
            // caller's owner when the call site is library code too.
            let mut stack: Vec<(isize, Option<Part>)> = Vec::new();
            let mut depth: isize = 0;
            let mut entries = unit.entries();
            while let Some((delta, entry)) = entries.next_dfs().map_err(|e| format!("DWARF entry: {e}"))? {
                depth += delta;
                while stack.last().is_some_and(|(d, _)| *d >= depth) {
                    stack.pop();
                }
                if entry.tag() != gimli::DW_TAG_inlined_subroutine {
                    continue;
                }
                let call_part = match entry.attr_value(gimli::DW_AT_call_file) {
                    Ok(Some(gimli::AttributeValue::FileIndex(index))) => file_part(index),
                    Ok(Some(gimli::AttributeValue::Udata(index))) => file_part(index),
                    _ => None,
                };
                let owner = call_part.or_else(|| stack.last().and_then(|(_, owner)| *owner));
                stack.push((depth, owner));
                let Some(owner) = owner else { continue };
                let level = u16::try_from(stack.len()).unwrap_or(u16::MAX);
                let mut ranges = dwarf
                    .die_ranges(&unit, entry)
                    .map_err(|e| format!("DWARF ranges: {e}"))?;
                while let Some(range) = ranges.next().map_err(|e| format!("DWARF ranges: {e}"))? {
                    let lo = range.begin.max(start).saturating_sub(start) / 2;
                    let hi = range.end.min(end).saturating_sub(start).div_ceil(2);
                    for i in lo..hi {
                        if let Some(cell) = owners.cells.get_mut(i as usize) {
                            if cell.0 <= level {
                                *cell = (level, Some(owner));
                            }
                        }
                    }
                }
            }
        }
        Ok(owners)
    }
}

/// Prints one firmware's table.
pub fn print_table(title: &str, split: &Split) {
    println!("\n{title}, bytes:");
    println!("  {:<48} {:>8} {:>8} {:>8}", "part", "text", "data", "bss");
    let parts = [
        Part::Network,
        Part::SimpleIm,
        Part::SocketBuffers,
        Part::RustLibrary,
        Part::Rest,
    ];
    let get = |m: &BTreeMap<Part, u64>, p| m.get(&p).copied().unwrap_or(0);
    for part in parts {
        println!(
            "  {:<48} {:>8} {:>8} {:>8}",
            part.label(),
            get(&split.text, part),
            get(&split.data, part),
            get(&split.bss, part)
        );
    }
    let total = |m: &BTreeMap<Part, u64>| m.values().sum::<u64>();
    println!(
        "  {:<48} {:>8} {:>8} {:>8}",
        "total",
        total(&split.text),
        total(&split.data),
        total(&split.bss)
    );
    if std::env::args().any(|a| a == "--files") {
        let mut files: Vec<_> = split.files.iter().collect();
        files.sort_by_key(|(_, bytes)| std::cmp::Reverse(**bytes));
        println!("  largest sources of simple-im and Rust library code:");
        for (path, bytes) in files.into_iter().take(400) {
            println!("    {bytes:>7}  {path}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_attributed_to_their_crate() {
        assert_eq!(
            crate_of_symbol("_ZN7smoltcp5iface9interface17h0123456789abcdefE"),
            "smoltcp"
        );
        assert_eq!(
            crate_of_symbol("_ZN80_$LT$simple_im_core..sip..Foo$u20$as$u20$core..fmt..Display$GT$3fmt17h0E"),
            "simple_im_core"
        );
        assert_eq!(crate_of_symbol("_RNvNtCs2fZl91Oq0qp_4core3fmt5write"), "core");
        assert_eq!(
            part_of_symbol("_ZN11embassy_net3new17h1fbcace7589dc791E"),
            Part::Network
        );
        assert_eq!(part_of_symbol("__aeabi_memcpy4"), Part::RustLibrary);
        assert_eq!(
            part_of_symbol("_ZN15qemu_mps2_an38513NET_RESOURCES17h312cd9a1bd4f0e8dE"),
            Part::Rest
        );
    }

    #[test]
    fn source_paths_are_attributed_to_their_part() {
        let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        assert_eq!(
            part_of_path(&format!("{registry}/smoltcp-0.13.1/src/wire/ipv4.rs")),
            Some(Part::Network)
        );
        assert_eq!(
            part_of_path(&format!("{registry}/md-5-0.10.6/src/lib.rs")),
            Some(Part::SimpleIm)
        );
        assert_eq!(
            part_of_path("/work/simple-im/core/src/client/pager.rs"),
            Some(Part::SimpleIm)
        );
        assert_eq!(
            part_of_path("/rustc/5980/library/core/src/fmt/mod.rs"),
            Some(Part::RustLibrary)
        );
        assert_eq!(
            part_of_path("/work/simple-im/boards/qemu-mps2-an385/src/lan9118.rs"),
            Some(Part::Network)
        );
        assert_eq!(
            part_of_path(&format!("{registry}/embassy-executor-0.10.0/src/raw/mod.rs")),
            None
        );
        assert_eq!(
            demangled_path("_ZN15qemu_mps2_an3854demo9IM_CLIENT17h312cd9a1bd4f0e8dE"),
            "qemu_mps2_an385::demo::IM_CLIENT"
        );
    }
}
