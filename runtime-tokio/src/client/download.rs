//! Saving a pushed file: chunks written at their offsets into `NAME.part`, then the size and SHA-256
//! the sender announced checked and the file renamed into place. The name comes from the sender, so it
//! is made safe to join to the download directory first.

use super::incoming::Incoming;
use super::output::Note;
use super::session::Session;
use sha2::{Digest, Sha256};
use simple_im_core::msrp::session::BodySink;
use std::io::{Seek, SeekFrom, Write};

/// Writes chunks at their offsets (a file), or gathers a chat message.
pub(super) struct ToFile<'a> {
    pub(super) file: Option<&'a mut std::fs::File>,
    pub(super) text: Option<&'a mut Vec<u8>>,
    pub(super) received: &'a mut u64,
    pub(super) error: &'a mut Option<String>,
}

impl BodySink for ToFile<'_> {
    fn body(&mut self, _id: &str, offset: u64, bytes: &[u8]) {
        if let Some(text) = self.text.as_mut() {
            if usize::try_from(offset).is_ok_and(|o| o == text.len()) {
                text.extend_from_slice(bytes);
            }
            return;
        }
        let Some(file) = self.file.as_mut() else { return };
        let written = file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(bytes));
        match written {
            Ok(()) => *self.received = (*self.received).max(offset + bytes.len() as u64),
            Err(e) => *self.error = Some(e.to_string()),
        }
    }
}

/// A file name from a selector, made safe to join to the download directory.
pub(super) fn safe_name(selector_name: &str) -> String {
    let mut bytes = Vec::new();
    let raw = selector_name.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let decoded = (raw[i] == b'%')
            .then(|| raw.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(b) => {
                bytes.push(b);
                i += 3;
            }
            None => {
                bytes.push(raw[i]);
                i += 1;
            }
        }
    }
    let name: String = String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    match name.trim_start_matches('.') {
        "" => "file".to_owned(),
        n => n.to_owned(),
    }
}

impl Session {
    /// Checks the received file against the selector and moves it into place.
    pub(super) fn finish_file(&mut self, transfer: &mut Incoming) -> Note {
        let id = transfer.id;
        if let Some(file) = transfer.part.take() {
            let _ = file.sync_all();
        }
        let mut hasher = Sha256::new();
        let hashed = std::fs::File::open(&transfer.part_path).and_then(|mut f| {
            let mut buf = vec![0u8; 64 * 1024];
            let mut size = 0u64;
            loop {
                let n = std::io::Read::read(&mut f, &mut buf)?;
                if n == 0 {
                    return Ok(size);
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
        });
        let digest: Vec<u8> = hasher.finalize().to_vec();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let problem = match hashed {
            Err(e) => Some(format!("cannot read back the file: {e}")),
            Ok(size) if transfer.expected_size.is_some_and(|s| s != size) => Some(format!(
                "size {size} differs from the announced {}",
                transfer.expected_size.unwrap_or(0)
            )),
            Ok(_) if transfer.expected_sha256.as_ref().is_some_and(|h| *h != digest) => {
                Some("SHA-256 differs from the announced hash".to_owned())
            }
            Ok(_) => None,
        };
        if let Some(reason) = problem {
            let _ = std::fs::remove_file(&transfer.part_path);
            return Note::new("file_failed").with("chat", id).with("reason", reason);
        }
        if let Err(e) = std::fs::rename(&transfer.part_path, &transfer.final_path) {
            return Note::new("file_failed")
                .with("chat", id)
                .with("reason", format!("cannot move the file into place: {e}"));
        }
        Note::new("file_received")
            .with("chat", id)
            .with("path", transfer.final_path.display().to_string())
            .with("bytes", transfer.received)
            .with("sha256", hex)
    }
}
