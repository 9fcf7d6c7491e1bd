//! Helpers shared by the MSRP integration tests: in-memory body sources and sinks, raw requests.
#![allow(dead_code)]

use std::collections::HashMap;

use simple_im_core::msrp::session::{BodyRead, BodySink, BodySource, MessageHandle};
use simple_im_core::msrp::wire::{Continuation, Method, Writer};

/// Bodies by handle, served from memory.
#[derive(Default)]
pub struct Bodies(pub HashMap<u32, Vec<u8>>);
impl BodySource for Bodies {
    fn read(&mut self, m: MessageHandle, offset: u64, buf: &mut [u8]) -> BodyRead {
        let body = &self.0[&m.0];
        let from = offset as usize;
        let n = buf.len().min(body.len() - from);
        buf[..n].copy_from_slice(&body[from..from + n]);
        BodyRead {
            len: n,
            end: from + n == body.len(),
        }
    }
}

/// Received bodies by Message-ID, written at their offsets.
#[derive(Default)]
pub struct Received(pub HashMap<String, Vec<u8>>);
impl BodySink for Received {
    fn body(&mut self, id: &str, offset: u64, bytes: &[u8]) {
        let v = self.0.entry(id.to_string()).or_default();
        let end = offset as usize + bytes.len();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[offset as usize..end].copy_from_slice(bytes);
    }
}

/// A complete request as a peer would write it.
pub fn request(
    tid: &str,
    method: Method<'_>,
    to: &str,
    from: &str,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let mut w = Writer::new(&mut buf);
    w.request_line(tid, method).unwrap();
    w.header("To-Path", to).unwrap();
    w.header("From-Path", from).unwrap();
    for (k, v) in extra {
        w.header(k, v).unwrap();
    }
    if let Some(body) = body {
        w.blank_line().unwrap();
        w.bytes(body).unwrap();
    }
    w.end_line(tid, Continuation::Complete, body.is_some()).unwrap();
    let n = w.len();
    buf.truncate(n);
    buf
}
