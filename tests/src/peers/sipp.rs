//! SIPp runs: a committed scenario (with `@NAME@` placeholders filled per test, for what SIPp cannot
//! take as a keyword, such as an expected response code), bounded by SIPp's own global timeout and by
//! a kill deadline, judged by SIPp's exit status and its final statistics screen.
//!
//! SIPp exit status: 0 every call succeeded, 1 at least one failed, 97 stopped by an internal
//! command, 99 stopped without processing a call, 255/254 fatal (e.g. cannot bind).

use super::process::{run_bounded, Running};
use super::{interop_dir, require_program};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A SIPp invocation being assembled.
pub struct Sipp {
    name: String,
    scenario: PathBuf,
    dir: PathBuf,
    args: Vec<String>,
    timeout: Duration,
}

/// What a finished SIPp run reported.
#[derive(Debug)]
pub struct SippResult {
    /// The scenario's name.
    pub name: String,
    /// The exit code (None: killed at the deadline).
    pub code: Option<i32>,
    /// "Successful call" count from the last statistics screen, when found.
    pub successful: Option<u64>,
    /// "Failed call" count from the last statistics screen, when found.
    pub failed: Option<u64>,
    /// SIPp's output, its last screen and its error log, for failure messages.
    pub report: String,
}

impl SippResult {
    /// Panics with SIPp's report unless every call succeeded (exit 0 and `calls` successful calls).
    pub fn assert_success(&self, calls: u64) {
        let ok = self.code == Some(0) && self.successful == Some(calls) && self.failed.unwrap_or(0) == 0;
        assert!(
            ok,
            "SIPp scenario {} failed: exit {:?}, successful {:?} (wanted {calls}), failed {:?}\n{}",
            self.name, self.code, self.successful, self.failed, self.report
        );
    }
}

/// Reads `tests/interop/sipp/NAME.xml`, replaces each `@KEY@` with its value and writes the result
/// into `dir`; panics when a placeholder is left unfilled.
pub fn scenario(dir: &Path, name: &str, fill: &[(&str, &str)]) -> PathBuf {
    let source = interop_dir().join("sipp").join(format!("{name}.xml"));
    let mut text =
        std::fs::read_to_string(&source).unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
    for (key, value) in fill {
        text = text.replace(&format!("@{key}@"), value);
    }
    if let Some(left) = unfilled_placeholder(&text) {
        panic!("scenario {name}: placeholder @{left}@ left unfilled");
    }
    let out = dir.join(format!("{name}.xml"));
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
    out
}

impl Sipp {
    /// A run of `scenario` (a file from [`scenario`]) with logs in `dir`, one call, on 127.0.0.1 UDP,
    /// with SIPp's own global timeout at `timeout`.
    pub fn new(dir: &Path, scenario: &Path, timeout: Duration) -> Sipp {
        let name = scenario
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("scenario")
            .to_string();
        Sipp {
            name,
            scenario: scenario.to_path_buf(),
            dir: dir.to_path_buf(),
            args: Vec::new(),
            timeout,
        }
    }

    /// Any extra SIPp arguments.
    pub fn arg(mut self, arg: impl Into<String>) -> Sipp {
        self.args.push(arg.into());
        self
    }

    /// The local port SIPp binds.
    pub fn local_port(self, port: u16) -> Sipp {
        self.arg("-p").arg(port.to_string())
    }

    /// `-key NAME VALUE`: a `[NAME]` keyword in the scenario.
    pub fn key(self, name: &str, value: &str) -> Sipp {
        self.arg("-key").arg(name).arg(value)
    }

    /// Digest credentials for `[authentication]`, and the user part as `[service]`.
    pub fn user(self, name: &str, password: &str) -> Sipp {
        self.arg("-s")
            .arg(name)
            .arg("-au")
            .arg(name)
            .arg("-ap")
            .arg(password)
    }

    fn screen_file(&self) -> PathBuf {
        self.dir
            .join(format!("{}-{}.screen", self.name, std::process::id()))
    }

