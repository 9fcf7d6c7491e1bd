//! The transaction layer: the core's sans-IO transaction machines in hash maps keyed by
//! [`TransactionKey`], driven by Tokio time.
//!
//! Time for the core is milliseconds since the layer was created ([`TransactionLayer::now`]). After
//! every input the layer drains the machine's outputs (sending what it transmits on the transaction's
//! flow) and, when the machine has a deadline, queues the transaction's key under it; one timer task
//! for the whole layer sleeps until the earliest deadline and feeds `handle_timeout` to what is due.
//! (One task per deadline cost a spawn, a task and a wake-up of some worker thread per timer, three
//! per relayed MESSAGE.) A stale wake-up (the deadline moved) is harmless: the machine only fires what
//! is due.
//!
//! - Server side: the first copy of a request creates a [`ServerNonInvite`] and goes up to the TU;
//!   retransmissions are absorbed here (the machine resends the last response, if any).
//! - Client side: [`TransactionLayer::request`] sends a request and resolves to its final response, a
//!   timeout (Timer F) or a transport error. Provisional responses are absorbed.

use super::sip::SipMessage;
use super::transport::{Flow, Transports};
use bytes::Bytes;
use simple_im_core::sip::transaction::{
    ClientNonInvite, Event, Output, Reliability, ServerNonInvite, TimerConfig, TransactionKey,
};
use simple_im_core::time::Instant;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{oneshot, Notify};

/// How a client transaction ended without a final response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFailure {
    /// Timer F fired: no final response in 64*T1 (answer 408 upstream).
    Timeout,
    /// The flow is gone (answer 503 or try another contact).
    Transport,
    /// The request has no usable branch.
    BadRequest,
}

/// What the layer says about a received request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The first copy: the TU must answer through [`TransactionLayer::respond`] with this key.
    New(TransactionKey),
    /// A retransmission, handled here.
    Retransmission,
}

struct ServerEntry {
    machine: ServerNonInvite<Bytes>,
    flow: Flow,
}

struct ClientEntry {
    machine: ClientNonInvite<Bytes>,
    flow: Flow,
    waiter: Option<oneshot::Sender<Result<SipMessage, ClientFailure>>>,
}

/// Which table a queued deadline belongs to.
enum Due {
    Server(TransactionKey),
    Client(TransactionKey),
}

/// Every pending deadline of the layer, earliest first (ties kept apart by a sequence number).
#[derive(Default)]
struct Deadlines {
    queue: Mutex<BTreeMap<(u64, u64), Due>>,
    sequence: AtomicU64,
    /// Wakes the timer task when a deadline earlier than all others is queued.
    earlier: Notify,
    task_started: AtomicBool,
}

/// The server's transactions.
pub struct TransactionLayer {
    epoch: tokio::time::Instant,
    timers: TimerConfig,
    transports: Arc<Transports>,
    server: Mutex<HashMap<TransactionKey, ServerEntry>>,
    client: Mutex<HashMap<TransactionKey, ClientEntry>>,
    deadlines: Deadlines,
}

fn reliability(flow: &Flow) -> Reliability {
    if flow.is_reliable() {
        Reliability::Reliable
    } else {
        Reliability::Unreliable
    }
}

impl TransactionLayer {
    /// A layer sending on `transports`, with the RFC 3261 default timers.
    pub fn new(transports: Arc<Transports>) -> Arc<Self> {
        Arc::new(TransactionLayer {
            epoch: tokio::time::Instant::now(),
            timers: TimerConfig::default(),
            transports,
            server: Mutex::new(HashMap::new()),
            client: Mutex::new(HashMap::new()),
            deadlines: Deadlines::default(),
        })
    }

    /// The transports this layer sends on.
    pub fn transports(&self) -> &Arc<Transports> {
        &self.transports
    }

