//! `cargo xtask bench pager`: pager-mode MESSAGE throughput through simple-im and through Kamailio,
//! in the same run, with the same load generator and receiver.
//!
//! Set-up per proxy under test (the "server"): a SIPp UAS (`tests/interop/sipp/bench_uas.xml`) is
//! registered as `bob` through a one-shot client scenario (`bench_register.xml`, digest answered when
//! challenged), then a SIPp UAC (`bench_uac.xml`) sends MESSAGE to `sip:bob@localhost` through the
//! server at stepped rates, each for a bounded time.
//!
//! Fairness: the reference Kamailio setup (`tests/interop/kamailio/bench.cfg`: registrar, `lookup`,
//! stateful `t_relay`) authenticates nobody, so the load comes from a user of another domain
//! (`sip:load@bench.example`), which simple-im cannot challenge either. simple-im still does its own
//! job on every MESSAGE (recipient lookup, Participating policy, charging record); Kamailio does only
//! the routing. Every party has 4 MiB socket buffers; Kamailio gets `-m 1024` and 4 UDP workers.
//!
//! Measured per server:
//! - the highest clean rate: each step counts as clean when under 0.1% of its calls failed and SIPp
//!   finished within 10% (+1 s) of the step's nominal duration (it kept the rate);
//! - its CPU time (utime + stime of every process in its process group, from `/proc`) per relayed
//!   MESSAGE, at 10,000/s when both servers are clean there, else at the highest rate both are clean at.
//!
//! On a 2-core machine the generator and the receiver compete with the server for CPU, so the peak
//! rate is a property of the whole box; CPU per message is the steadier figure.

use crate::steps::{cargo, root};
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rates (MESSAGE/s) of a full run, stepped up until one is not clean.
const FULL_RATES: &[u32] = &[
    2_000, 4_000, 6_000, 8_000, 10_000, 12_000, 14_000, 16_000, 18_000, 20_000,
];
/// Rates of a `--quick` run.
const QUICK_RATES: &[u32] = &[2_000, 4_000];
/// Seconds per rate step.
const FULL_STEP_SECS: u32 = 10;
const QUICK_STEP_SECS: u32 = 2;
/// The one rate and duration of a `--smoke` run (the CI bench smoke step): moderate, so that a busy
/// CI box still keeps it, and long enough to count thousands of messages.
const SMOKE_RATE: u32 = 2_000;
const SMOKE_STEP_SECS: u32 = 3;
/// The rate the issue asks the CPU per message at.
const CPU_RATE: u32 = 10_000;
/// Socket buffers of every SIPp (the `rmem_max` of the bench machine).
const SOCKET_BUFFER_BYTES: u32 = 4 * 1024 * 1024;
/// A step is clean below this failure ratio.
const MAX_FAILURE_RATIO: f64 = 0.001;
/// Kamailio's shared memory (MB): with less, non-INVITE transactions run out of it at high rates.
const KAMAILIO_SHM_MB: u32 = 1024;
/// The receiving user and its password (simple-im challenges the REGISTER).
const USER: &str = "bob";
const PASSWORD: &str = "bench-pw";

/// One rate step's outcome.
#[derive(Clone, Copy, Debug)]
struct Step {
    rate: u32,
    calls: u64,
    successful: u64,
    failed: u64,
    seconds: f64,
    cpu_seconds: f64,
    rcvbuf_errors: u64,
}

impl Step {
    fn clean(&self, nominal_secs: u32) -> bool {
        let lost = self.calls.saturating_sub(self.successful);
        (lost as f64) < MAX_FAILURE_RATIO * self.calls as f64
            && self.seconds <= f64::from(nominal_secs) * 1.1 + 1.0
    }

    fn cpu_us_per_message(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.successful.max(1) as f64
    }
}

/// Everything measured for one server.
struct Measured {
    name: &'static str,
    steps: Vec<Step>,
}

impl Measured {
    fn highest_clean(&self, secs: u32) -> Option<u32> {
        self.steps
            .iter()
            .take_while(|s| s.clean(secs))
            .map(|s| s.rate)
            .last()
    }