    fn error_file(&self) -> PathBuf {
        self.dir
            .join(format!("{}-{}.errors", self.name, std::process::id()))
    }

    fn message_file(&self) -> PathBuf {
        self.dir
            .join(format!("{}-{}.messages", self.name, std::process::id()))
    }

    fn command(&self, remote: Option<&str>) -> Command {
        let mut cmd = Command::new(require_program("sipp"));
        if let Some(remote) = remote {
            cmd.arg(remote);
        }
        let _ = std::fs::remove_file(self.screen_file());
        let _ = std::fs::remove_file(self.error_file());
        let _ = std::fs::remove_file(self.message_file());
        cmd.arg("-sf").arg(&self.scenario);
        cmd.args([
            "-i",
            "127.0.0.1",
            "-m",
            "1",
            "-nostdin",
            "-trace_screen",
            "-trace_err",
        ]);
        cmd.arg("-screen_file").arg(self.screen_file());
        cmd.arg("-error_file").arg(self.error_file());
        cmd.arg("-trace_msg")
            .arg("-message_file")
            .arg(self.message_file());
        cmd.args([
            "-timeout",
            &format!("{}s", self.timeout.as_secs().max(1)),
            "-timeout_error",
        ]);
        cmd.args(&self.args);
        cmd.current_dir(&self.dir);
        cmd
    }

    /// Runs a client scenario against `remote` (`127.0.0.1:PORT`) to completion.
    pub fn run(self, remote: &str) -> SippResult {
        let cmd = self.command(Some(remote));
        let done = run_bounded(
            &format!("sipp {}", self.name),
            cmd,
            self.timeout + Duration::from_secs(5),
        );
        self.result(done.status.and_then(|s| s.code()), &done.output)
    }

    /// Starts a server scenario (waits for its first request) in the background.
    pub fn spawn(self) -> RunningSipp {
        let cmd = self.command(None);
        let running = Running::spawn(&format!("sipp {}", self.name), cmd);
        RunningSipp { sipp: self, running }
    }

    fn result(&self, code: Option<i32>, output: &str) -> SippResult {
        let screen = std::fs::read_to_string(self.screen_file()).unwrap_or_default();
        let errors = std::fs::read_to_string(self.error_file()).unwrap_or_default();
        let messages = std::fs::read_to_string(self.message_file()).unwrap_or_default();
        let messages = messages
            .get(messages.len().saturating_sub(4000)..)
            .unwrap_or(&messages);
        SippResult {
            name: self.name.clone(),
            code,
            successful: last_count(&screen, "Successful call"),
            failed: last_count(&screen, "Failed call"),
            report: format!(
                "--- output\n{output}\n--- last screen\n{}\n--- errors\n{errors}\n--- last messages\n{messages}",
                last_screen(&screen)
            ),
        }
    }
}

/// A SIPp server scenario running in the background.
pub struct RunningSipp {
    sipp: Sipp,
    running: Running,
}

