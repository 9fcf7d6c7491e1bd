//! In-memory copies of accounts and policies, read on every relayed MESSAGE (the recipient's account
//! and policy), kept exact by SQLite's own change counter.
//!
//! ## Why a change counter and not a time-to-live
//!
//! `simple-im user add` (another process) changes accounts under a running server, and the server
//! must see the change at once. `PRAGMA data_version` on a connection changes whenever any *other*
//! connection (of this process or another) committed since it was last asked. Asking costs a read
//! transaction's set-up on the WAL index (shared-memory locks, about 5% of a relayed MESSAGE's CPU when
//! asked on every lookup), so the cache learns of changes two ways:
//!
//! | writer | how the cache learns | delay |
//! |---|---|---|
//! | this server's own writer thread | a generation counter the writer bumps after every commit, before it answers the caller | none: a PUBLISH's barring applies to the next MESSAGE |
//! | another process (the CLI) | `data_version`, asked at most once per [`POLL_INTERVAL`] | at most [`POLL_INTERVAL`] |
//! | another process, lookup of an account cached as absent | `data_version`, asked on every such lookup | none: a user added by the CLI can register at once |
//!
//! Any change empties the whole cache: coarse, but always right, and a relay-only load commits nothing.
//!
//! The check and the fill happen under the same lock, so an entry is only ever stored under the
//! version it was read at (reads go through the same watching connection, inside the lock).
//!
//! A hit ([`ReadCache::cached_user`], [`ReadCache::cached_policy`]) is answered on the caller's
//! thread; a miss ([`ReadCache::user`], [`ReadCache::policy`]) reads the database and is meant for
//! the blocking pool, like every other read of the store.

use crate::store::{StoreError, User, UserPolicy};
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries kept at most per map; past it the map is emptied (a crude bound, enough for a cache whose
/// hit rate matters only for the active users).
pub const MAX_ENTRIES: usize = 100_000;

/// How often, at most, another process's commits are looked for (`PRAGMA data_version`). Short
/// enough that an operator's `simple-im user remove` or `user policy` applies before anyone could
/// act on it, long enough that at 10,000 MESSAGE/s it is asked for one lookup in twenty.
pub const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// How many commits this process's own writer has made; bumped after each commit, before its
/// callers are answered.
#[derive(Clone, Debug, Default)]
pub struct Generation(Arc<AtomicU64>);

impl Generation {
    /// Records one more commit.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// The cached reads: one connection that both watches for changes and serves misses.
pub struct ReadCache {
    inner: Mutex<Inner>,
    local_commits: Generation,
}

/// Whether a lookup may trust a recent `data_version` answer or must ask again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Another process's commit may be seen up to [`POLL_INTERVAL`] late.
    Polled,
    /// Ask `data_version` now.
    Exact,
}

struct Inner {
    conn: Connection,
    version: i64,
    generation: u64,
    polled: Option<Instant>,
    users: HashMap<String, Option<User>>,
    policies: HashMap<String, UserPolicy>,
}

impl Inner {
    /// Empties the maps when our writer committed since they were filled, or when another
    /// connection did as far as `freshness` asks to know.
    fn refresh(&mut self, generation: u64, freshness: Freshness) -> Result<(), StoreError> {
        if generation != self.generation {
            self.clear();
            self.generation = generation;
        }
        let now = Instant::now();
        let due = freshness == Freshness::Exact
            || self
                .polled
                .is_none_or(|at| now.saturating_duration_since(at) >= POLL_INTERVAL);
        if !due {
            return Ok(());
        }
        let version: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        self.polled = Some(now);
        if version != self.version {
            self.clear();
            self.version = version;
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.users.clear();
        self.policies.clear();
    }
}

impl ReadCache {
    /// A cache reading through `conn` (its own connection: `data_version` is per connection), told
    /// of this process's commits by `local_commits`.
    pub fn new(conn: Connection, local_commits: Generation) -> ReadCache {
        ReadCache {
            local_commits,
            inner: Mutex::new(Inner {
                conn,
                version: i64::MIN,
                generation: 0,
                polled: None,
                users: HashMap::new(),
                policies: HashMap::new(),
            }),
        }
    }

    /// The account `name` as last committed when it is cached (`None`: not cached).
    pub fn cached_user(&self, name: &str) -> Result<Option<Option<User>>, StoreError> {
        let mut inner = self.lock(Freshness::Polled)?;
        if let Some(Some(user)) = inner.users.get(name) {
            return Ok(Some(Some(user.clone())));
        }
        // Absent, or cached as absent: an account just added by the CLI must be found.
        inner.refresh(self.local_commits.current(), Freshness::Exact)?;
        Ok(inner.users.get(name).cloned())
    }

    /// The policy of `user` as last committed when it is cached (`None`: not cached).
    pub fn cached_policy(&self, user: &str) -> Result<Option<UserPolicy>, StoreError> {
        let inner = self.lock(Freshness::Polled)?;
        Ok(inner.policies.get(user).cloned())
    }

    /// The account `name` as last committed, read from the database on a miss (may block).
    pub fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let mut inner = self.lock(Freshness::Exact)?;
        if let Some(found) = inner.users.get(name) {
            return Ok(found.clone());
        }
        let found = super::accounts::user(&inner.conn, name)?;
        if inner.users.len() >= MAX_ENTRIES {
            inner.users.clear();
        }
        inner.users.insert(name.to_owned(), found.clone());
        Ok(found)
    }

    /// The policy of `user` as last committed, read from the database on a miss (may block).
    pub fn policy(&self, user: &str) -> Result<UserPolicy, StoreError> {
        let mut inner = self.lock(Freshness::Exact)?;
        if let Some(found) = inner.policies.get(user) {
            return Ok(found.clone());
        }
        let found = super::accounts::policy(&inner.conn, user)?;
        if inner.policies.len() >= MAX_ENTRIES {
            inner.policies.clear();
        }
        inner.policies.insert(user.to_owned(), found.clone());
        Ok(found)
    }
}

impl ReadCache {
    /// The locked cache, emptied first if it may be out of date.
    fn lock(&self, freshness: Freshness) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        inner.refresh(self.local_commits.current(), freshness)?;
        Ok(inner)
    }
}

fn poisoned() -> StoreError {
    StoreError::Database("the read cache's lock was poisoned by a panic".to_owned())
}
