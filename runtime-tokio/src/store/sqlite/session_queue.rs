//! The session-mode deferred queue (schema version 2, table `session_messages`): MSRP messages the
//! Deferred Messaging function accepted for an offline user. Same contract as the pager queue
//! ([`super::queue`]): durable before `Ok`, one copy per `(recipient, sender, message_id)` (delivered
//! rows stay, bodiless, as the tombstone until their expiry), pending oldest first, and the quota
//! counted over the pending rows.

use super::queue::{decode_headers, encode_headers};
use super::sql::{from_sql_ms, limit_to_sql, to_sql_count, to_sql_ms};
use crate::store::{
    DeferredId, DeferredMessage, Enqueued, NewDeferred, Quota, QuotaLimit, StoreError, UnixMillis,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

const COLUMNS: &str = "id, recipient, sender, message_id, content_type, date, cpim, extra_headers, body, \
                       submitted_ms, expires_ms";

fn from_row(row: &Row<'_>) -> rusqlite::Result<DeferredMessage> {
    let headers: String = row.get(7)?;
    Ok(DeferredMessage {
        id: DeferredId(row.get(0)?),
        message: NewDeferred {
            recipient: row.get(1)?,
            sender: row.get(2)?,
            message_id: row.get(3)?,
            content_type: row.get(4)?,
            date: row.get(5)?,
            cpim: row.get(6)?,
            extra_headers: decode_headers(&headers),
            body: row.get(8)?,
            submitted: from_sql_ms(row.get(9)?),
            expires: from_sql_ms(row.get(10)?),
        },
    })
}

pub fn enqueue(conn: &Connection, message: &NewDeferred, quota: Quota) -> Result<Enqueued, StoreError> {
    let earlier: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM session_messages WHERE recipient = ?1 AND sender = ?2 AND message_id = ?3",
        )?
        .query_row(
            params![message.recipient, message.sender, message.message_id],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = earlier {
        return Ok(Enqueued::Duplicate(DeferredId(id)));
    }
    let (messages, bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(size), 0) FROM session_messages
             WHERE recipient = ?1 AND delivered_ms IS NULL",
        )?
        .query_row([&message.recipient], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let size = to_sql_count(u64::try_from(message.body.len()).unwrap_or(u64::MAX));
    let limit = if messages >= to_sql_count(quota.max_messages) {
        Some(QuotaLimit::Messages(quota.max_messages))
    } else if bytes.saturating_add(size) > to_sql_count(quota.max_bytes) {
        Some(QuotaLimit::Bytes(quota.max_bytes))
    } else {
        None
    };
    if let Some(limit) = limit {
        return Err(StoreError::QuotaExceeded {
            recipient: message.recipient.clone(),
            limit,
        });
    }
    conn.prepare_cached(
        "INSERT INTO session_messages (recipient, sender, message_id, content_type, date, cpim, extra_headers,
                                       body, size, submitted_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        message.recipient,
        message.sender,
        message.message_id,
        message.content_type,
        message.date,
        message.cpim,
        encode_headers(&message.extra_headers),
        message.body,
        size,
        to_sql_ms(message.submitted),
        to_sql_ms(message.expires),
    ])?;
    Ok(Enqueued::Stored(DeferredId(conn.last_insert_rowid())))
}

pub fn pending(conn: &Connection, recipient: &str, limit: usize) -> Result<Vec<DeferredMessage>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM session_messages WHERE recipient = ?1 AND delivered_ms IS NULL
         ORDER BY id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![recipient, limit_to_sql(limit)], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delivered(conn: &Connection, id: DeferredId, now: UnixMillis) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE session_messages SET delivered_ms = ?2, body = x'', size = 0
             WHERE id = ?1 AND delivered_ms IS NULL",
        )?
        .execute(params![id.0, to_sql_ms(now)])?;
    Ok(changed > 0)
}

pub fn expire(conn: &Connection, now: UnixMillis, limit: usize) -> Result<Vec<DeferredMessage>, StoreError> {
    let now = to_sql_ms(now);
    let sql = format!(
        "SELECT {COLUMNS} FROM session_messages WHERE expires_ms <= ?1 AND delivered_ms IS NULL
         ORDER BY expires_ms, id LIMIT ?2"
    );
    let expired: Vec<DeferredMessage> = {
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![now, limit_to_sql(limit)], from_row)?;
        rows.collect::<Result<_, _>>()?
    };
    let mut delete = conn.prepare_cached("DELETE FROM session_messages WHERE id = ?1")?;
    for message in &expired {
        delete.execute([message.id.0])?;
    }
    conn.prepare_cached("DELETE FROM session_messages WHERE expires_ms <= ?1 AND delivered_ms IS NOT NULL")?
        .execute([now])?;
    Ok(expired)
}
