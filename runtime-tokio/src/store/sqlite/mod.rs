//! The embedded default [`Store`]: one SQLite file, `<data dir>/simple-im.db`.
//!
//! ## Why SQLite
//!
//! It is one file an operator can back up and inspect with the `sqlite3` shell, it has decades of
//! crash-safety testing behind its journal, and several processes may open it at once, which is how
//! `simple-im user add` changes accounts under a running server without any IPC: the server reads
//! accounts at lookup time, so it sees a new user as soon as the CLI's transaction commits.
//! (redb would be a pure-Rust alternative, but is single-process and has no shell.)
//!
//! ## Durability: WAL with `synchronous = FULL`
//!
//! The promise is that a MESSAGE answered with a 2xx is never dropped, "even across a crash", and a
//! crash includes the machine losing power, not only the server process dying. In WAL mode,
//! `synchronous = NORMAL` syncs the log only at checkpoints: a committed transaction survives the
//! process being killed (the data is in the OS page cache) but the last transactions before a power
//! cut can be lost, which would break the promise for messages already acknowledged. `FULL` syncs the
//! log at every commit, so a commit that returned is on stable storage. The cost, one fsync per
//! commit, is paid per batch rather than per message thanks to the writer's group commit
//! ([`writer`]), so it does not limit throughput under load.
//!
//! ## Write volume: small pages, one random index, checkpoints off the ack path
//!
//! A WAL commit appends a full copy of every page the transaction changed, so what limits durable
//! throughput is pages written per message, not SQL. Appending rows is sequential and cheap; what is
//! not is an index keyed by recipient, where a batch of messages to many recipients changes about one
//! page per recipient. Hence: the queue has a single such index with 2-integer entries (see the
//! schema), pages are 1 KiB instead of 4 KiB (a quarter of the bytes per changed index page; a
//! typical pager body still fits one page), and the WAL is checkpointed by its own thread
//! ([`checkpoint`]) so copying pages back into the database file never delays an acknowledgement.
//!
//! ## Threads
//!
//! Writes go to the single writer thread (see [`writer`]); callers await their batch's commit. Reads
//! run on Tokio's blocking pool with connections from a small pool: WAL lets them proceed while the
//! writer commits, and each sees the last committed state. The checkpointer is the third thread.
//! Accounts and policies, read for every MESSAGE, are answered from memory while nothing was
//! committed since they were read (the writer's own commit counter, and SQLite's change counter for
//! other processes, see [`cache`]), so a relayed MESSAGE costs no thread hop.

mod accounts;
mod cache;
mod checkpoint;
mod groups;
mod imdn_routes;
mod peer_outbox;
mod queue;
mod schema;
mod session_queue;
mod sql;
mod writer;

pub use schema::SCHEMA_VERSION;

use super::{
    DeferredId, DeferredMessage, Enqueued, Group, ImdnRoute, NewDeferred, NewPeerMessage, NewUser,
    PeerMessage, PeerMessageId, Quota, Store, StoreError, StoreFuture, UnixMillis, User, UserPolicy,
};
use cache::ReadCache;
use checkpoint::Checkpointer;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use writer::Writer;

/// The database file's name inside the data directory.
pub const DB_FILE_NAME: &str = "simple-im.db";

/// How long a connection waits for another process's write lock (e.g. the CLI adding a user while
/// the server commits a batch) before reporting the database as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reader connections kept open between reads; more are opened on demand under bursts.
const IDLE_READERS: usize = 8;

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<ReaderPool>,
    /// Accounts and policies, read on every relayed MESSAGE.
    cache: Arc<ReadCache>,
    /// Declared after `writer` so that it stops after the writer's last commit.
    _checkpointer: Checkpointer,
}

impl SqliteStore {
    /// How late, at most, a running store sees an account's removal or a policy change committed by
    /// another process (an account *added* by another process is seen at once); its own writes are
    /// seen at once.
    pub const OUTSIDE_CHANGES_SEEN_WITHIN: Duration = cache::POLL_INTERVAL;

