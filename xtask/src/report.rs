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
    // criterion replaces '/' in names with '_' on disk.
    root().join("target").join("criterion").join(group).join(function.replace('/', "_")).join("new")
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
        bytes: throughput["Bytes"].as_f64().or_else(|| throughput["BytesDecimal"].as_f64()),
    })
}

/// One line per function (MB/s, messages/s), then `ours vs peer` ratios. `messages` is how many
/// messages one iteration handles; `pairs` are (ours, peer).
pub fn print_group(group: &str, messages: u64, functions: &[&str], pairs: &[(&str, &str)]) -> Result<(), String> {
    println!("\n{group}: mean time per iteration ({messages} messages) over criterion samples");
    for function in functions {
        let e = read_estimate(group, function)?;
        let secs = e.mean_ns / 1e9;
        let mbps = e.bytes.map(|b| format!("{:>10.1} MB/s", b / secs / 1e6)).unwrap_or_default();
        let per_s = format!("{:>12.0} messages/s", messages as f64 / secs);
        println!("  {function:<28} {:>12.1} ns/iter {mbps} {per_s}", e.mean_ns);
    }
    for (ours, peer) in pairs {
        let a = read_estimate(group, ours)?;
        let b = read_estimate(group, peer)?;
        println!("  ratio {ours} vs {peer}: {:.1}x faster", b.mean_ns / a.mean_ns);
    }
    Ok(())
}
