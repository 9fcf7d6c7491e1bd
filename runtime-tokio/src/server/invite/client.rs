//! INVITE client transactions (the core's [`ClientInvite`], driven on Tokio), shared by everyone that
//! sends an INVITE: the proxy's branches ([`super::relay`]) and the server's own INVITEs (the Deferred
//! Messaging function's pushes, the group focus's dial-outs). Each user keeps its own table and says,
//! through a [`Listener`], what it wants to hear.
//!
//! | machine output | action |
//! |---|---|
//! | transmit (the INVITE, a retransmission) | sent on the transaction's flow; a send error is heard as `Failed` |
//! | send ACK (a non-2xx) | the ACK built from the INVITE and that response, sent on the flow |
//! | provisional or final response received | heard with the response |
//! | timed out, transport error | heard as `Failed` |
//! | terminated | the entry leaves the table |
//! | a timer pending | a task fires it at its deadline (holding the server weakly) |

use super::super::sip::SipMessage;
use super::super::transport::Flow;
use super::super::Server;
use super::{at, lock, reliability, route};
use bytes::Bytes;
use simple_im_core::sip::transaction::{ClientInvite, Event, Output, TimerConfig, TransactionKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a transaction's user hears.
pub(crate) enum Heard<'a> {
    Provisional(&'a SipMessage),
    Final(&'a SipMessage),
    /// No final response will come: timeout or transport failure.
    Failed,
}

/// The user of an INVITE client transaction.
pub(crate) trait Listener: Send + 'static {
    fn hear(&self, heard: Heard<'_>);
}

struct Entry<L> {
    machine: ClientInvite<Bytes>,
    flow: Flow,
    invite: SipMessage,
    listener: L,
}

/// One user's INVITE client transactions.
pub(crate) struct ClientInvites<L> {
    table: Mutex<HashMap<TransactionKey, Entry<L>>>,
    /// Finds this table again from the server (a timer task holds only the server).
    locate: fn(&Server) -> &ClientInvites<L>,
}

impl<L: Listener> ClientInvites<L> {
    /// An empty table, found on the server by `locate`.
    pub fn new(locate: fn(&Server) -> &ClientInvites<L>) -> Self {
        ClientInvites {
            table: Mutex::default(),
            locate,
        }
    }

    /// Sends `bytes` (the INVITE `invite`, whose top Via branch gives `key`) on `flow` through a new
    /// transaction that reports to `listener`.
    pub fn start(
        &self,
        server: &Arc<Server>,
        key: TransactionKey,
        flow: Flow,
        invite: SipMessage,
        bytes: Bytes,
        listener: L,
    ) {
        let now = server.transactions.now();
        let machine = ClientInvite::new(now, TimerConfig::default(), reliability(&flow), bytes);
        let mut table = lock(&self.table);
        let entry = Entry {
            machine,
            flow,
            invite,
            listener,
        };
        table.insert(key.clone(), entry);
        self.drain(server, &mut table, &key, None);
    }

    /// Matches a response to one of these transactions; gives it back when it matches none.
    pub fn response(&self, server: &Arc<Server>, msg: SipMessage) -> Option<SipMessage> {
        if msg.cseq_method() != Some("INVITE") {
            return Some(msg);
        }
        let Some(key) = msg
            .top_via()
            .and_then(|v| v.branch)
            .and_then(|b| TransactionKey::client(b, "INVITE").ok())
        else {
            return Some(msg);
        };
        let mut table = lock(&self.table);
        let Some(entry) = table.get_mut(&key) else {
            return Some(msg);
        };
        let code = msg.status().unwrap_or(500);
        entry.machine.handle_response(server.transactions.now(), code);
        self.drain(server, &mut table, &key, Some(&msg));
        None
    }

    fn drain(
        &self,
        server: &Arc<Server>,
        table: &mut HashMap<TransactionKey, Entry<L>>,
        key: &TransactionKey,
        response: Option<&SipMessage>,
    ) {
        let Some(entry) = table.get_mut(key) else { return };
        let transports = server.transactions.transports();
        let mut terminated = false;
        while let Some(output) = entry.machine.poll_output() {
            match output {
                Output::Transmit(bytes) => {
                    if transports
                        .send(&entry.flow, Bytes::copy_from_slice(bytes))
                        .is_err()
                    {
                        entry.listener.hear(Heard::Failed);
                    }
                }
                Output::SendAck { .. } => {
                    if let Some(ack) = response.and_then(|r| route::ack_for(&entry.invite, r)) {
                        let _ = transports.send(&entry.flow, ack);
                    }
                }
                Output::Event(Event::ProvisionalReceived(_)) => {
                    if let Some(response) = response {
                        entry.listener.hear(Heard::Provisional(response));
                    }
                }
                Output::Event(Event::FinalReceived(_)) => {
                    if let Some(response) = response {
                        entry.listener.hear(Heard::Final(response));
                    }
                }
                Output::Event(Event::TimedOut | Event::TransportError) => {
                    entry.listener.hear(Heard::Failed);
                }
                Output::Event(Event::Terminated) => terminated = true,
                Output::Event(_) => {}
            }
        }
        if terminated {
            table.remove(key);
        } else if let Some(deadline) = entry.machine.poll_timeout() {
            let key = key.clone();
            let locate = self.locate;
            at(server, deadline, move |server| {
                let this = locate(server);
                let mut table = lock(&this.table);
                if let Some(entry) = table.get_mut(&key) {
                    entry.machine.handle_timeout(server.transactions.now());
                    this.drain(server, &mut table, &key, None);
                }
            });
        }
    }
}