    fn at(&self, rate: u32) -> Option<&Step> {
        self.steps.iter().find(|s| s.rate == rate)
    }
}

/// What one run measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The rates stepped through (MESSAGE/s), lowest first.
    pub rates: Vec<u32>,
    /// Seconds per step.
    pub secs: u32,
    /// Whether the criterion benchmark of durable deferred storing runs afterwards.
    pub store_bench: bool,
    /// Whether a message simple-im loses fails the run (the smoke run's check; timing and the
    /// ratios never fail it, as a shared CI box makes them noisy).
    pub fail_on_loss: bool,
}

impl Plan {
    /// The plan of `cargo xtask bench pager [--quick | --smoke] [--rates R1,R2,..] [--secs N]`.
    pub fn from_args(args: &[String]) -> Result<Plan, String> {
        let has = |flag: &str| args.iter().any(|a| a == flag);
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args.get(i + 1).ok_or(format!("{flag} needs a value")))
                .transpose()
        };
        let mut plan = if has("--smoke") {
            Plan {
                rates: vec![SMOKE_RATE],
                secs: SMOKE_STEP_SECS,
                store_bench: false,
                fail_on_loss: true,
            }
        } else if has("--quick") {
            Plan {
                rates: QUICK_RATES.to_vec(),
                secs: QUICK_STEP_SECS,
                store_bench: true,
                fail_on_loss: false,
            }
        } else {
            Plan {
                rates: FULL_RATES.to_vec(),
                secs: FULL_STEP_SECS,
                store_bench: true,
                fail_on_loss: false,
            }
        };
        if let Some(rates) = value("--rates")? {
            plan.rates = rates
                .split(',')
                .map(|r| {
                    r.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("--rates: `{r}` is not a rate"))
                })
                .collect::<Result<_, _>>()?;
            plan.store_bench = false;
        }
        if let Some(secs) = value("--secs")? {
            plan.secs = secs
                .parse()
                .map_err(|_| format!("--secs: `{secs}` is not a number of seconds"))?;
        }
        if plan.rates.is_empty() || plan.secs == 0 {
            return Err("bench pager needs at least one rate and one second per step".into());
        }
        Ok(plan)
    }
}

