//! Reading captured messages for `simple-im parse`: detect the kind, parse with the core, validate,
//! and render a readable summary, or say precisely what is wrong and where.
//!
//! Each kind has its own module; they share the [`Report`] builder and the line/byte locator so every
//! error names a line and a byte offset the user can find in the file.

mod cpim;
mod imdn;
mod msrp;
mod sdp;
mod sip;

use std::fmt::Write as _;

/// The kinds of message `simple-im parse` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A SIP request or response (RFC 3261), one datagram.
    Sip,
    /// One MSRP request or response with its end-line (RFC 4975).
    Msrp,
    /// A message/cpim document (RFC 3862).
    Cpim,
    /// A message/imdn+xml notification (RFC 5438).
    Imdn,
    /// A session description (RFC 8866), as used for MSRP sessions.
    Sdp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sip => "sip",
            Kind::Msrp => "msrp",
            Kind::Cpim => "cpim",
            Kind::Imdn => "imdn",
            Kind::Sdp => "sdp",
        }
    }
}

/// Guesses the kind from the first bytes: each format has a distinctive opening.
pub fn detect(bytes: &[u8]) -> Option<Kind> {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
    let text = text.trim_start_matches(['\u{feff}', '\r', '\n', ' ', '\t']);
    let first_line = text.lines().next().unwrap_or("");
    if first_line.starts_with("MSRP ") {
        Some(Kind::Msrp)
    } else if first_line.starts_with("SIP/") || first_line.contains(" SIP/") || has_sip_headers(text) {
        Some(Kind::Sip)
    } else if first_line.starts_with("v=") {
        Some(Kind::Sdp)
    } else if text.starts_with("<?xml") || text.starts_with("<imdn") {
        Some(Kind::Imdn)
    } else if text.lines().take(20).any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("from:") || l.starts_with("ns:") || l.starts_with("content-type: message/cpim")
    }) {
        Some(Kind::Cpim)
    } else {
        None
    }
}

/// SIP's dialog-identifying headers, which no other format here has: a message whose start line is too
/// broken to recognise is still reported as SIP, with the reason it is broken.
fn has_sip_headers(text: &str) -> bool {
    text.lines().take(40).any(|line| {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        matches!(name.as_str(), "call-id" | "cseq" | "via" | "i" | "v")
    })
}

/// Parses `bytes` as `kind` (or the detected kind) and returns the summary, or why it is invalid.
pub fn inspect(bytes: &[u8], kind: Option<Kind>) -> Result<String, String> {
    let kind = match kind.or_else(|| detect(bytes)) {
        Some(kind) => kind,
        None => {
            return Err(
                "cannot tell what kind of message this is (not SIP, MSRP, SDP, CPIM or IMDN by its \
                        first line); name it with --as"
                    .into(),
            )
        }
    };
    let mut report = Report::new(kind, bytes.len());
    match kind {
        Kind::Sip => sip::inspect(bytes, &mut report)?,
        Kind::Msrp => msrp::inspect(bytes, &mut report)?,
        Kind::Cpim => cpim::inspect(bytes, &mut report)?,
        Kind::Imdn => imdn::inspect(bytes, &mut report)?,
        Kind::Sdp => sdp::inspect(bytes, &mut report)?,
    }
    Ok(report.finish())
}

/// The summary being written: `name: value` lines, aligned.
pub(crate) struct Report {
    out: String,
}

impl Report {
    fn new(kind: Kind, len: usize) -> Self {
        let mut out = String::new();
        let _ = writeln!(out, "{:<20} {} ({len} bytes)", "kind:", kind.name());
        Report { out }
    }

    /// Adds one `name: value` line.
    pub(crate) fn line(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{:<20} {value}", format!("{name}:"));
    }

    /// Adds an indented detail line under the previous one.
    pub(crate) fn detail(&mut self, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{:<20}   {value}", "");
    }

    fn finish(mut self) -> String {
        self.out.push_str("valid\n");
        self.out
    }
}

/// "line L, byte B" for a byte offset into `bytes` (lines counted from 1, bytes from 0).
pub(crate) fn locate(bytes: &[u8], offset: usize) -> String {
    let upto = &bytes[..offset.min(bytes.len())];
    let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
    format!("line {line}, byte {offset}")
}

/// Text for display: lossy UTF-8 with control characters escaped.
pub(crate) fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}
