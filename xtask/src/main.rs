//! `cargo xtask`: the project's own build tasks.
//!
//! - `setup`  installs what the tests need (rustup targets, nightly for fuzzing, cargo-fuzz), idempotently.
//! - `test`   runs setup, then every test suite, and prints one summary line per step and a closing
//!   `N passed, N failed` line. This is the README's test command and what CI runs.
//! - `bench`  runs a criterion benchmark (`parse`, ...) in full.
//! - `size`   builds the size-probe firmware and reports what the core adds to it.
//! - `build-boards` builds the real boards' firmware (not run: no hardware in CI) and reports sizes.
//! - `fuzz`   runs every fuzz target (or the one named) for a bounded time.

mod bench_pager;
mod build_boards;
mod fuzz;
mod report;
mod setup;
mod setup_embedded;
mod setup_interop;
mod size;
mod size_split;
mod steps;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  setup                 install rustup targets, nightly and cargo-fuzz (idempotent)
  test [--quick]        setup, then all tests, no_std builds, size report, fuzz smoke run and bench
                        smoke run; --quick skips fuzzing and benches
  bench [NAME] [--quick] run criterion benchmarks (NAME: parse, msrp, store; default all), --quick for a
                        short run; `bench pager` runs the SIPp load test against simple-im and Kamailio
                        (--quick, --smoke: one rate, fails if simple-im loses a message, --rates R1,R2
                        --secs N); `bench groups` measures group fan-out (1,000 members: p50/p99, msg/s)
                        `bench msrp` also runs the MSRP relay (1 GiB vs a copy-proxy, 10,000 idle sessions)
  size                  text/data/bss the core adds to a minimal Cortex-M firmware
  size-elf ELF [--files] split one firmware ELF into network stack, simple-im and the rest
  build-boards          build the real boards' firmware (release) and print their sizes
  fuzz [TARGET] [--seconds N]  run fuzz targets (default all, 30 s each)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("test") => steps::test(args.iter().any(|a| a == "--quick")),
        Some("bench") => steps::bench(&args[1..]),
        Some("size") => size::run().map(|_| ()),
        Some("size-elf") => match args.get(1) {
            Some(elf) => {
                size_split::split(std::path::Path::new(elf)).map(|s| size_split::print_table(elf, &s))
            }
            None => Err("usage: cargo xtask size-elf FIRMWARE.elf [--files]".into()),
        },
        Some("build-boards") => build_boards::run().map(|summary| println!("{summary}")),
        Some("fuzz") => fuzz::run_from_args(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