    /// Opens (creating if needed) the store in `data_dir`, creating the directory too, and brings the
    /// schema up to date. Works inside and outside a Tokio runtime alike (it does not use one), but
    /// blocks while it opens the file and migrates.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Open(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE_NAME);
        let mut conn = open_connection(&path)?;
        // Only effective when the file is created (a WAL database keeps its page size).
        conn.execute_batch("PRAGMA page_size = 1024")?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open(format!(
                "{} cannot use write-ahead logging (journal mode stays '{mode}'); is it on a network file system?",
                path.display()
            )));
        }
        // The writer never checkpoints: the checkpointer does. (A larger page cache than SQLite's 2 MiB
        // default measured no faster: every commit then spends longer sweeping the cache.)
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0")?;
        schema::migrate(&mut conn)?;
        let checkpointer = Checkpointer::spawn(open_connection(&path)?)
            .map_err(|e| StoreError::Open(format!("cannot start the store's checkpoint thread: {e}")))?;
        let commits = cache::Generation::default();
        let writer = Writer::spawn(conn, commits.clone())?;
        let readers = Arc::new(ReaderPool {
            path: path.clone(),
            idle: Mutex::new(Vec::new()),
        });
        let cache = Arc::new(ReadCache::new(open_connection(&path)?, commits));
        Ok(SqliteStore {
            path,
            writer,
            readers,
            cache,
            _checkpointer: checkpointer,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `op` for the writer at once, not when the future is first polled: dropping the future
    /// does not cancel the write, it only gives up on learning its outcome.
    fn write<T, F>(&self, op: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let answer = self.writer.submit(op);
        Box::pin(async move { answer.await.unwrap_or(Err(StoreError::Closed)) })
    }

    fn read<T, F>(&self, op: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        Box::pin(blocking(move || readers.with(op)))
    }
}

/// Runs a read on Tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(op)
        .await
        .unwrap_or_else(|e| Err(StoreError::Database(format!("a read was aborted: {e}"))))
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Open(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Room for every statement the store prepares, so none is ever re-parsed on the hot path.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn with<T>(&self, op: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path)?,
        };
        let result = op(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }
}

