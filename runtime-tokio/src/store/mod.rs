//! The server's durable state behind one trait: user accounts, per-user policy, the Deferred
//! Messaging function's queue of stored pager messages, and the pre-defined groups of the Controlling
//! IM Function.
//!
//! Registrations are not here: they are soft state that clients refresh, kept in memory by the registrar.
//!
//! ## Why the trait is asynchronous (boxed futures) and object-safe
//!
//! The central promise of the Deferred Messaging function is that a MESSAGE acknowledged with a 2xx is
//! never lost. The server therefore acknowledges only after [`Store::enqueue`] returns, and `enqueue`
//! returns only after the message is on disk. Making that fast means group commit (many concurrent
//! enqueues share one transaction and one fsync), which means every caller waits a few milliseconds for
//! its batch. Waiting as an `async` task costs nothing; waiting on a blocking-pool thread (the
//! sync-trait-plus-`spawn_blocking` alternative) would spend one thread per in-flight message and cap
//! the number of messages in flight, hence the batch size, at the pool size. A networked database (the
//! multi-node deployment the trait exists for) is asynchronous by nature too. Methods return
//! [`StoreFuture`] (a boxed future) rather than using `async fn` so that `Arc<dyn Store>` works: the
//! server picks the backend at start-up from its configuration.
//!
//! ## Time
//!
//! As in the core, time is an input: every operation that depends on the clock takes [`UnixMillis`]
//! from the caller, so tests control expiry exactly.
//!
//! ## The deferred queue's contract
//!
//! - `enqueue` is durable before it returns `Ok`, enforces the recipient's [`Quota`] atomically (two
//!   concurrent enqueues cannot both squeeze under it), and stores a message once per
//!   `(recipient, sender, message_id)`: a sender re-sending after a crash, or after the message was
//!   already delivered, gets [`Enqueued::Duplicate`] with the original id, and should be answered 2xx
//!   again. (The same message id to two recipients is two messages, as when one CPIM message is sent
//!   to several users.)
//! - `pending` lists a recipient's messages oldest first (the order they were accepted).
//! - `delivered` removes a message; call it only after the recipient's 2xx. It keeps a tombstone of the
//!   message's identity until the message's own expiry, so a late duplicate is still recognised.
//! - `expire` removes what is past its expiry and returns it, for charging records and notices.
//! - Bodies are opaque bytes, stored and returned exactly as received.
//!
//! ## The peer outbox
//!
//! MESSAGEs the server itself originates toward `[[peers]]` domains (delivery notifications) wait in
//! a queue of their own until the peer takes them (`server::peer_outbox` sends and retries): queued
//! durably before the first attempt, once per `(destination, dedupe_key)`, read back as each domain's
//! oldest row so a domain's messages go in order, and removed only by the sender.

mod sqlite;
mod types;

pub use sqlite::{SqliteStore, DB_FILE_NAME, SCHEMA_VERSION};
pub use types::{
    Credentials, DeferredId, DeferredMessage, Enqueued, Group, ImdnRoute, InvitePolicy, NewDeferred,
    NewPeerMessage, NewUser, PeerMessage, PeerMessageId, Quota, QuotaLimit, StoreError, UnixMillis, User,
    UserPolicy,
};

use std::future::Future;
use std::pin::Pin;

/// What every [`Store`] method returns: a boxed future, so the trait stays object-safe.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The durable state of the IM server. See the module docs for the contract of each group.
pub trait Store: Send + Sync {
    /// Creates an account; fails with [`StoreError::UserExists`] when the name is taken.
    fn add_user(&self, user: NewUser) -> StoreFuture<'_, ()>;
    /// Deletes an account, its policy and its pending deferred messages; fails with
    /// [`StoreError::NoSuchUser`] when there is no such account.
    fn remove_user(&self, name: &str) -> StoreFuture<'_, ()>;
    /// The account with this user name (the user part of the AoR), as last committed at call time
    /// (possibly from a cache that any commit invalidates), so an account added by
    /// `simple-im user add` while the server runs is visible at once.
    fn user(&self, name: &str) -> StoreFuture<'_, Option<User>>;
    /// Accounts whose display name equals `display_name` exactly (pager mode addressing by name).
    fn users_by_display_name(&self, display_name: &str) -> StoreFuture<'_, Vec<User>>;
    /// All accounts, ordered by name.
    fn users(&self) -> StoreFuture<'_, Vec<User>>;

    /// The user's Participating-function policy; the default (nothing blocked, nothing barred) when
    /// none was ever set.
    fn policy(&self, user: &str) -> StoreFuture<'_, UserPolicy>;
    /// Replaces the user's whole policy; fails with [`StoreError::NoSuchUser`] for an unknown user.
    fn set_policy(&self, user: &str, policy: UserPolicy) -> StoreFuture<'_, ()>;

    /// Stores a message for later delivery, durably, before returning. See the module docs.
    fn enqueue(&self, message: NewDeferred, quota: Quota) -> StoreFuture<'_, Enqueued>;
    /// The recipient's pending messages, oldest first, at most `limit` of them.
    fn pending(&self, recipient: &str, limit: usize) -> StoreFuture<'_, Vec<DeferredMessage>>;
    /// Removes a delivered (or discarded) message. Returns `false` when it was not pending (already
    /// removed or expired), which a caller racing an expiry must tolerate.
    fn delivered(&self, id: DeferredId) -> StoreFuture<'_, bool>;
    /// Removes and returns up to `limit` messages whose expiry is at or before `now`, oldest expiry
    /// first, and forgets the dedupe tombstones that have expired.
    fn expire(&self, now: UnixMillis, limit: usize) -> StoreFuture<'_, Vec<DeferredMessage>>;

