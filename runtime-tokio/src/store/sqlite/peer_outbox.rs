//! The outbound queue of server-originated MESSAGEs to `[[peers]]` domains, as synchronous functions
//! over one connection: a row per message until the peer takes it, sent in id order per domain.

use super::sql::{from_sql_ms, to_sql_ms};
use crate::store::{NewPeerMessage, PeerMessage, PeerMessageId, StoreError, UnixMillis};
use rusqlite::{params, Connection, Row};

const COLUMNS: &str = "id, domain, destination, from_uri, message_id, dedupe_key, content_type, body, \
                       queued_ms, expires_ms, attempts, next_attempt_ms";

/// Queues `message` due at once; `false` when the same `(destination, dedupe_key)` is queued already
/// (a push repeated after a crash), which leaves that row as it was.
pub fn add(conn: &Connection, message: &NewPeerMessage) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO peer_outbox (domain, destination, from_uri, message_id, dedupe_key,
             content_type, body, queued_ms, expires_ms, attempts, next_attempt_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?8)",
        )?
        .execute(params![
            message.domain,
            message.destination,
            message.from_uri,
            message.message_id,
            message.dedupe_key,
            message.content_type,
            message.body,
            to_sql_ms(message.queued),
            to_sql_ms(message.expires),
        ])?;
    Ok(inserted == 1)
}

/// The oldest queued message of every domain.
pub fn heads(conn: &Connection) -> Result<Vec<PeerMessage>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM peer_outbox WHERE id IN (SELECT min(id) FROM peer_outbox GROUP BY domain)
         ORDER BY id"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Removes a message (taken by the peer, or given up); `false` when it was not queued.
pub fn remove(conn: &Connection, id: PeerMessageId) -> Result<bool, StoreError> {
    let removed = conn
        .prepare_cached("DELETE FROM peer_outbox WHERE id = ?1")?
        .execute([id.0])?;
    Ok(removed == 1)
}

/// Records a failed attempt: `attempts` made so far, the next not before `next`.
pub fn retry_later(
    conn: &Connection,
    id: PeerMessageId,
    attempts: u32,
    next: UnixMillis,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE peer_outbox SET attempts = ?2, next_attempt_ms = ?3 WHERE id = ?1")?
        .execute(params![id.0, attempts, to_sql_ms(next)])?;
    Ok(())
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<PeerMessage> {
    Ok(PeerMessage {
        id: PeerMessageId(row.get(0)?),
        message: NewPeerMessage {
            domain: row.get(1)?,
            destination: row.get(2)?,
            from_uri: row.get(3)?,
            message_id: row.get(4)?,
            dedupe_key: row.get(5)?,
            content_type: row.get(6)?,
            body: row.get(7)?,
            queued: from_sql_ms(row.get(8)?),
            expires: from_sql_ms(row.get(9)?),
        },
        attempts: row.get(10)?,
        next_attempt: from_sql_ms(row.get(11)?),
    })
}