    /// The core's time: milliseconds since the layer started.
    pub fn now(&self) -> Instant {
        let elapsed = self.epoch.elapsed().as_millis();
        Instant::from_millis(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    /// The server transaction key of a request (RFC 3261 §17.2.3), `None` without a usable Via branch.
    pub fn server_key(request: &SipMessage) -> Option<TransactionKey> {
        let via = request.top_via()?;
        let branch = via.branch?;
        let sent_by = match via.port {
            Some(port) => format!("{}:{port}", via.host),
            None => via.host.to_string(),
        };
        TransactionKey::server(branch, &sent_by, request.method()?).ok()
    }

    /// Records a received non-INVITE request: the first copy is new, later copies are absorbed.
    pub fn arrive(self: &Arc<Self>, request: &SipMessage, flow: Flow) -> Option<Arrival> {
        let key = Self::server_key(request)?;
        let now = self.now();
        let mut table = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = table.get_mut(&key) {
            entry.machine.handle_request(now);
            self.drain_server(&mut table, &key);
            return Some(Arrival::Retransmission);
        }
        let machine = ServerNonInvite::new(now, self.timers, reliability(&flow));
        table.insert(key.clone(), ServerEntry { machine, flow });
        Some(Arrival::New(key))
    }

    /// Sends the TU's response (`code`, bytes) through the server transaction `key`. Without a
    /// transaction (it was never created, or already ended) the response is sent on `flow` directly.
    pub fn respond(self: &Arc<Self>, key: Option<&TransactionKey>, flow: &Flow, code: u16, bytes: Bytes) {
        let now = self.now();
        let mut table = self.server.lock().unwrap_or_else(|e| e.into_inner());
        match key.and_then(|k| table.get_mut(k).map(|e| (k, e))) {
            Some((key, entry)) => {
                if entry.machine.send_response(now, code, bytes).is_ok() {
                    let key = key.clone();
                    self.drain_server(&mut table, &key);
                }
            }
            None => {
                drop(table);
                let _ = self.transports.send(flow, bytes);
            }
        }
    }

    /// Queues `due` for `deadline`, starting the timer task on first use (inside the runtime).
    fn at(self: &Arc<Self>, deadline: Instant, due: Due) {
        let millis = deadline.as_millis();
        let sequence = self.deadlines.sequence.fetch_add(1, Ordering::Relaxed);
        let earliest = {
            let mut queue = self.deadlines.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.insert((millis, sequence), due);
            queue.keys().next() == Some(&(millis, sequence))
        };
        if !self.deadlines.task_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(timer_task(Arc::downgrade(self)));
        } else if earliest {
            self.deadlines.earlier.notify_one();
        }
    }

    /// Feeds `handle_timeout` to every transaction whose queued deadline is at or before `now`;
    /// returns the next deadline still queued.
    fn fire_due(self: &Arc<Self>, now: Instant) -> Option<u64> {
        loop {
            let due = {
                let mut queue = self.deadlines.queue.lock().unwrap_or_else(|e| e.into_inner());
                match queue.first_key_value() {
                    Some((&(millis, _), _)) if millis <= now.as_millis() => queue.pop_first().map(|(_, d)| d),
                    Some((&(millis, _), _)) => return Some(millis),
                    None => return None,
                }
            };
            match due {
                Some(Due::Server(key)) => {
                    let mut table = self.server.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(entry) = table.get_mut(&key) {
                        entry.machine.handle_timeout(now);
                        self.drain_server(&mut table, &key);
                    }
                }
                Some(Due::Client(key)) => {
                    let mut table = self.client.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(entry) = table.get_mut(&key) {
                        entry.machine.handle_timeout(now);
                        self.drain_client(&mut table, &key);
                    }
                }
                None => return None,
            }
        }
    }

    fn drain_server(
        self: &Arc<Self>,
        table: &mut HashMap<TransactionKey, ServerEntry>,
        key: &TransactionKey,
    ) {
        let Some(entry) = table.get_mut(key) else { return };
        let mut terminated = false;
        while let Some(output) = entry.machine.poll_output() {
            match output {
                Output::Transmit(bytes) => {
                    let _ = self.transports.send(&entry.flow, Bytes::copy_from_slice(bytes));
                }
                Output::Event(Event::Terminated) => terminated = true,
                _ => {}
            }
        }
        if terminated {
            table.remove(key);
        } else if let Some(deadline) = entry.machine.poll_timeout() {
            self.at(deadline, Due::Server(key.clone()));
        }
    }

    /// Sends `bytes` (a request whose top Via carries `branch`) on `flow` and waits for the final
    /// response.
    pub async fn request(
        self: &Arc<Self>,
        flow: Flow,
        branch: &str,
        method: &str,
        bytes: Bytes,
    ) -> Result<SipMessage, ClientFailure> {
        let key = TransactionKey::client(branch, method).map_err(|_| ClientFailure::BadRequest)?;
        if !self.transports.is_open(&flow) {
            return Err(ClientFailure::Transport);
        }
        let (tx, rx) = oneshot::channel();
        {
            let now = self.now();
            let machine = ClientNonInvite::new(now, self.timers, reliability(&flow), bytes);
            let mut table = self.client.lock().unwrap_or_else(|e| e.into_inner());
            table.insert(
                key.clone(),
                ClientEntry {
                    machine,
                    flow,
                    waiter: Some(tx),
                },
            );
            self.drain_client(&mut table, &key);
        }
        rx.await.unwrap_or(Err(ClientFailure::Transport))
    }

    /// Matches a received response to its client transaction; `false` when it matches none (a stray
    /// response, dropped by the caller).
    pub fn response(self: &Arc<Self>, response: SipMessage) -> bool {
        let (Some(code), Some(branch), Some(method)) = (
            response.status(),
            response.top_via().and_then(|v| v.branch),
            response.cseq_method(),
        ) else {
            return false;
        };
        let Ok(key) = TransactionKey::client(branch, method) else {
            return false;
        };
        let now = self.now();
        let mut table = self.client.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = table.get_mut(&key) else {
            return false;
        };
        entry.machine.handle_response(now, code);
        if code >= 200 {
            if let Some(waiter) = entry.waiter.take() {
                let _ = waiter.send(Ok(response));
            }
        }
        self.drain_client(&mut table, &key);
        true
    }

    fn drain_client(
        self: &Arc<Self>,
        table: &mut HashMap<TransactionKey, ClientEntry>,
        key: &TransactionKey,
    ) {
        let Some(entry) = table.get_mut(key) else { return };
        let mut terminated = false;
        let mut failed = None;
        while let Some(output) = entry.machine.poll_output() {
            match output {
                Output::Transmit(bytes)
                    if self
                        .transports
                        .send(&entry.flow, Bytes::copy_from_slice(bytes))
                        .is_err() =>
                {
                    failed = Some(ClientFailure::Transport);
                }
                Output::Event(Event::TimedOut) => failed = Some(ClientFailure::Timeout),
                Output::Event(Event::TransportError) => failed = Some(ClientFailure::Transport),
                Output::Event(Event::Terminated) => terminated = true,
                _ => {}
            }
        }
        if let Some(failure) = failed {
            if let Some(waiter) = entry.waiter.take() {
                let _ = waiter.send(Err(failure));
            }
        }
        if terminated || failed.is_some() {
            table.remove(key);
        } else if let Some(deadline) = entry.machine.poll_timeout() {
            self.at(deadline, Due::Client(key.clone()));
        }
    }
}

/// The layer's one timer task: fires what is due, then sleeps until the earliest queued deadline or
/// until an earlier one is queued. Ends when the layer is gone (or with the runtime).
async fn timer_task(layer: Weak<TransactionLayer>) {
    while let Some(layer) = layer.upgrade() {
        let next = layer.fire_due(layer.now());
        // A deadline queued after `fire_due` looked leaves a permit in the notifier: no lost wake-up.
        let earlier = layer.deadlines.earlier.notified();
        match next {
            Some(millis) => {
                let when = layer.epoch + std::time::Duration::from_millis(millis);
                tokio::select! {
                    () = tokio::time::sleep_until(when) => {}
                    () = earlier => {}
                }
            }
            None => earlier.await,
        }
    }
}
