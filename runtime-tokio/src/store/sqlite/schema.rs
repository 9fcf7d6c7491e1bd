//! Schema versioning: the `schema_version` table holds one row, the version of the schema in the file;
//! opening the store applies every migration after it, in order, each in its own transaction.
//!
//! Migrations are append-only: a released migration is never edited, a change is a new entry.

use crate::store::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// `MIGRATIONS[i]` takes the schema from version `i` to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // Version 1: accounts, policy, the deferred queue with its dedupe tombstones and quota counters.
    r#"
    CREATE TABLE users (
        name TEXT PRIMARY KEY NOT NULL,
        display_name TEXT NOT NULL,
        realm TEXT NOT NULL,
        ha1_md5 TEXT NOT NULL,
        ha1_sha256 TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX users_by_display_name ON users(display_name);

    CREATE TABLE policies (
        user TEXT PRIMARY KEY NOT NULL,
        incoming_barred INTEGER NOT NULL,
        store_pager_messages INTEGER NOT NULL
    ) WITHOUT ROWID;
    -- The block and grant lists; `position` keeps the order the user gave.
    CREATE TABLE policy_uris (
        user TEXT NOT NULL,
        list TEXT NOT NULL CHECK (list IN ('block', 'grant')),
        position INTEGER NOT NULL,
        uri TEXT NOT NULL,
        PRIMARY KEY (user, list, position)
    ) WITHOUT ROWID;

    -- AUTOINCREMENT: ids are never reused, so an id handed to a caller never names another message.
    CREATE TABLE deferred (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient TEXT NOT NULL,
        sender TEXT NOT NULL,
        message_id TEXT NOT NULL,
        content_type TEXT NOT NULL,
        date TEXT,
        cpim INTEGER NOT NULL,
        extra_headers TEXT NOT NULL,
        body BLOB NOT NULL,
        size INTEGER NOT NULL,
        submitted_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX deferred_dedupe ON deferred(sender, message_id);
    CREATE INDEX deferred_by_recipient ON deferred(recipient, id);
    CREATE INDEX deferred_by_expiry ON deferred(expires_ms, id);

    -- (sender, message_id) of delivered messages, kept until the message would have expired, so a
    -- sender's late re-send of a message already delivered is recognised as a duplicate.
    CREATE TABLE delivered_tombstones (
        sender TEXT NOT NULL,
        message_id TEXT NOT NULL,
        id INTEGER NOT NULL,
        until_ms INTEGER NOT NULL,
        PRIMARY KEY (sender, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX tombstones_by_expiry ON delivered_tombstones(until_ms);

    -- What each recipient has pending, maintained by triggers so the quota check is one lookup.
    CREATE TABLE mailbox_usage (
        recipient TEXT PRIMARY KEY NOT NULL,
        messages INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TRIGGER deferred_usage_insert AFTER INSERT ON deferred BEGIN
        INSERT INTO mailbox_usage (recipient, messages, bytes) VALUES (NEW.recipient, 1, NEW.size)
            ON CONFLICT (recipient) DO UPDATE SET messages = messages + 1, bytes = bytes + NEW.size;
    END;
    CREATE TRIGGER deferred_usage_delete AFTER DELETE ON deferred BEGIN
        UPDATE mailbox_usage SET messages = messages - 1, bytes = bytes - OLD.size
            WHERE recipient = OLD.recipient;
        DELETE FROM mailbox_usage WHERE recipient = OLD.recipient AND messages <= 0;
    END;
    "#,
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the file's schema up to [`SCHEMA_VERSION`]. Safe against another process opening the same
/// file at the same time: each step takes the write lock and re-reads the version under it.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx
            .query_row("SELECT version FROM schema_version", [], |row| row.get(0))
            .optional()?
            .unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let Some(step) = usize::try_from(found).ok().and_then(|i| MIGRATIONS.get(i)) else {
            return Ok(());
        };
        tx.execute_batch(step)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [found + 1])?;
        tx.commit()?;
    }
}
