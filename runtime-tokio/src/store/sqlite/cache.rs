//! In-memory copies of accounts and policies, read on every relayed MESSAGE (the recipient's account
//! and policy), kept exact by SQLite's own change counter.
//!
//! ## Why a change counter and not a time-to-live
//!
//! `simple-im user add` (another process) changes accounts under a running server, and the server
//! must see the change at once. `PRAGMA data_version` on a connection changes whenever any *other*
//! connection (of this process or another) committed since it was last asked; asking costs a look at
//! the WAL index in shared memory, no disk read and no thread hop. So every cached read first asks one
//! dedicated connection, and when the answer differs from the one the cache was filled under, the
//! cache is emptied. Every commit (deferred messages too) empties it: coarse, but always right, and a
//! relay-only load commits nothing.
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
use std::sync::Mutex;

/// Entries kept at most per map; past it the map is emptied (a crude bound, enough for a cache whose
/// hit rate matters only for the active users).
pub const MAX_ENTRIES: usize = 100_000;

/// The cached reads: one connection that both watches for changes and serves misses.
pub struct ReadCache {
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Connection,
    version: i64,
    users: HashMap<String, Option<User>>,
    policies: HashMap<String, UserPolicy>,
}

impl Inner {
    /// Empties the maps when another connection committed since they were filled.
    fn refresh(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        if version != self.version {
            self.users.clear();
            self.policies.clear();
            self.version = version;
        }
        Ok(())
    }
}

impl ReadCache {
    /// A cache reading through `conn` (its own connection: `data_version` is per connection).
    pub fn new(conn: Connection) -> ReadCache {
        ReadCache {
            inner: Mutex::new(Inner {
                conn,
                version: i64::MIN,
                users: HashMap::new(),
                policies: HashMap::new(),
            }),
        }
    }

    /// The account `name` as last committed when it is cached (`None`: not cached).
    pub fn cached_user(&self, name: &str) -> Result<Option<Option<User>>, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        inner.refresh()?;
        Ok(inner.users.get(name).cloned())
    }

    /// The policy of `user` as last committed when it is cached (`None`: not cached).
    pub fn cached_policy(&self, user: &str) -> Result<Option<UserPolicy>, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        inner.refresh()?;
        Ok(inner.policies.get(user).cloned())
    }

    /// The account `name` as last committed, read from the database on a miss (may block).
    pub fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        inner.refresh()?;
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
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        inner.refresh()?;
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

fn poisoned() -> StoreError {
    StoreError::Database("the read cache's lock was poisoned by a panic".to_owned())
}