impl Store for SqliteStore {
    fn add_user(&self, user: NewUser) -> StoreFuture<'_, ()> {
        self.write(move |conn| accounts::add_user(conn, &user))
    }

    fn remove_user(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_owned();
        self.write(move |conn| accounts::remove_user(conn, &name))
    }

    fn user(&self, name: &str) -> StoreFuture<'_, Option<User>> {
        let cached = self.cache.cached_user(name);
        let cache = Arc::clone(&self.cache);
        let name = name.to_owned();
        Box::pin(async move {
            match cached {
                Ok(Some(hit)) => Ok(hit),
                _ => blocking(move || cache.user(&name)).await,
            }
        })
    }

    fn users_by_display_name(&self, display_name: &str) -> StoreFuture<'_, Vec<User>> {
        let display_name = display_name.to_owned();
        self.read(move |conn| accounts::users_by_display_name(conn, &display_name))
    }

    fn users(&self) -> StoreFuture<'_, Vec<User>> {
        self.read(accounts::users)
    }

    fn policy(&self, user: &str) -> StoreFuture<'_, UserPolicy> {
        let cached = self.cache.cached_policy(user);
        let cache = Arc::clone(&self.cache);
        let user = user.to_owned();
        Box::pin(async move {
            match cached {
                Ok(Some(hit)) => Ok(hit),
                _ => blocking(move || cache.policy(&user)).await,
            }
        })
    }

    fn set_policy(&self, user: &str, policy: UserPolicy) -> StoreFuture<'_, ()> {
        let user = user.to_owned();
        self.write(move |conn| accounts::set_policy(conn, &user, &policy))
    }

    fn enqueue(&self, message: NewDeferred, quota: Quota) -> StoreFuture<'_, Enqueued> {
        self.write(move |conn| queue::enqueue(conn, &message, quota))
    }

    fn pending(&self, recipient: &str, limit: usize) -> StoreFuture<'_, Vec<DeferredMessage>> {
        let recipient = recipient.to_owned();
        self.read(move |conn| queue::pending(conn, &recipient, limit))
    }

    fn delivered(&self, id: DeferredId) -> StoreFuture<'_, bool> {
        self.write(move |conn| queue::delivered(conn, id))
    }

    fn expire(&self, now: UnixMillis, limit: usize) -> StoreFuture<'_, Vec<DeferredMessage>> {
        self.write(move |conn| queue::expire(conn, now, limit))
    }

    fn enqueue_session(&self, message: NewDeferred, quota: Quota) -> StoreFuture<'_, Enqueued> {
        self.write(move |conn| session_queue::enqueue(conn, &message, None, quota))
    }

    fn stage_session_part(&self, upload: &str, offset: u64, bytes: Vec<u8>) -> StoreFuture<'_, ()> {
        let upload = upload.to_owned();
        self.write(move |conn| session_queue::stage(conn, &upload, offset, &bytes, UnixMillis::now()))
    }

    fn enqueue_session_staged(
        &self,
        message: NewDeferred,
        upload: &str,
        total: u64,
        quota: Quota,
    ) -> StoreFuture<'_, Enqueued> {
        let upload = upload.to_owned();
        self.write(move |conn| session_queue::enqueue(conn, &message, Some((&upload, total)), quota))
    }

    fn session_body(&self, id: DeferredId, offset: u64, max: usize) -> StoreFuture<'_, (Vec<u8>, u64)> {
        self.read(move |conn| session_queue::body(conn, id, offset, max))
    }

    fn pending_session(&self, recipient: &str, limit: usize) -> StoreFuture<'_, Vec<DeferredMessage>> {
        let recipient = recipient.to_owned();
        self.read(move |conn| session_queue::pending(conn, &recipient, limit))
    }

    fn session_delivered(&self, id: DeferredId, now: UnixMillis) -> StoreFuture<'_, bool> {
        self.write(move |conn| session_queue::delivered(conn, id, now))
    }

    fn expire_session(&self, now: UnixMillis, limit: usize) -> StoreFuture<'_, Vec<DeferredMessage>> {
        self.write(move |conn| session_queue::expire(conn, now, limit))
    }

    fn add_group(&self, group: Group) -> StoreFuture<'_, ()> {
        self.write(move |conn| groups::add_group(conn, &group))
    }

    fn remove_group(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_owned();
        self.write(move |conn| groups::remove_group(conn, &name))
    }

    fn group(&self, name: &str) -> StoreFuture<'_, Option<Group>> {
        let name = name.to_owned();
        self.read(move |conn| groups::group(conn, &name))
    }

    fn groups(&self) -> StoreFuture<'_, Vec<Group>> {
        self.read(groups::groups)
    }

    fn add_group_member(&self, group: &str, member: &str) -> StoreFuture<'_, bool> {
        let (group, member) = (group.to_owned(), member.to_owned());
        self.write(move |conn| groups::add_member(conn, &group, &member))
    }

    fn remove_group_member(&self, group: &str, member: &str) -> StoreFuture<'_, bool> {
        let (group, member) = (group.to_owned(), member.to_owned());
        self.write(move |conn| groups::remove_member(conn, &group, &member))
    }

    fn remember_imdn_route(&self, route: ImdnRoute, now: UnixMillis) -> StoreFuture<'_, ()> {
        self.write(move |conn| imdn_routes::remember(conn, &route, now))
    }

    fn imdn_route(
        &self,
        route: &str,
        message_id: &str,
        now: UnixMillis,
    ) -> StoreFuture<'_, Option<(String, UnixMillis)>> {
        let (route, message_id) = (route.to_owned(), message_id.to_owned());
        self.read(move |conn| imdn_routes::lookup(conn, &route, &message_id, now))
    }

    fn forget_imdn_route(&self, route: &str, message_id: &str) -> StoreFuture<'_, ()> {
        let (route, message_id) = (route.to_owned(), message_id.to_owned());
        self.write(move |conn| imdn_routes::forget(conn, &route, &message_id))
    }

    fn queue_peer_message(&self, message: NewPeerMessage) -> StoreFuture<'_, bool> {
        self.write(move |conn| peer_outbox::add(conn, &message))
    }

    fn peer_message_heads(&self) -> StoreFuture<'_, Vec<PeerMessage>> {
        self.read(peer_outbox::heads)
    }

    fn peer_message_done(&self, id: PeerMessageId) -> StoreFuture<'_, bool> {
        self.write(move |conn| peer_outbox::remove(conn, id))
    }

    fn peer_message_retry(&self, id: PeerMessageId, attempts: u32, next: UnixMillis) -> StoreFuture<'_, ()> {
        self.write(move |conn| peer_outbox::retry_later(conn, id, attempts, next))
    }
}