/// Runs the benchmark as `plan` says and prints the results.
pub fn run(plan: &Plan) -> Result<(), String> {
    let started = Instant::now();
    let (rates, secs) = (plan.rates.as_slice(), plan.secs);
    for program in ["sipp", "kamailio"] {
        if !program_exists(program) {
            return Err(format!("`{program}` not found: run `cargo xtask setup` first"));
        }
    }
    // Built as `cargo bench` builds it (the package's binary comes with its benchmark, in the release
    // directory): the bench smoke step has just done so, and a plain `cargo build --release` would
    // build the whole dependency tree again with other features (no dev-dependencies unified in).
    crate::steps::run(cargo().args([
        "bench",
        "--package",
        "simple-im-tokio",
        "--bench",
        "store",
        "--no-run",
    ]))?;
    let dir = std::env::temp_dir().join(format!("simple-im-bench-pager-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let scenarios = Scenarios::new();

    let simple_im = {
        let server = start_simple_im(&dir.join("simple-im"))?;
        measure(
            "simple-im",
            &server,
            &dir.join("simple-im"),
            &scenarios,
            rates,
            secs,
        )
    }?;
    let kamailio = {
        let server = start_kamailio(&dir.join("kamailio"))?;
        measure(
            "kamailio",
            &server,
            &dir.join("kamailio"),
            &scenarios,
            rates,
            secs,
        )
    }?;

    print_report(&[&simple_im, &kamailio], secs);
    let _ = std::fs::remove_dir_all(&dir);
    println!("\npager bench took {:.0} s", started.elapsed().as_secs_f64());
    if plan.fail_on_loss {
        println!(
            "(smoke run: one rate, so the rate ratio is 1 by construction; it fails only on lost messages)"
        );
        check_nothing_lost(&simple_im)?;
        println!("pager smoke: simple-im lost no message");
    }
    if !plan.store_bench {
        return Ok(());
    }
    // Deferred storing (durable enqueue with group commit) has its own criterion benchmark.
    let mut args = vec!["store".to_string()];
    if plan.secs < FULL_STEP_SECS {
        args.push("--quick".to_string());
    }
    crate::steps::bench(&args)
}

/// Fails when any step of `measured` lost a MESSAGE (sent by the UAC, never answered 200 through the
/// server).
fn check_nothing_lost(measured: &Measured) -> Result<(), String> {
    match measured.steps.iter().find(|s| s.successful < s.calls) {
        Some(step) => Err(format!(
            "{} lost messages at {}/s: {} of {} were not answered 200 ({} failed calls)",
            measured.name,
            step.rate,
            step.calls - step.successful,
            step.calls,
            step.failed
        )),
        None => Ok(()),
    }
}

/// The committed scenario files.
struct Scenarios {
    uac: PathBuf,
    uas: PathBuf,
    register: PathBuf,
}

impl Scenarios {
    fn new() -> Scenarios {
        let sipp = root().join("tests").join("interop").join("sipp");
        Scenarios {
            uac: sipp.join("bench_uac.xml"),
            uas: sipp.join("bench_uas.xml"),
            register: sipp.join("bench_register.xml"),
        }
    }
}

/// A server under test: its SIP address and the process group whose CPU is counted.
struct Server {
    addr: String,
    process: Background,
}

/// A background process started in its own process group, stopped (SIGTERM to the group, then
/// SIGKILL) when dropped; its output is drained by a thread and kept (the tail) for error messages.
struct Background {
    name: String,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Background {
    fn spawn(name: &str, mut cmd: Command) -> Result<Background, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let pipes: Vec<Box<dyn std::io::Read + Send>> = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for pipe in pipes {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut lines) = output.lock() {
                        if lines.len() >= 200 {
                            lines.remove(0);
                        }
                        lines.push(line);
                    }
                }
            });
        }
        Ok(Background {
            name: name.to_string(),
            child,
            output,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        let lines = self.output.lock().map(|l| l.join("\n")).unwrap_or_default();
        format!("--- {} (last lines)\n{lines}", self.name)
    }

    fn has_line(&self, wanted: &str) -> bool {
        self.output
            .lock()
            .map(|l| l.iter().any(|x| x.trim() == wanted))
            .unwrap_or(false)
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

fn program_exists(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A UDP port free right now on 127.0.0.1.
fn free_port() -> Result<u16, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn simple_im_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("release").join("simple-im")
}

/// The release simple-im on a fresh data directory, `bob` added, listening on UDP only.
fn start_simple_im(dir: &Path) -> Result<Server, String> {
    let port = free_port()?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("creating {}: {e}", data.display()))?;
    let config = dir.join("simple-im.toml");
    let text = format!("domain = \"localhost\"\n\n[sip]\nudp = [\"127.0.0.1:{port}\"]\ntcp = []\n\n[msrp]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&config, text).map_err(|e| format!("writing {}: {e}", config.display()))?;
    let command = || {
        let mut cmd = Command::new(simple_im_binary());
        cmd.arg("--data").arg(&data).arg("--config").arg(&config);
        cmd
    };
    let added = command()
        .args(["user", "add", USER, "--password", PASSWORD])
        .output()
        .map_err(|e| format!("simple-im user add: {e}"))?;
    if !added.status.success() {
        return Err(format!(
            "simple-im user add failed: {}",
            String::from_utf8_lossy(&added.stderr)
        ));
    }
    let mut cmd = command();
    // SIPp answers only the first challenge, with MD5.
    cmd.args(["server", "--digest-algorithms", "MD5"]);
    let mut process = Background::spawn("simple-im server", cmd)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !process.has_line("simple-im: ready") {
        if process.exited() || Instant::now() > deadline {
            return Err(format!("simple-im did not start:\n{}", process.output()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server {
        addr: format!("127.0.0.1:{port}"),
        process,
    })
}

/// Kamailio with `bench.cfg`, in the foreground (its workers in its process group).
fn start_kamailio(dir: &Path) -> Result<Server, String> {
    let port = free_port()?;
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).map_err(|e| format!("creating {}: {e}", run_dir.display()))?;
    let config = root()
        .join("tests")
        .join("interop")
        .join("kamailio")
        .join("bench.cfg");
    let mut cmd = Command::new("kamailio");
    cmd.arg("-DD").arg("-E").arg("-f").arg(&config);
    cmd.arg("-l").arg(format!("udp:127.0.0.1:{port}"));
    cmd.args(["-m", &KAMAILIO_SHM_MB.to_string()]);
    cmd.arg("-Y").arg(&run_dir).current_dir(&run_dir);
    let mut process = Background::spawn("kamailio", cmd)?;
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !answers_sip(&addr) {
        if process.exited() || Instant::now() > deadline {
            return Err(format!(
                "kamailio did not answer SIP on {addr}:\n{}",
                process.output()
            ));
        }
    }
    Ok(Server { addr, process })
}

/// Whether an OPTIONS to `addr` gets any response within 200 ms.
fn answers_sip(addr: &str) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let Ok(local) = socket.local_addr() else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let probe = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKbenchprobe{}\r\n\
         From: <sip:probe@bench.example>;tag=probe\r\nTo: <sip:{addr}>\r\nCall-ID: probe-{}@bench\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        std::process::id(),
        local.port()
    );
    let mut buf = [0u8; 2048];
    socket.send_to(probe.as_bytes(), addr).is_ok() && socket.recv_from(&mut buf).is_ok()
}

/// Registers the UAS, then runs the rate steps against `server` until one is not clean.
fn measure(
    name: &'static str,
    server: &Server,
    dir: &Path,
    scenarios: &Scenarios,
    rates: &[u32],
    secs: u32,
) -> Result<Measured, String> {
    let uas_port = free_port()?;
    let mut uas_cmd = sipp_command(dir, &scenarios.uas, None, "uas");
    uas_cmd.args(["-p", &uas_port.to_string()]);
    let mut uas = Background::spawn("sipp uas", uas_cmd)?;
    std::thread::sleep(Duration::from_millis(300));
    if uas.exited() {
        return Err(format!("the SIPp UAS exited at once:\n{}", uas.output()));
    }

    let mut register = sipp_command(dir, &scenarios.register, Some(&server.addr), "register");
    register.args([
        "-m",
        "1",
        "-s",
        USER,
        "-au",
        USER,
        "-ap",
        PASSWORD,
        "-auth_uri",
        "localhost",
    ]);
    register.args([
        "-key",
        "contact_port",
        &uas_port.to_string(),
        "-timeout",
        "10s",
        "-timeout_error",
    ]);
    let registered = register.output().map_err(|e| format!("sipp register: {e}"))?;
    if !registered.status.success() {
        return Err(format!(
            "registering the UAS with {name} failed ({}):\n{}\n{}",
            registered.status,
            String::from_utf8_lossy(&registered.stdout),
            server.process.output()
        ));
    }

    let mut steps = Vec::new();
    for &rate in rates {
        let step = run_step(server, dir, scenarios, rate, secs)?;
        println!(
            "  {name:<10} {rate:>6}/s: {}/{} ok, {} failed in {:.1} s, {:.0} us CPU per MESSAGE, \
             {} UDP receive-buffer drops{}",
            step.successful,
            step.calls,
            step.failed,
            step.seconds,
            step.cpu_us_per_message(),
            step.rcvbuf_errors,
            if step.clean(secs) { "" } else { "  (not clean)" }
        );
        let clean = step.clean(secs);
        steps.push(step);
        if !clean {
            break;
        }
        // Let transactions of the step end before the next one.
        std::thread::sleep(Duration::from_secs(1));
    }
    drop(uas);
    Ok(Measured { name, steps })
}

/// SIPp on 127.0.0.1 with large socket buffers, its last screen dumped to `dir`/`tag`.screen.
fn sipp_command(dir: &Path, scenario: &Path, remote: Option<&str>, tag: &str) -> Command {
    let mut cmd = Command::new("sipp");
    if let Some(remote) = remote {
        cmd.arg(remote);
    }
    cmd.arg("-sf").arg(scenario);
    cmd.args([
        "-i",
        "127.0.0.1",
        "-nostdin",
        "-buff_size",
        &SOCKET_BUFFER_BYTES.to_string(),
    ]);
    cmd.args(["-max_recv_loops", "10000", "-max_sched_loops", "10000"]);
    cmd.arg("-trace_screen")
        .arg("-screen_file")
        .arg(dir.join(format!("{tag}.screen")));
    cmd.current_dir(dir);
    cmd
}

/// One step: `rate` MESSAGE/s for `secs` seconds, the server's CPU counted around it.
fn run_step(
    server: &Server,
    dir: &Path,
    scenarios: &Scenarios,
    rate: u32,
    secs: u32,
) -> Result<Step, String> {
    let calls = u64::from(rate) * u64::from(secs);
    let tag = format!("uac-{rate}");
    let mut cmd = sipp_command(dir, &scenarios.uac, Some(&server.addr), &tag);
    cmd.args(["-s", USER, "-r", &rate.to_string(), "-m", &calls.to_string()]);
    // A call whose 200 never comes fails after 10 s; the whole step is bounded as well.
    cmd.args(["-recv_timeout", "10000", "-timeout", &format!("{}s", secs + 20)]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let cpu_before = group_cpu_ticks(server.process.pid());
    let drops_before = udp_rcvbuf_errors();
    let started = Instant::now();
    let status = cmd.status().map_err(|e| format!("sipp uac: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_ticks = group_cpu_ticks(server.process.pid()).saturating_sub(cpu_before);
    let screen = std::fs::read_to_string(dir.join(format!("{tag}.screen"))).unwrap_or_default();
    let successful = last_count(&screen, "Successful call").unwrap_or(0);
    let failed = last_count(&screen, "Failed call").unwrap_or(0);
    if successful == 0 && failed == 0 {
        return Err(format!(
            "sipp uac at {rate}/s reported nothing (exit {status}):\n{screen}"
        ));
    }
    Ok(Step {
        rate,
        calls,
        successful,
        failed,
        seconds,
        cpu_seconds: cpu_ticks as f64 / CLOCK_TICKS_PER_SECOND,
        rcvbuf_errors: udp_rcvbuf_errors().saturating_sub(drops_before),
    })
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on (the unit of /proc/PID/stat times).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime (clock ticks) summed over the processes of process group `group` (threads are
/// included in their process's figures).
fn group_cpu_ticks(group: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state ppid pgrp ... utime(14) stime(15).
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if field(2) == Some(u64::from(group)) {
            total += field(11).unwrap_or(0) + field(12).unwrap_or(0);
        }
    }
    total
}

/// The machine-wide UDP `RcvbufErrors` counter (datagrams dropped on full receive buffers).
fn udp_rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// The cumulative count on the last SIPp statistics row starting with `label`
/// (`  Successful call |  0  |  1`: the last column is cumulative).
fn last_count(screen: &str, label: &str) -> Option<u64> {
    screen
        .lines()
        .rev()
        .filter(|l| l.trim_start().starts_with(label))
        .find_map(|l| l.rsplit('|').next().and_then(|v| v.trim().parse().ok()))
}

fn print_report(results: &[&Measured; 2], secs: u32) {
    let [ours, peer] = *results;
    println!("\npager: SIPp UAC -> server -> SIPp UAS, MESSAGE + 200, {secs} s per rate");
    for m in results {
        match m.highest_clean(secs) {
            Some(rate) => println!("  {:<10} highest clean rate: {rate}/s", m.name),
            None => println!(
                "  {:<10} highest clean rate: none (not even the first step)",
                m.name
            ),
        }
    }
    let both_clean = |rate: u32| {
        [ours, peer]
            .iter()
            .all(|m| m.at(rate).is_some_and(|s| s.clean(secs)))
    };
    let cpu_rate = if both_clean(CPU_RATE) {
        Some(CPU_RATE)
    } else {
        ours.steps.iter().map(|s| s.rate).filter(|&r| both_clean(r)).max()
    };
    match cpu_rate {
        Some(rate) => {
            if rate != CPU_RATE {
                println!("  ({CPU_RATE}/s was not tried or not clean for both: CPU compared at {rate}/s)");
            }
            let (Some(a), Some(b)) = (ours.at(rate), peer.at(rate)) else {
                return;
            };
            println!("  CPU per relayed MESSAGE at {rate}/s:");
            println!(
                "    {:<10} {:>8.1} us  ({:.2} cores)",
                ours.name,
                a.cpu_us_per_message(),
                a.cpu_seconds / a.seconds
            );
            println!(
                "    {:<10} {:>8.1} us  ({:.2} cores)",
                peer.name,
                b.cpu_us_per_message(),
                b.cpu_seconds / b.seconds
            );
            let ratio = a.cpu_us_per_message() / b.cpu_us_per_message().max(f64::MIN_POSITIVE);
            println!(
                "  ratio CPU per message {}/{}: {ratio:.2} (target <= 0.5)",
                ours.name, peer.name
            );
        }
        None => println!("  no rate was clean for both: no CPU comparison"),
    }
    if let (Some(a), Some(b)) = (ours.highest_clean(secs), peer.highest_clean(secs)) {
        let ratio = f64::from(a) / f64::from(b);
        let capped = ours.steps.len() == ours.steps.iter().filter(|s| s.clean(secs)).count();
        println!(
            "  ratio highest clean rate {}/{}: {ratio:.2} (target >= 1.5){}",
            ours.name,
            peer.name,
            if capped {
                "; simple-im was clean at every rate tried: a lower bound"
            } else {
                ""
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{check_nothing_lost, last_count, Measured, Plan, Step};

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_smoke_plan_is_one_moderate_rate_that_fails_on_loss_only() {
        let plan = Plan::from_args(&args("pager --smoke")).unwrap();
        assert_eq!(plan.rates, [super::SMOKE_RATE]);
        assert!(plan.fail_on_loss && !plan.store_bench);
        let full = Plan::from_args(&args("pager")).unwrap();
        assert!(!full.fail_on_loss && full.store_bench);
        let custom = Plan::from_args(&args("pager --rates 8000,10000 --secs 3")).unwrap();
        assert_eq!((custom.rates, custom.secs), (vec![8_000, 10_000], 3));
        assert!(Plan::from_args(&args("pager --rates 8k")).is_err());
        assert!(Plan::from_args(&args("pager --secs")).is_err());
    }

    #[test]
    fn one_lost_message_fails_the_smoke_check() {
        let step = |successful| Step {
            rate: 2000,
            calls: 6000,
            successful,
            failed: 6000 - successful,
            seconds: 9.0,
            cpu_seconds: 1.0,
            rcvbuf_errors: 0,
        };
        let measured = |s| Measured {
            name: "simple-im",
            steps: vec![step(6000), s],
        };
        assert!(
            check_nothing_lost(&measured(step(6000))).is_ok(),
            "late is not lost"
        );
        let lost = check_nothing_lost(&measured(step(5999))).unwrap_err();
        assert!(lost.contains("1 of 6000"), "{lost}");
    }

    #[test]
    fn last_count_reads_the_cumulative_column_of_the_last_screen() {
        let screen =
            "  Successful call |  0  |  0\n  Failed call |  0  |  0\n----\n  Successful call |  5  |  9\n";
        assert_eq!(last_count(screen, "Successful call"), Some(9));
        assert_eq!(last_count(screen, "Failed call"), Some(0));
        assert_eq!(last_count(screen, "Dead call"), None);
    }

    #[test]
    fn a_step_is_clean_below_one_failure_per_thousand_and_on_time() {
        let step = |successful, seconds| Step {
            rate: 1000,
            calls: 10_000,
            successful,
            failed: 10_000 - successful,
            seconds,
            cpu_seconds: 1.0,
            rcvbuf_errors: 0,
        };
        assert!(step(9_991, 10.5).clean(10));
        assert!(!step(9_990, 10.5).clean(10));
        assert!(!step(10_000, 12.5).clean(10));
    }
}
