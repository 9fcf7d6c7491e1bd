//! A bounded table of transactions, dispatching inputs by [`TransactionKey`].
//!
//! The owner parses a message, builds its key, and calls the table with the key; the table finds the
//! transaction and forwards the input. `handle_timeout` fires the timers of every transaction,
//! `poll_timeout` is the earliest deadline of all of them, and `poll_output` drains them one output at a
//! time, tagged with the key of the transaction it came from.
//!
//! Every call that takes `now` first fires the timers of *all* transactions that are due by then, so
//! after any such call and a full drain `poll_timeout()` is `None` or later than `now`, as for a single
//! machine.
//!
//! **Removal.** A terminated transaction stays in the table only until its outputs (ending with
//! [`Event::Terminated`]) have been polled: the `poll_output` call that returns `None` removes every
//! terminated transaction. From then on a lookup by its key returns `None` and its timers are gone. The
//! owner may also [`TransactionTable::remove`] a transaction at any time (a TU giving up).
//!
//! [`Event::Terminated`]: super::Event::Terminated

use core::fmt;

use heapless::Vec;

use crate::time::Instant;

use super::{
    ClientInvite, ClientNonInvite, Output, SendError, ServerInvite, ServerNonInvite, ServerRequest,
    TransactionKey,
};

/// Default capacity of a [`TransactionTable`]: eight concurrent transactions cover a device's
/// registration, a subscription refresh, a few pager messages and an INVITE with its CANCEL.
pub const DEFAULT_TABLE_CAPACITY: usize = 8;

/// Any of the four transaction machines.
#[derive(Debug)]
pub enum Transaction<B> {
    /// An INVITE we sent.
    ClientInvite(ClientInvite<B>),
    /// A non-INVITE request we sent.
    ClientNonInvite(ClientNonInvite<B>),
    /// An INVITE we received.
    ServerInvite(ServerInvite<B>),
    /// A non-INVITE request we received.
    ServerNonInvite(ServerNonInvite<B>),
}

macro_rules! each {
    ($self:expr, $t:ident => $body:expr) => {
        match $self {
            Transaction::ClientInvite($t) => $body,
            Transaction::ClientNonInvite($t) => $body,
            Transaction::ServerInvite($t) => $body,
            Transaction::ServerNonInvite($t) => $body,
        }
    };
}

impl<B: AsRef<[u8]>> Transaction<B> {
    /// `true` once the machine is Terminated.
    pub fn is_terminated(&self) -> bool {
        each!(self, t => t.is_terminated())
    }

    /// The machine's next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        each!(self, t => t.poll_timeout())
    }

    /// Fires the machine's due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        each!(self, t => t.handle_timeout(now))
    }

    /// Reports a transport error to the machine.
    pub fn handle_transport_error(&mut self, now: Instant) {
        each!(self, t => t.handle_transport_error(now))
    }

    /// The machine's next output.
    pub fn poll_output(&mut self) -> Option<Output<'_>> {
        each!(self, t => t.poll_output())
    }

    fn has_output(&self) -> bool {
        each!(self, t => t.has_output())
    }
}

/// Why a transaction could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TableError {
    /// The table holds its capacity of transactions already.
    Full,
    /// A transaction with this key exists (the request is a retransmission: dispatch it instead).
    DuplicateKey,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Full => f.write_str(
                "the transaction table is full; answer 503 to new requests or retry once transactions end",
            ),
            TableError::DuplicateKey => {
                f.write_str("a transaction with this key already exists; the message is a retransmission")
            }
        }
    }
}

/// Why an input could not be delivered to a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DispatchError {
    /// No transaction has this key: a stray response (pass it to the core, §18.1.2) or a new request.
    NoMatch,
    /// The transaction with this key cannot take this input (a response to a server transaction, an
    /// ACK to a non-INVITE one).
    WrongKind,
    /// The server transaction refused the response.
    Send(SendError),
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::NoMatch => {
                f.write_str("no transaction matches; treat a response as stray and a request as new")
            }
            DispatchError::WrongKind => {
                f.write_str("the matching transaction cannot take this kind of message; check the key's role")
            }
            DispatchError::Send(e) => e.fmt(f),
        }
    }
}

/// Up to `N` transactions holding their bytes in `B`.
#[derive(Debug)]
pub struct TransactionTable<B, const N: usize = DEFAULT_TABLE_CAPACITY> {
    entries: Vec<(TransactionKey, Transaction<B>), N>,
}

