//! Fuzzing: every parser of the core has a cargo-fuzz target in `core/fuzz/fuzz_targets/`, seeded from
//! the committed corpus in `core/fuzz/corpus/<target>/`. Runs here are bounded in time; new inputs the
//! fuzzer finds go to a scratch directory so a CI run leaves the work tree clean (`--keep` merges them
//! into the committed corpus instead).

use crate::steps::{cargo, root, run};
use std::path::PathBuf;
use std::process::Command;

/// Seconds each target runs in `cargo xtask test`.
pub const CI_SECONDS: u64 = 30;

fn fuzz_dir() -> PathBuf {
    root().join("core").join("fuzz")
}

/// The fuzz targets, by file name in `core/fuzz/fuzz_targets/`.
pub fn targets() -> Result<Vec<String>, String> {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// `cargo fuzz` with nightly when present, otherwise stable with its unstable flags unlocked.
fn cargo_fuzz() -> Command {
    let mut cmd = if crate::setup::have_nightly() {
        let mut c = Command::new("cargo");
        c.arg("+nightly");
        c
    } else {
        let mut c = cargo();
        c.env("RUSTC_BOOTSTRAP", "1");
        c
    };
    cmd.current_dir(root().join("core")).arg("fuzz");
    cmd
}

fn run_target(target: &str, seconds: u64, keep: bool) -> Result<(), String> {
    let seeds = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&seeds).map_err(|e| format!("creating {}: {e}", seeds.display()))?;
    let scratch = std::env::temp_dir().join(format!("simple-im-fuzz-{target}"));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("creating {}: {e}", scratch.display()))?;
    let mut cmd = cargo_fuzz();
    cmd.args(["run", "--release", target]);
    if keep {
        cmd.arg(&seeds);
    } else {
        cmd.arg(&scratch).arg(&seeds);
    }
    cmd.args([
        "--",
        &format!("-max_total_time={seconds}"),
        "-timeout=10",
        "-rss_limit_mb=2048",
    ]);
    run(&mut cmd)
}

/// Builds all targets once, then runs each for `seconds`. Returns a one-line summary.
pub fn run_all(seconds: u64) -> Result<String, String> {
    let names = targets()?;
    run(cargo_fuzz().args(["build", "--release"]))?;
    let mut failed = Vec::new();
    for name in &names {
        if let Err(e) = run_target(name, seconds, false) {
            eprintln!("xtask: fuzz target {name}: {e}");
            failed.push(name.clone());
        }
    }
    if failed.is_empty() {
        Ok(format!(
            "{} targets x {seconds} s, no crash: {}",
            names.len(),
            names.join(", ")
        ))
    } else {
        Err(format!(
            "crash or error in: {} (artifacts in core/fuzz/artifacts)",
            failed.join(", ")
        ))
    }
}

/// `cargo xtask fuzz [TARGET] [--seconds N] [--keep]`.
pub fn run_from_args(args: &[String]) -> Result<(), String> {
    let mut seconds = CI_SECONDS;
    let mut keep = false;
    let mut only = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = it.next().ok_or("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds: `{value}` is not a number"))?;
            }
            "--keep" => keep = true,
            name if !name.starts_with('-') => only = Some(name.to_string()),
            other => return Err(format!("fuzz: unknown option `{other}`")),
        }
    }
    match only {
        Some(target) => {
            if !targets()?.contains(&target) {
                return Err(format!(
                    "no fuzz target `{target}`; have: {}",
                    targets()?.join(", ")
                ));
            }
            run_target(&target, seconds, keep)
        }
        None if keep => {
            for name in targets()? {
                run_target(&name, seconds, true)?;
            }
            Ok(())
        }
        None => run_all(seconds).map(|summary| println!("{summary}")),
    }
}