impl RunningSipp {
    /// Waits for it to finish (its `-m 1` call done, or its timeout) and collects the result.
    pub fn finish(mut self) -> SippResult {
        let status = self
            .running
            .wait_timeout(self.sipp.timeout + Duration::from_secs(5));
        if status.is_none() {
            self.running.stop("KILL", Duration::from_secs(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        self.sipp
            .result(status.and_then(|s| s.code()), &self.running.output())
    }
}

/// The first `@UPPER_CASE@` placeholder still in `text`.
fn unfilled_placeholder(text: &str) -> Option<&str> {
    text.split('@').skip(1).find(|part| {
        !part.is_empty() && part.len() < 40 && part.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    })
}

/// The cumulative count on the last line starting with `label` in a SIPp screen dump. SIPp's
/// statistics rows read `  Successful call |  0  |  1`: the last column is the cumulative one.
fn last_count(screen: &str, label: &str) -> Option<u64> {
    screen
        .lines()
        .rev()
        .filter(|l| l.trim_start().starts_with(label))
        .find_map(|l| l.rsplit('|').next().and_then(|v| v.trim().parse().ok()))
}

/// The last screen of a dump (screens are separated by lines of dashes at the top).
fn last_screen(screen: &str) -> &str {
    let tail_start = screen.len().saturating_sub(6000);
    screen.get(tail_start..).unwrap_or(screen)
}

#[cfg(test)]
mod tests {
    use super::last_count;

    #[test]
    fn last_count_takes_the_cumulative_column_of_the_last_screen() {
        let screen = "  Successful call |  0  |  0\n  Failed call |  0  |  0\n\
                      ----\n  Successful call |  1  |  3\n  Failed call |  0  |  1\n";
        assert_eq!(last_count(screen, "Successful call"), Some(3));
        assert_eq!(last_count(screen, "Failed call"), Some(1));
        assert_eq!(last_count(screen, "Dead call"), None);
    }

    #[test]
    fn unfilled_placeholders_are_found_and_user_parts_are_not() {
        assert_eq!(super::unfilled_placeholder("response=\"@FINAL@\""), Some("FINAL"));
        assert_eq!(
            super::unfilled_placeholder("<sip:[service]@localhost> sip:bob@x"),
            None
        );
    }
}

/// The usual flows, each one SIPp call with the committed scenarios.
pub mod flows {
    use super::{scenario, RunningSipp, Sipp, SippResult};
    use crate::peers::free_port;
    use std::path::Path;
    use std::time::Duration;

    /// REGISTER `user` with digest, binding `contact_port` on 127.0.0.1.
    pub fn register(dir: &Path, server: &str, user: &str, password: &str, contact_port: u16) -> SippResult {
        let file = scenario(dir, "register", &[]);
        Sipp::new(dir, &file, Duration::from_secs(10))
            .local_port(free_port())
            .user(user, password)
            // The digest uri must be the Request-URI; SIPp prefixes "sip:" itself and would otherwise use
            // the remote address.
            .arg("-auth_uri")
            .arg("localhost")
            .key("contact_port", &contact_port.to_string())
            .run(server)
    }

    /// A MESSAGE from `from` to `to` with `body`, expecting final response `expect`.
    pub fn message(
        dir: &Path,
        server: &str,
        (from, password): (&str, &str),
        to: &str,
        body: &str,
        expect: u16,
    ) -> SippResult {
        let code = expect.to_string();
        let file = scenario(dir, "message", &[("FINAL", &code), ("BODY", body)]);
        let renamed = dir.join(format!("message-{from}-{to}-{expect}.xml"));
        let _ = std::fs::rename(&file, &renamed);
        Sipp::new(dir, &renamed, Duration::from_secs(10))
            .local_port(free_port())
            .user(from, password)
            .arg("-auth_uri")
            .arg(format!("{to}@localhost"))
            .key("to_user", to)
            .run(server)
    }

    /// A SIPp UAS on `port` waiting (up to `timeout`) for one MESSAGE from `from_user` whose body
    /// matches `body_regex`.
    pub fn receive_message(
        dir: &Path,
        port: u16,
        from_user: &str,
        body_regex: &str,
        timeout: Duration,
    ) -> RunningSipp {
        let file = scenario(
            dir,
            "message_uas",
            &[("BODY_REGEX", body_regex), ("FROM_USER", from_user)],
        );
        let renamed = dir.join(format!("message_uas-{port}.xml"));
        let _ = std::fs::rename(&file, &renamed);
        Sipp::new(dir, &renamed, timeout).local_port(port).spawn()
    }

    /// A request without credentials: `register_unauthenticated` or `message_unauthenticated`.
    pub fn unauthenticated(
        dir: &Path,
        server: &str,
        scenario_name: &str,
        from: &str,
        to: &str,
    ) -> SippResult {
        let file = scenario(dir, scenario_name, &[]);
        Sipp::new(dir, &file, Duration::from_secs(10))
            .local_port(free_port())
            .arg("-s")
            .arg(from)
            .key("to_user", to)
            .run(server)
    }
}