impl<B: AsRef<[u8]>, const N: usize> Default for TransactionTable<B, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: AsRef<[u8]>, const N: usize> TransactionTable<B, N> {
    /// An empty table.
    pub const fn new() -> Self {
        TransactionTable { entries: Vec::new() }
    }

    /// How many transactions are held (terminated ones included until drained).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no transaction is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Adds a transaction under `key` at `now` (firing every timer already due first).
    pub fn insert(
        &mut self,
        now: Instant,
        key: TransactionKey,
        transaction: Transaction<B>,
    ) -> Result<(), TableError> {
        self.handle_timeout(now);
        if self.position(&key).is_some() {
            return Err(TableError::DuplicateKey);
        }
        self.entries
            .push((key, transaction))
            .map_err(|_| TableError::Full)
    }

    /// The transaction with `key`.
    pub fn get(&self, key: &TransactionKey) -> Option<&Transaction<B>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, t)| t)
    }

    /// The transaction with `key`, mutably.
    pub fn get_mut(&mut self, key: &TransactionKey) -> Option<&mut Transaction<B>> {
        self.entries.iter_mut().find(|(k, _)| k == key).map(|(_, t)| t)
    }

    /// Removes and returns the transaction with `key`; its timers and pending outputs go with it.
    pub fn remove(&mut self, key: &TransactionKey) -> Option<Transaction<B>> {
        let index = self.position(key)?;
        Some(self.entries.swap_remove(index).1)
    }

    /// Delivers a response with `status_code` to the client transaction `key`.
    pub fn handle_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        status_code: u16,
    ) -> Result<(), DispatchError> {
        self.handle_timeout(now);
        match self.get_mut(key).ok_or(DispatchError::NoMatch)? {
            Transaction::ClientInvite(t) => t.handle_response(now, status_code),
            Transaction::ClientNonInvite(t) => t.handle_response(now, status_code),
            _ => return Err(DispatchError::WrongKind),
        }
        Ok(())
    }

    /// Delivers a retransmitted request or an ACK to the server transaction `key`.
    pub fn handle_request(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: ServerRequest,
    ) -> Result<(), DispatchError> {
        self.handle_timeout(now);
        match (self.get_mut(key).ok_or(DispatchError::NoMatch)?, request) {
            (Transaction::ServerInvite(t), request) => t.handle_request(now, request),
            (Transaction::ServerNonInvite(t), ServerRequest::Retransmission) => t.handle_request(now),
            _ => return Err(DispatchError::WrongKind),
        }
        Ok(())
    }

    /// Hands the TU's response to the server transaction `key`.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        status_code: u16,
        response: B,
    ) -> Result<(), DispatchError> {
        self.handle_timeout(now);
        let result = match self.get_mut(key).ok_or(DispatchError::NoMatch)? {
            Transaction::ServerInvite(t) => t.send_response(now, status_code, response),
            Transaction::ServerNonInvite(t) => t.send_response(now, status_code, response),
            _ => return Err(DispatchError::WrongKind),
        };
        result.map_err(DispatchError::Send)
    }

    /// Reports a transport error to the transaction `key`.
    pub fn handle_transport_error(
        &mut self,
        now: Instant,
        key: &TransactionKey,
    ) -> Result<(), DispatchError> {
        self.handle_timeout(now);
        self.get_mut(key)
            .ok_or(DispatchError::NoMatch)?
            .handle_transport_error(now);
        Ok(())
    }

    /// Fires every due timer of every transaction.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (_, transaction) in self.entries.iter_mut() {
            transaction.handle_timeout(now);
        }
    }

    /// The earliest deadline of all transactions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.iter().filter_map(|(_, t)| t.poll_timeout()).min()
    }

    /// The next output of any transaction, with its key. Returns `None` once every transaction is
    /// drained, and that call removes the terminated transactions.
    pub fn poll_output(&mut self) -> Option<(&TransactionKey, Output<'_>)> {
        match self.entries.iter().position(|(_, t)| t.has_output()) {
            Some(index) => {
                let (key, transaction) = self.entries.get_mut(index)?;
                let output = transaction.poll_output()?;
                Some((&*key, output))
            }
            None => {
                self.entries.retain(|(_, t)| !t.is_terminated());
                None
            }
        }
    }

    fn position(&self, key: &TransactionKey) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }
}
