//! The deferred queue as synchronous functions over one connection (writes run on the writer thread
//! inside its batch transaction, reads on pooled reader connections). The schema's comments explain
//! the table layout.

use super::sql::{from_sql_ms, limit_to_sql, to_sql_count, to_sql_ms};
use crate::store::{
    DeferredId, DeferredMessage, Enqueued, NewDeferred, Quota, QuotaLimit, StoreError, UnixMillis,
};
use rusqlite::{params, Connection, OptionalExtension, Row, ToSql};

/// FNV-1a over the fields that identify a message for duplicate suppression, separated by NUL (which
/// none of them contains). Stable across builds and platforms, unlike `std`'s hasher, because it is
/// stored; collisions only cost an extra row comparison.
fn dedupe_hash(recipient: &str, sender: &str, message_id: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash = OFFSET;
    for (i, part) in [recipient, sender, message_id].into_iter().enumerate() {
        let separator: &[u8] = if i > 0 { b"\0" } else { b"" };
        for &byte in separator.iter().chain(part.as_bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Extra headers are stored as `Name: value` lines separated by CRLF: SIP header names cannot contain
/// `:` and unfolded values cannot contain CR or LF, so the encoding is unambiguous for what a parsed
/// request yields.
pub(super) fn encode_headers(headers: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out
}

fn decode_headers(text: &str) -> Vec<(String, String)> {
    text.split_terminator("\r\n")
        .map(|line| match line.split_once(": ") {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => (line.to_owned(), String::new()),
        })
        .collect()
}

/// The columns [`deferred_from_row`] reads, from `deferred d JOIN mailboxes m`.
const DEFERRED_COLUMNS: &str = "d.id, m.recipient, d.sender, d.message_id, d.content_type, d.date, d.cpim, \
                                d.extra_headers, d.body, d.submitted_ms, d.expires_ms";

pub(super) fn deferred_from_row(row: &Row<'_>) -> rusqlite::Result<DeferredMessage> {
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

/// Whether `message`, `size` bytes long, fits in a mailbox holding `messages` pending messages of
/// `bytes` bytes in all; its size (as stored) when it does.
pub(super) fn check_quota(
    message: &NewDeferred,
    size: u64,
    messages: i64,
    bytes: i64,
    quota: Quota,
) -> Result<i64, StoreError> {
    let size = to_sql_count(size);
    let limit = if messages >= to_sql_count(quota.max_messages) {
        Some(QuotaLimit::Messages(quota.max_messages))
    } else if bytes.saturating_add(size) > to_sql_count(quota.max_bytes) {
        Some(QuotaLimit::Bytes(quota.max_bytes))
    } else {
        None
    };
    match limit {
        Some(limit) => Err(StoreError::QuotaExceeded {
            recipient: message.recipient.clone(),
            limit,
        }),
        None => Ok(size),
    }
}

/// The id of an earlier copy of this message, pending or delivered, if any.
fn earlier_copy(
    conn: &Connection,
    mailbox: i64,
    hash: i64,
    message: &NewDeferred,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM deferred WHERE mailbox = ?1 AND dedupe_hash = ?2 AND sender = ?3 AND message_id = ?4
             UNION ALL
             SELECT id FROM delivered_tombstones
                 WHERE mailbox = ?1 AND dedupe_hash = ?2 AND sender = ?3 AND message_id = ?4",
        )?
        .query_row(params![mailbox, hash, message.sender, message.message_id], |row| row.get(0))
        .optional()?)
}

pub fn enqueue(conn: &Connection, message: &NewDeferred, quota: Quota) -> Result<Enqueued, StoreError> {
    let hash = dedupe_hash(&message.recipient, &message.sender, &message.message_id);
    let existing: Option<(i64, i64, i64)> = conn
        .prepare_cached("SELECT id, messages, bytes FROM mailboxes WHERE recipient = ?1")?
        .query_row([&message.recipient], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    let (mailbox, messages, bytes) = match existing {
        Some((mailbox, messages, bytes)) => {
            if let Some(id) = earlier_copy(conn, mailbox, hash, message)? {
                return Ok(Enqueued::Duplicate(DeferredId(id)));
            }
            (mailbox, messages, bytes)
        }
        None => {
            conn.prepare_cached("INSERT INTO mailboxes (recipient, messages, bytes) VALUES (?1, 0, 0)")?
                .execute([&message.recipient])?;
            (conn.last_insert_rowid(), 0, 0)
        }
    };

    let body_len = u64::try_from(message.body.len()).unwrap_or(u64::MAX);
    let size = check_quota(message, body_len, messages, bytes, quota)?;

    let sql = concat!(
        "INSERT INTO deferred (mailbox, dedupe_hash, ",
        message_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    );
    let id = insert_message(conn, sql, &[&mailbox, &hash], message, size)?;
    Ok(Enqueued::Stored(DeferredId(id)))
}

/// The columns of a stored message that both queues (`deferred`, `session_messages`) have, in the
/// order [`insert_message`] binds them, after each table's own leading columns.
macro_rules! message_columns {
    () => {
        "sender, message_id, content_type, date, cpim, extra_headers, body, size, submitted_ms, expires_ms"
    };
}
pub(super) use message_columns;

/// Inserts `message` (`size` bytes counted against the quota) with `sql`, an INSERT naming the
/// table's `leading` columns and then [`message_columns!`]; returns the new row's id.
pub(super) fn insert_message(
    conn: &Connection,
    sql: &str,
    leading: &[&dyn ToSql],
    message: &NewDeferred,
    size: i64,
) -> Result<i64, StoreError> {
    let headers = encode_headers(&message.extra_headers);
    let (submitted, expires) = (to_sql_ms(message.submitted), to_sql_ms(message.expires));
    let fields: [&dyn ToSql; 10] = [
        &message.sender,
        &message.message_id,
        &message.content_type,
        &message.date,
        &message.cpim,
        &headers,
        &message.body,
        &size,
        &submitted,
        &expires,
    ];
    conn.prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(leading.iter().chain(fields.iter())))?;
    Ok(conn.last_insert_rowid())
}

pub fn pending(conn: &Connection, recipient: &str, limit: usize) -> Result<Vec<DeferredMessage>, StoreError> {
    let sql = format!(
        "SELECT {DEFERRED_COLUMNS} FROM deferred d JOIN mailboxes m ON m.id = d.mailbox
         WHERE m.recipient = ?1 ORDER BY d.id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![recipient, limit_to_sql(limit)], deferred_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delivered(conn: &Connection, id: DeferredId) -> Result<bool, StoreError> {
    let tombstoned = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO delivered_tombstones (mailbox, dedupe_hash, id, sender, message_id, until_ms)
             SELECT mailbox, dedupe_hash, id, sender, message_id, expires_ms FROM deferred WHERE id = ?1",
        )?
        .execute([id.0])?;
    if tombstoned == 0 {
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM deferred WHERE id = ?1")?
        .execute([id.0])?;
    Ok(true)
}

pub fn expire(conn: &Connection, now: UnixMillis, limit: usize) -> Result<Vec<DeferredMessage>, StoreError> {
    let now = to_sql_ms(now);
    let sql = format!(
        "SELECT {DEFERRED_COLUMNS} FROM deferred d JOIN mailboxes m ON m.id = d.mailbox
         WHERE d.expires_ms <= ?1 ORDER BY d.expires_ms, d.id LIMIT ?2"
    );
    let expired: Vec<DeferredMessage> = {
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![now, limit_to_sql(limit)], deferred_from_row)?;
        rows.collect::<Result<_, _>>()?
    };
    let mut delete = conn.prepare_cached("DELETE FROM deferred WHERE id = ?1")?;
    for message in &expired {
        delete.execute([message.id.0])?;
    }
    conn.prepare_cached("DELETE FROM delivered_tombstones WHERE until_ms <= ?1")?
        .execute([now])?;
    Ok(expired)
}

/// Forgets a recipient's queue entirely: pending messages, tombstones and counters (for account removal),
/// session-mode messages included.
pub fn remove_mailbox(conn: &Connection, recipient: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM session_parts WHERE message IN (SELECT id FROM session_messages WHERE recipient = ?1)",
        [recipient],
    )?;
    conn.execute("DELETE FROM session_messages WHERE recipient = ?1", [recipient])?;
    let mailbox: Option<i64> = conn
        .query_row(
            "SELECT id FROM mailboxes WHERE recipient = ?1",
            [recipient],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(mailbox) = mailbox {
        conn.execute("DELETE FROM deferred WHERE mailbox = ?1", [mailbox])?;
        conn.execute("DELETE FROM delivered_tombstones WHERE mailbox = ?1", [mailbox])?;
        conn.execute("DELETE FROM mailboxes WHERE id = ?1", [mailbox])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is stored, so it must never change: these values come from an independent FNV-1a
    /// implementation (64-bit, the NUL-joined fields, read as a signed integer).
    #[test]
    fn dedupe_hash_is_fnv1a_of_the_nul_joined_fields() {
        assert_eq!(
            dedupe_hash("bob", "sip:alice@localhost", "m1"),
            3_269_452_166_374_372_931
        );
        assert_eq!(dedupe_hash("a", "", ""), -1_886_173_607_098_907_028);
        assert_ne!(
            dedupe_hash("ab", "c", ""),
            dedupe_hash("a", "bc", ""),
            "field boundaries count"
        );
    }

    #[test]
    fn extra_headers_round_trip_including_colons_in_values() {
        let headers = vec![
            ("Subject".to_owned(), "re: a: b".to_owned()),
            ("X-Empty".to_owned(), String::new()),
        ];
        assert_eq!(decode_headers(&encode_headers(&headers)), headers);
        assert!(decode_headers("").is_empty());
    }
}
