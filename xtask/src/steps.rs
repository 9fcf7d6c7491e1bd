//! The steps of `cargo xtask test` and `cargo xtask bench`, and the small process helpers they share.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The workspace root (the parent of this crate's manifest directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `cargo` as invoked by the user (respects a toolchain override of the outer cargo).
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command to completion with inherited output; an error names the command and its status.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// Counts of libtest-style results, summed over every `test result:` line a command printed.
#[derive(Default, Clone, Copy)]
struct TestCounts {
    passed: u64,
    failed: u64,
}

/// Runs a test command, echoing its standard output while summing the `test result:` lines.
fn run_counting(cmd: &mut Command) -> Result<TestCounts, String> {
    eprintln!("xtask: running {cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let mut counts = TestCounts::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.trim_start().strip_prefix("test result: ") {
                counts.passed += count_before(rest, " passed");
                counts.failed += count_before(rest, " failed");
            }
        }
    }
    let status = child.wait().map_err(|e| format!("waiting for {cmd:?}: {e}"))?;
    if status.success() {
        Ok(counts)
    } else {
        counts.failed = counts.failed.max(1);
        Err(format!(
            "{cmd:?} failed with {status} ({} passed, {} failed)",
            counts.passed, counts.failed
        ))
    }
}

/// In "ok. 12 passed; 0 failed; ...", the number right before `label`.
fn count_before(text: &str, label: &str) -> u64 {
    text.find(label)
        .and_then(|end| text[..end].rsplit(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

struct StepReport {
    name: &'static str,
    seconds: f64,
    outcome: Result<String, String>,
}

/// `cargo xtask test`: set-up, then every check, then a summary. Fails if any step failed.
pub fn test(quick: bool) -> Result<(), String> {
    let started = Instant::now();
    let mut reports: Vec<StepReport> = Vec::new();
    let mut tests = TestCounts::default();

    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Result<String, String>| {
        eprintln!("\n==== xtask test: {name} ====");
        let t = Instant::now();
        let outcome = f();
        if let Err(e) = &outcome {
            eprintln!("xtask: step `{name}` failed: {e}");
        }
        reports.push(StepReport {
            name,
            seconds: t.elapsed().as_secs_f64(),
            outcome,
        });
    };

    step("setup", &mut || {
        crate::setup::run().map(|_| "targets, nightly and cargo-fuzz ready".into())
    });
    step("cargo test (workspace)", &mut || {
        let counts = run_counting(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
        tests.passed += counts.passed;
        tests.failed += counts.failed;
        Ok(format!(
            "{} tests passed, {} failed",
            counts.passed, counts.failed
        ))
    });
    step("rustfmt check (workspace, boards, fuzz)", &mut check_formatting);
    step("clippy (deny warnings)", &mut || {
        run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
            .map(|_| "no warnings".into())
    });
    step(
        "core builds for thumbv7m/thumbv7em, no std, no alloc",
        &mut || crate::size::check_no_std_builds().map(|_| "both targets build".into()),
    );
    step("size report", &mut || crate::size::run());
    step(
        "real boards build (release, not run)",
        &mut crate::build_boards::run,
    );
    if !quick {
        step("fuzz smoke run", &mut || {
            crate::fuzz::run_all(crate::fuzz::CI_SECONDS)
        });
        step("bench smoke run", &mut || {
            bench(&["--quick".to_string()])?;
            let pager = ["pager".to_string(), "--smoke".to_string()];
            bench(&pager).map(|_| "criterion benches and the pager smoke (no message lost) ran".into())
        });
    }

    println!(
        "\n==== xtask test summary ({:.0} s) ====",
        started.elapsed().as_secs_f64()
    );
    let (mut ok, mut bad) = (0u64, 0u64);
    for r in &reports {
        match &r.outcome {
            Ok(detail) => {
                ok += 1;
                println!("  ok     {:<55} {:>6.1} s  {detail}", r.name, r.seconds);
            }
            Err(e) => {
                bad += 1;
                println!("  FAILED {:<55} {:>6.1} s  {e}", r.name, r.seconds);
            }
        }
    }
    println!("steps: {ok} passed, {bad} failed");
    println!("{} passed, {} failed", tests.passed + ok, tests.failed + bad);
    if bad == 0 {
        Ok(())
    } else {
        Err(format!("{bad} step(s) failed"))
    }
}

/// `cargo fmt --check` over the workspace and over each crate kept outside it (boards, fuzz targets).
fn check_formatting() -> Result<String, String> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    let mut outside = vec![root().join("core").join("fuzz").join("Cargo.toml")];
    let boards = std::fs::read_dir(root().join("boards")).map_err(|e| format!("reading boards/: {e}"))?;
    outside.extend(
        boards
            .filter_map(Result::ok)
            .map(|e| e.path().join("Cargo.toml"))
            .filter(|p| p.exists()),
    );
    for manifest in &outside {
        run(cargo()
            .arg("fmt")
            .arg("--manifest-path")
            .arg(manifest)
            .args(["--", "--check"]))?;
    }
    Ok(format!(
        "formatted: workspace and {} crates outside it",
        outside.len()
    ))
}

/// `cargo xtask bench [NAME] [--quick]`.
pub fn bench(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let names: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // `pager` takes option values (`--rates 8000,10000`), which the name filter above also keeps.
    if names.first() == Some(&"pager") {
        return crate::bench_pager::run(&crate::bench_pager::Plan::from_args(args)?);
    }
    if names == ["groups"] {
        // A plain bench binary that prints fan-out percentiles and rates itself (see its docs).
        let mut cmd = cargo();
        cmd.args(["bench", "--package", "simple-im-tokio", "--bench", "groups"]);
        if quick {
            cmd.args(["--", "--quick"]);
        }
        return run(&mut cmd);
    }
    let selected: Vec<&(&str, &str)> = if names.is_empty() {
        BENCHES.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                BENCHES.iter().find(|(name, _)| name == n).ok_or_else(|| {
                    let known: Vec<&str> = BENCHES.iter().map(|(name, _)| *name).collect();
                    format!("unknown benchmark `{n}`; have: {}", known.join(", "))
                })
            })
            .collect::<Result<_, _>>()?
    };
    for (name, package) in &selected {
        let mut cmd = cargo();
        cmd.args(["bench", "--package", package, "--bench", name]);
        if quick {
            // A smoke run: every benchmark executes and reports, with short warm-up and measurement.
            cmd.args([
                "--",
                "--warm-up-time",
                "0.2",
                "--measurement-time",
                "0.5",
                "--sample-size",
                "10",
            ]);
        }
        run(&mut cmd)?;
    }
    for (name, _) in &selected {
        report_bench(name)?;
    }
    if selected.iter().any(|(name, _)| *name == "msrp") {
        msrp_relay_bench(quick)?;
    }
    Ok(())
}

/// The MSRP relay's throughput against a copy-proxy and its cost per idle session
/// (`runtime-tokio/benches/msrp_relay.rs`, which prints its own figures).
fn msrp_relay_bench(quick: bool) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["bench", "--package", "simple-im-tokio", "--bench", "msrp_relay"]);
    if quick {
        cmd.args(["--", "--quick"]);
    }
    run(&mut cmd)
}

