//! Child processes with deadlines: a guard that stops its child (and the child's process group)
//! when dropped, line-by-line capture of its output, and bounded runs of short-lived tools.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends `signal` (a name such as `TERM`, `INT`, `KILL`) to one process, or to a process group when
/// `pid` is negative. Uses kill(1) so the test crate needs no libc binding.
pub fn signal(pid: i64, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A running child in its own process group, with its stdout and stderr lines collected.
pub struct Running {
    /// What it is, for messages.
    pub name: String,
    child: Child,
    lines: Receiver<String>,
    /// Every line seen so far, both streams interleaved as they came.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Starts `cmd` in a new process group, capturing stdout and stderr.
    pub fn spawn(name: &str, mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let (tx, lines) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            let tx = tx.clone();
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut log) = log.lock() {
                        log.push(line.clone());
                    }
                    let _ = tx.send(line);
                }
            });
        }
        Running {
            name: name.into(),
            child,
            lines,
            log,
        }
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a line satisfying `wanted` appears; returns it. Panics with the output so far when
    /// the child exits first or the deadline passes.
    pub fn wait_for_line(&mut self, what: &str, timeout: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no {what} within {timeout:?}; output so far:\n{}",
                        self.name,
                        self.output()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    panic!(
                        "{}: exited ({status:?}) before {what}; output:\n{}",
                        self.name,
                        self.output()
                    )
                }
            }
        }
    }

    /// All output lines so far, joined.
    pub fn output(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Waits for the child to exit on its own, up to `timeout`; None when it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL to the child alone, then reaps it: a crash, as far as the child can tell.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the whole process group to stop (`signal`), then SIGKILLs it after `grace`.
    pub fn stop(&mut self, signal_name: &str, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let group = -i64::from(self.pid());
        signal(group, signal_name);
        let status = self.wait_timeout(grace);
        if status.is_none() {
            signal(group, "KILL");
            return self.child.wait().ok();
        }
        // Workers of a forking daemon may outlive their parent for a moment.
        signal(group, "KILL");
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop("TERM", Duration::from_secs(2));
    }
}

/// The result of a bounded run.
pub struct Finished {
    /// The exit status; None when the run was killed at its deadline.
    pub status: Option<ExitStatus>,
    /// stdout and stderr lines.
    pub output: String,
}

/// Runs `cmd` to completion or until `timeout`, when it is killed (with its process group).
pub fn run_bounded(name: &str, cmd: Command, timeout: Duration) -> Finished {
    let mut running = Running::spawn(name, cmd);
    let status = running.wait_timeout(timeout);
    if status.is_none() {
        running.stop("KILL", Duration::from_secs(1));
    }
    // Let the reader threads drain what is left in the pipes.
    std::thread::sleep(Duration::from_millis(50));
    Finished {
        status,
        output: running.output(),
    }
}