    /// Stores a session-mode message (an MSRP SEND accepted for an offline user) durably before
    /// returning, in a queue of its own with the same dedupe and quota rules as [`Store::enqueue`].
    /// Its ids name messages of this queue only: pass them to [`Store::session_delivered`].
    fn enqueue_session(&self, message: NewDeferred, quota: Quota) -> StoreFuture<'_, Enqueued>;
    /// The recipient's pending session-mode messages, oldest first, at most `limit` of them.
    fn pending_session(&self, recipient: &str, limit: usize) -> StoreFuture<'_, Vec<DeferredMessage>>;
    /// Marks a session-mode message delivered (its body is dropped, its identity kept until its expiry
    /// for dedupe); `false` when it was not pending.
    fn session_delivered(&self, id: DeferredId, now: UnixMillis) -> StoreFuture<'_, bool>;
    /// Removes and returns up to `limit` pending session-mode messages past their expiry, and forgets
    /// delivered ones past theirs.
    fn expire_session(&self, now: UnixMillis, limit: usize) -> StoreFuture<'_, Vec<DeferredMessage>>;
    /// Writes bytes of a large session-mode message while it is still arriving: `bytes` at the
    /// 0-based `offset` of the whole message, under the caller's `upload` key (unique per message in
    /// flight). Durable before returning, but part of no message until [`Store::enqueue_session_staged`]
    /// adopts it; parts never adopted are collected by [`Store::expire_session`] after an hour.
    fn stage_session_part(&self, upload: &str, offset: u64, bytes: Vec<u8>) -> StoreFuture<'_, ()>;
    /// [`Store::enqueue_session`] for a message whose body holds only its first bytes, the rest
    /// having been staged under `upload`; `total` is the whole message's size (what the quota counts).
    /// A duplicate or a refusal discards the staged parts.
    fn enqueue_session_staged(
        &self,
        message: NewDeferred,
        upload: &str,
        total: u64,
        quota: Quota,
    ) -> StoreFuture<'_, Enqueued>;
    /// Up to `max` bytes of a pending session-mode message from the 0-based `offset` on, and its
    /// total size (0 when it is no longer pending).
    fn session_body(&self, id: DeferredId, offset: u64, max: usize) -> StoreFuture<'_, (Vec<u8>, u64)>;

    /// Creates a pre-defined group (with the members it lists); fails with [`StoreError::GroupExists`]
    /// when the name is a group or an account already, [`StoreError::NoSuchUser`] for an unknown owner.
    fn add_group(&self, group: Group) -> StoreFuture<'_, ()>;
    /// Deletes a group; fails with [`StoreError::NoSuchGroup`] when there is none.
    fn remove_group(&self, name: &str) -> StoreFuture<'_, ()>;
    /// The group with this name as last committed (not cached: a change by `simple-im group` is seen
    /// by the next lookup).
    fn group(&self, name: &str) -> StoreFuture<'_, Option<Group>>;
    /// All groups, ordered by name.
    fn groups(&self) -> StoreFuture<'_, Vec<Group>>;
    /// Adds a member (a user or group name) atomically against the maximum; `Ok(false)` when it was a
    /// member already. Fails with [`StoreError::GroupFull`] or [`StoreError::NoSuchGroup`].
    fn add_group_member(&self, group: &str, member: &str) -> StoreFuture<'_, bool>;
    /// Removes a member; `Ok(false)` when it was not a member. Fails with [`StoreError::NoSuchGroup`].
    fn remove_group_member(&self, group: &str, member: &str) -> StoreFuture<'_, bool>;

    /// Remembers (or replaces) how notifications about a group or list message are routed, durably
    /// before returning; forgets rows expired at `now`, and the soonest-expiring rows beyond a
    /// bound of 20,480.
    fn remember_imdn_route(&self, route: ImdnRoute, now: UnixMillis) -> StoreFuture<'_, ()>;
    /// The value remembered for `(route, message_id)` and its expiry, unless expired at `now`.
    fn imdn_route(
        &self,
        route: &str,
        message_id: &str,
        now: UnixMillis,
    ) -> StoreFuture<'_, Option<(String, UnixMillis)>>;
    /// Forgets the route of one message.
    fn forget_imdn_route(&self, route: &str, message_id: &str) -> StoreFuture<'_, ()>;

    /// Queues a MESSAGE the server originates toward a `[[peers]]` domain, durably before returning,
    /// due at once; `Ok(false)` when the same `(destination, dedupe_key)` is queued already.
    fn queue_peer_message(&self, message: NewPeerMessage) -> StoreFuture<'_, bool>;
    /// The oldest queued peer message of every domain (each domain's queue is sent in order).
    fn peer_message_heads(&self) -> StoreFuture<'_, Vec<PeerMessage>>;
    /// Removes a queued peer message: its peer took it, or it was given up. `false` when not queued.
    fn peer_message_done(&self, id: PeerMessageId) -> StoreFuture<'_, bool>;
    /// Records a failed attempt on a queued peer message: `attempts` so far, the next not before `next`.
    fn peer_message_retry(&self, id: PeerMessageId, attempts: u32, next: UnixMillis) -> StoreFuture<'_, ()>;
}
