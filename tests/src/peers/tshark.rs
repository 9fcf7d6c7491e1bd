//! tshark as a wire check: capture on `lo` restricted to the test's ports, bounded in time, then
//! decode the capture with those ports read as SIP and list every malformed packet or error-level
//! expert item. It catches broken framing (lengths, start lines, header syntax it knows), not full
//! RFC conformance.

use super::process::{run_bounded, Running};
use super::require_program;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The display filter of broken packets.
pub const BROKEN_FILTER: &str = "_ws.malformed || _ws.expert.severity >= error";

/// A stopped capture, decoded: one summary line per packet.
pub struct Decoded {
    /// Every SIP packet.
    pub sip: String,
    /// Every MSRP packet (empty when no MSRP port was given).
    pub msrp: String,
    /// Every malformed packet or error-level expert item.
    pub broken: String,
}

/// A capture in progress.
pub struct Capture {
    running: Running,
    file: PathBuf,
    ports: Vec<u16>,
    /// Ports decoded as MSRP (RFC 4975) instead of SIP.
    msrp_ports: Vec<u16>,
}

impl Capture {
    /// Starts capturing UDP and TCP on `lo` for `ports`, stopping on its own after `max`; returns
    /// once the capture has started.
    pub fn start(dir: &Path, ports: &[u16], max: Duration) -> Capture {
        Capture::start_with_msrp(dir, ports, &[], max)
    }

    /// [`Capture::start`], also capturing `msrp_ports` and decoding them as MSRP; [`Capture::finish`]
    /// then also requires at least one MSRP packet.
    pub fn start_with_msrp(dir: &Path, ports: &[u16], msrp_ports: &[u16], max: Duration) -> Capture {
        let program = require_program("tshark");
        let file = dir.join("capture.pcapng");
        let filter = ports
            .iter()
            .chain(msrp_ports)
            .map(|p| format!("port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut cmd = Command::new(program);
        cmd.args([
            "-i",
            "lo",
            "-q",
            "-f",
            &filter,
            "-a",
            &format!("duration:{}", max.as_secs().max(1)),
        ]);
        cmd.arg("-w").arg(&file);
        let mut running = Running::spawn("tshark capture", cmd);
        running.wait_for_line("`Capturing on` line", Duration::from_secs(15), |l| {
            l.contains("Capturing on")
        });
        // dumpcap reports before the filter is applied to the socket; give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        Capture {
            running,
            file,
            ports: ports.to_vec(),
            msrp_ports: msrp_ports.to_vec(),
        }
    }

    /// Stops the capture and decodes it: (every SIP packet, the broken ones), one summary line each.
    pub fn finish(self) -> (String, String) {
        let decoded = self.finish_with_msrp();
        (decoded.sip, decoded.broken)
    }

    /// [`Capture::finish`], also returning every MSRP packet's summary line.
    pub fn finish_with_msrp(mut self) -> Decoded {
        std::thread::sleep(Duration::from_millis(300));
        self.running.stop("INT", Duration::from_secs(5));
        let sip = self.decode("sip");
        assert!(
            !sip.trim().is_empty(),
            "tshark captured no SIP packet on ports {:?}; capture log:\n{}",
            self.ports,
            self.running.output()
        );
        let mut msrp = String::new();
        if !self.msrp_ports.is_empty() {
            msrp = self.decode("msrp");
            assert!(
                !msrp.trim().is_empty(),
                "tshark decoded no MSRP packet on ports {:?}",
                self.msrp_ports
            );
        }
        let broken = self.decode(BROKEN_FILTER);
        Decoded { sip, msrp, broken }
    }

    /// Stops the capture; panics when it holds no SIP packet or any broken one.
    pub fn assert_clean(self) {
        let file = self.file.clone();
        let (sip, broken) = self.finish();
        assert!(
            broken.trim().is_empty(),
            "tshark flags packets as malformed or with error-level expert items (capture {}):\n{broken}\n\
             all SIP packets:\n{sip}",
            file.display()
        );
    }

    fn decode(&self, display_filter: &str) -> String {
        let mut cmd = Command::new(require_program("tshark"));
        cmd.arg("-r").arg(&self.file);
        for port in &self.ports {
            cmd.args([
                "-d",
                &format!("udp.port=={port},sip"),
                "-d",
                &format!("tcp.port=={port},sip"),
            ]);
        }
        for port in &self.msrp_ports {
            cmd.args(["-d", &format!("tcp.port=={port},msrp")]);
        }
        cmd.args(["-Y", display_filter]);
        let done = run_bounded("tshark decode", cmd, Duration::from_secs(30));
        assert!(
            done.status.is_some_and(|s| s.success()),
            "tshark could not decode {} ({:?}):\n{}",
            self.file.display(),
            done.status,
            done.output
        );
        // Keep the packet lines (they start with the frame number); drop tshark's notices on stderr.
        done.output
            .lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
