//! Offline charging records (CH-1): one JSON object per line, appended to the charging log.
//!
//! Each line: `{"time":<unix ms>,"event":"submitted|delivered|deferred|expired|rejected",
//! "sender":"<uri>","recipient":"<uri or user>","size":<body bytes>,"message_id":"<id>",
//! "status":<SIP status or 0>}`.
//!
//! Records go through a channel to one writer thread, which writes whatever is queued in one buffered
//! batch and flushes as soon as the queue is empty: under load many records share one `write`, when
//! idle each is on disk at once. A crash loses at most the batch being written (charging is offline
//! accounting, not the message store: messages themselves are durable in the store).

use crate::store::UnixMillis;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;

/// A message event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A MESSAGE was accepted from its sender.
    Submitted,
    /// A MESSAGE reached its recipient (a 2xx from the recipient's client).
    Delivered,
    /// A MESSAGE was stored for later delivery.
    Deferred,
    /// A stored MESSAGE expired undelivered.
    Expired,
    /// A MESSAGE was refused.
    Rejected,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::Submitted => "submitted",
            Event::Delivered => "delivered",
            Event::Deferred => "deferred",
            Event::Expired => "expired",
            Event::Rejected => "rejected",
        }
    }
}

/// One record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// What happened.
    pub event: Event,
    /// The sender's URI.
    pub sender: &'a str,
    /// The recipient's URI (or user name).
    pub recipient: &'a str,
    /// Body size in bytes.
    pub size: usize,
    /// The message id (IMDN Message-ID, or Call-ID when there is none).
    pub message_id: &'a str,
    /// The SIP status that ended it, 0 when none.
    pub status: u16,
}

/// How long the writer thread lets records gather after a write: records reach the file at most
/// this much later than they would one by one.
const GATHER_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

/// The charging log.
pub struct Charging {
    lines: mpsc::Sender<String>,
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs of characters that need no escape are copied at once (most records have no escape).
    let mut rest = s;
    while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || (c as u32) < 0x20) {
        let (plain, tail) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = tail.chars();
        match chars.next() {
            Some('"') => out.push_str("\\\""),
            Some('\\') => out.push_str("\\\\"),
            Some(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            None => {}
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out.push('"');
}

impl Charging {
    /// Opens (creating) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<Charging> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("charging".into())
            .spawn(move || {
                let mut out = BufWriter::with_capacity(64 * 1024, file);
                // Ends when the server (the last sender) is dropped.
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(line.as_bytes());
                    while let Ok(more) = rx.try_recv() {
                        let _ = out.write_all(more.as_bytes());
                    }
                    let _ = out.flush();
                    // Let the next records gather: under load the thread wakes once per interval instead
                    // of once per record (each wake-up costs the sending worker a futex call too).
                    std::thread::sleep(GATHER_INTERVAL);
                }
            })?;
        Ok(Charging { lines: tx })
    }

    /// Appends one record.
    pub fn record(&self, record: &Record<'_>) {
        let _ = self.lines.send(line(record));
    }
}

/// Appends `records` to the log at `path` at once, from a process that runs no server (the CLI): one
/// `write` on a file opened for appending, so its lines never interleave with the server's.
pub fn append(path: &Path, records: &[Record<'_>]) -> std::io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text: String = records.iter().map(line).collect();
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// One record as its JSON line.
fn line(record: &Record<'_>) -> String {
    {
        let mut line = format!(
            "{{\"time\":{},\"event\":\"{}\",\"sender\":",
            UnixMillis::now().0,
            record.event.as_str()
        );
        json_string(&mut line, record.sender);
        line.push_str(",\"recipient\":");
        json_string(&mut line, record.recipient);
        line.push_str(&format!(",\"size\":{},\"message_id\":", record.size));
        json_string(&mut line, record.message_id);
        line.push_str(&format!(",\"status\":{}}}\n", record.status));
        line
    }
}

#[cfg(test)]
mod tests {
    use super::json_string;

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        json_string(&mut out, s);
        out
    }

    #[test]
    fn strings_are_quoted_with_quotes_backslashes_and_controls_escaped() {
        assert_eq!(quoted("sip:alice@localhost"), r#""sip:alice@localhost""#);
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted("x\ny\u{1}"), r#""x\u000ay\u0001""#);
        assert_eq!(quoted("é\"ü"), "\"é\\\"ü\"");
    }
}
