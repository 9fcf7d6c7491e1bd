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

    -- One row per recipient that ever had a deferred message: a small integer key for the queue's
    -- index, and the pending counts the quota check reads (kept by the triggers below).
    CREATE TABLE mailboxes (
        id INTEGER PRIMARY KEY,
        recipient TEXT NOT NULL UNIQUE,
        messages INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    );

    -- The queue. Rows are appended in acceptance order; AUTOINCREMENT keeps ids from ever being
    -- reused, so an id handed to a caller never names another message.
    --
    -- The only index written at random positions is (mailbox, dedupe_hash), and it is kept small
    -- (two integers per entry) on purpose: under load each committed batch rewrites roughly one page
    -- of it per distinct recipient, and those pages are what the WAL has to write and fsync. It
    -- serves both pending-per-recipient lookups and duplicate detection; dedupe_hash narrows the
    -- search and the exact sender and message_id columns decide (a hash collision is harmless).
    CREATE TABLE deferred (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mailbox INTEGER NOT NULL,
        dedupe_hash INTEGER NOT NULL,
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
    CREATE INDEX deferred_by_mailbox ON deferred(mailbox, dedupe_hash);
    -- Appended in (nearly) increasing order when the expiry period is constant: cheap to maintain.
    CREATE INDEX deferred_by_expiry ON deferred(expires_ms);

    -- Delivered messages' identities, kept until the message would have expired, so a sender's late
    -- re-send of a message already delivered is recognised as a duplicate.
    CREATE TABLE delivered_tombstones (
        mailbox INTEGER NOT NULL,
        dedupe_hash INTEGER NOT NULL,
        id INTEGER NOT NULL,
        sender TEXT NOT NULL,
        message_id TEXT NOT NULL,
        until_ms INTEGER NOT NULL,
        PRIMARY KEY (mailbox, dedupe_hash, id)
    ) WITHOUT ROWID;
    CREATE INDEX tombstones_by_expiry ON delivered_tombstones(until_ms);

    CREATE TRIGGER deferred_usage_insert AFTER INSERT ON deferred BEGIN
        UPDATE mailboxes SET messages = messages + 1, bytes = bytes + NEW.size WHERE id = NEW.mailbox;
    END;
    CREATE TRIGGER deferred_usage_delete AFTER DELETE ON deferred BEGIN
        UPDATE mailboxes SET messages = messages - 1, bytes = bytes - OLD.size WHERE id = OLD.mailbox;
    END;
    "#,
    // Version 2: session-mode messages stored by the Deferred Messaging function (MSRP SENDs to an
    // offline user), kept apart from the pager queue so the pager push never sees them, with the
    // parts of large ones. A delivered
    // message keeps its row (body emptied, `delivered_ms` set) until its expiry, so a re-sent copy is
    // still recognised as a duplicate by the UNIQUE constraint.
    r#"
    CREATE TABLE session_messages (
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
        expires_ms INTEGER NOT NULL,
        delivered_ms INTEGER,
        UNIQUE (recipient, sender, message_id)
    );
    CREATE INDEX session_messages_pending ON session_messages(recipient, delivered_ms, id);
        CREATE INDEX session_messages_by_expiry ON session_messages(expires_ms);

    -- The bytes of a large session-mode message beyond those kept in its row's `body`, written as
    -- they arrive (so the server never holds a whole large message), under the upload's key until the
    -- message is committed, which sets `message`. Offsets are 0-based within the whole message.
    CREATE TABLE session_parts (
        upload TEXT NOT NULL,
        offset INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        message INTEGER,
        staged_ms INTEGER NOT NULL,
        PRIMARY KEY (upload, offset)
    ) WITHOUT ROWID;
    CREATE INDEX session_parts_by_message ON session_parts(message, offset);
    "#,
    // Version 3: pre-defined groups of the Controlling IM Function and their members.
    r#"
    CREATE TABLE groups (
        name TEXT PRIMARY KEY NOT NULL,
        owner TEXT NOT NULL,
        private INTEGER NOT NULL,
        may_invite TEXT NOT NULL CHECK (may_invite IN ('owner', 'members')),
        max_participants INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    -- `position` keeps the order members were added (fan-out order).
    CREATE TABLE group_members (
        group_name TEXT NOT NULL,
        position INTEGER NOT NULL,
        member TEXT NOT NULL,
        PRIMARY KEY (group_name, position),
        UNIQUE (group_name, member)
    ) WITHOUT ROWID;
    "#,
    // Version 4: the Controlling function's routing memory for notifications (group messages'
    // senders, tracked URI lists), so that it survives a restart. A rowid table: the bound evicts by
    // expiry through the index.
    r#"
    CREATE TABLE imdn_routes (
        route TEXT NOT NULL,
        message_id TEXT NOT NULL,
        value TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        UNIQUE (route, message_id)
    );
    CREATE INDEX imdn_routes_by_expiry ON imdn_routes(expires_ms);
    "#,
    // Version 5: the outbound queue of MESSAGEs the server originates toward users of `[[peers]]`
    // domains (delivery notifications), kept until the peer's server answers 2xx or refuses for good.
    // Rows are sent in id order per domain; the index finds each domain's oldest row.
    r#"
    CREATE TABLE peer_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        domain TEXT NOT NULL,
        destination TEXT NOT NULL,
        from_uri TEXT NOT NULL,
        message_id TEXT NOT NULL,
        dedupe_key TEXT NOT NULL,
        content_type TEXT NOT NULL,
        body BLOB NOT NULL,
        queued_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        UNIQUE (destination, dedupe_key)
    );
    CREATE INDEX peer_outbox_by_domain ON peer_outbox(domain, id);
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
