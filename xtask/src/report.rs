//! Reads criterion's estimates after a benchmark run and prints throughput and peer ratios.
//!
//! Benchmarks name their functions `<impl>/<what>` inside a group and declare their throughput in
//! bytes; criterion stores the mean time per iteration in
//! `target/criterion/<group>/<function>/new/estimates.json` and the declared throughput in
//! `benchmark.json`. A comparison names the function under test and the peer, both in the same group and
//! the same run.

use crate::steps::root;
use std::path::PathBuf;

struct Estimate {
    mean_ns: f64,
    bytes: Option<f64>,
}

fn function_dir(group: &str, function: &str) -> PathBuf {
    // criterion writes a function named "a/b" as the directory "a_b", and a `BenchmarkId` with a
    // parameter ("a" with 64) as the nested "a/64".
    let group_dir = root().join("target").join("criterion").join(group);
    let flat = group_dir.join(function.replace('/', "_")).join("new");
    if flat.exists() {
        flat
    } else {
        group_dir.join(function).join("new")
    }
}

fn read_estimate(group: &str, function: &str) -> Result<Estimate, String> {
    let dir = function_dir(group, function);
    let read = |name: &str| -> Result<serde_json::Value, String> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
    };
    let estimates = read("estimates.json")?;
    let benchmark = read("benchmark.json")?;
    let mean_ns = estimates["mean"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("no mean in {}", dir.display()))?;
    let throughput = &benchmark["throughput"];
    Ok(Estimate {
        mean_ns,
        bytes: throughput["Bytes"]
            .as_f64()
            .or_else(|| throughput["BytesDecimal"].as_f64()),
    })
}

/// One line per function (MB/s, items/s), then `ours vs peer` ratios. One iteration handles `items`
/// things named `unit` (messages, chunks); `pairs` are (ours, peer).
pub fn print_group(
    group: &str,
    (items, unit): (u64, &str),
    functions: &[&str],
    pairs: &[(&str, &str)],
) -> Result<(), String> {
    println!("\n{group}: mean time per iteration ({items} {unit}) over criterion samples");
    for function in functions {
        let e = read_estimate(group, function)?;
        let secs = e.mean_ns / 1e9;
        let mbps = e
            .bytes
            .map(|b| format!("{:>10.1} MB/s", b / secs / 1e6))
            .unwrap_or_default();
        let per_s = format!("{:>12.0} {unit}/s", items as f64 / secs);
        println!("  {function:<28} {:>12.1} ns/iter {mbps} {per_s}", e.mean_ns);
    }
    for (ours, peer) in pairs {
        let a = read_estimate(group, ours)?;
        let b = read_estimate(group, peer)?;
        let speedup = b.mean_ns / a.mean_ns;
        if speedup >= 1.0 {
            println!("  ratio: {ours} is {speedup:.1}x faster than {peer}");
        } else {
            println!("  ratio: {ours} takes {:.2}x the time of {peer}", 1.0 / speedup);
        }
    }
    Ok(())
}
