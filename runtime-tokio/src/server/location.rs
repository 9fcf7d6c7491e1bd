//! The location service: the contacts registered for each address of record, in memory with expiry.
//!
//! Registrations are soft state (clients refresh them), so they are not written to the store: after a
//! restart clients register again. Each binding remembers the flow its REGISTER arrived on, which is
//! how requests reach the contact (see [`super::transport`]).

use super::transport::Flow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One registered contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI as registered.
    pub uri: String,
    /// The flow the REGISTER came on.
    pub flow: Flow,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that made it (RFC 3261 §10.3 step 7 ordering).
    pub call_id: String,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
}

impl Binding {
    /// Seconds left, at least 0.
    pub fn remaining(&self, now: Instant) -> u64 {
        self.expires_at.saturating_duration_since(now).as_secs()
    }
}

/// The location service for the server's domain, keyed by user name (the AoR's user part).
#[derive(Default)]
pub struct Location {
    bindings: Mutex<HashMap<String, Vec<Binding>>>,
}

impl Location {
    /// The user's live bindings.
    pub fn lookup(&self, user: &str) -> Vec<Binding> {
        let now = Instant::now();
        let mut table = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = table.get_mut(user) else {
            return Vec::new();
        };
        list.retain(|b| b.expires_at > now);
        let live = list.clone();
        if list.is_empty() {
            table.remove(user);
        }
        live
    }

    /// Adds or refreshes a binding (same URI replaces), or removes it when `expires` is zero.
    pub fn update(&self, user: &str, binding: Binding, expires: Duration) {
        let mut table = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        let list = table.entry(user.to_owned()).or_default();
        list.retain(|b| b.uri != binding.uri);
        if !expires.is_zero() {
            list.push(binding);
        }
        if list.is_empty() {
            table.remove(user);
        }
    }

    /// Removes every binding of the user (`Contact: *`).
    pub fn remove_all(&self, user: &str) {
        self.bindings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(user);
    }

    /// Drops the bindings on a flow that failed (a closed TCP connection).
    pub fn remove_flow(&self, flow: &Flow) {
        let mut table = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        for list in table.values_mut() {
            list.retain(|b| b.flow != *flow);
        }
        table.retain(|_, list| !list.is_empty());
    }

    /// The flow of a live binding whose contact is `uri` (ignoring case), or whose flow's peer is
    /// `peer`: how an in-dialog request reaches a registered UA over the connection it registered on.
    pub fn flow_to(&self, uri: &str, peer: Option<std::net::SocketAddr>) -> Option<Flow> {
        let now = Instant::now();
        let table = self.bindings.lock().unwrap_or_else(|e| e.into_inner());
        let live = table.values().flatten().filter(|b| b.expires_at > now);
        let mut by_peer = None;
        for binding in live {
            if binding.uri.eq_ignore_ascii_case(uri) {
                return Some(binding.flow);
            }
            if by_peer.is_none() && peer == Some(binding.flow.peer()) {
                by_peer = Some(binding.flow);
            }
        }
        by_peer
    }
}