/// The criterion benchmarks, each with the package that holds it.
const BENCHES: &[(&str, &str)] = &[
    ("parse", "simple-im-tests"),
    ("msrp", "simple-im-tests"),
    ("store", "simple-im-tokio"),
];

/// Prints throughput and the ratio against the peer implementation measured in the same run.
fn report_bench(name: &str) -> Result<(), String> {
    match name {
        "parse" => crate::report::print_group(
            "parse",
            (corpus_size("tests/corpus/sip")?, "messages"),
            &["simple-im/index", "simple-im/typed", "rsip/parse", "rsip/typed"],
            &[
                ("simple-im/index", "rsip/parse"),
                ("simple-im/typed", "rsip/typed"),
            ],
        ),
        "msrp" => crate::report::print_group(
            "msrp",
            ((4 << 20) / (32 << 10), "chunks"),
            &["simple-im/chunk-reader", "simple-im/receive", "memcpy/copy"],
            &[
                ("simple-im/chunk-reader", "memcpy/copy"),
                ("simple-im/receive", "memcpy/copy"),
            ],
        ),
        "store" => crate::report::print_group(
            "durable_enqueue",
            (1, "messages"),
            &["concurrency/1", "concurrency/64", "concurrency/1024"],
            &[],
        ),
        other => Err(format!("no report for benchmark `{other}`")),
    }
}

/// How many messages one iteration of a corpus benchmark handles: the files in `dir`.
fn corpus_size(dir: &str) -> Result<u64, String> {
    let path = root().join(dir);
    let entries = std::fs::read_dir(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(entries.filter_map(Result::ok).count() as u64)
}
