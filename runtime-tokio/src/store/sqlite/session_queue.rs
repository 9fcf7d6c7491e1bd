//! The session-mode deferred queue (schema version 2, table `session_messages`): MSRP messages the
//! Deferred Messaging function accepted for an offline user. Same contract as the pager queue
//! ([`super::queue`]): durable before `Ok`, one copy per `(recipient, sender, message_id)` (delivered
//! rows stay, bodiless, as the tombstone until their expiry), pending oldest first, and the quota
//! counted over the pending rows.

use super::queue::{check_quota, deferred_from_row, encode_headers};
use super::sql::{limit_to_sql, to_sql_ms};
use crate::store::{DeferredId, DeferredMessage, Enqueued, NewDeferred, Quota, StoreError, UnixMillis};
use rusqlite::{params, Connection, OptionalExtension};

/// The columns [`deferred_from_row`] reads, in its order.
const COLUMNS: &str = "id, recipient, sender, message_id, content_type, date, cpim, extra_headers, body, \
                       submitted_ms, expires_ms";

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
    let size = check_quota(message, messages, bytes, quota)?;
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
    let rows = stmt.query_map(params![recipient, limit_to_sql(limit)], deferred_from_row)?;
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
        let rows = stmt.query_map(params![now, limit_to_sql(limit)], deferred_from_row)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::QuotaLimit;

    fn store() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn
    }

    fn message(id: &str, body: &[u8], expires: u64) -> NewDeferred {
        NewDeferred {
            recipient: "bob".into(),
            sender: "sip:alice@localhost".into(),
            message_id: id.into(),
            content_type: "text/plain".into(),
            date: None,
            cpim: false,
            extra_headers: Vec::new(),
            body: body.to_vec(),
            submitted: UnixMillis(1),
            expires: UnixMillis(expires),
        }
    }

    const ROOMY: Quota = Quota {
        max_messages: 10,
        max_bytes: 1000,
    };

    #[test]
    fn a_message_is_stored_once_even_after_delivery_until_it_expires() {
        let conn = store();
        let first = enqueue(&conn, &message("m1", b"hi", 100), ROOMY).unwrap();
        assert!(matches!(first, Enqueued::Stored(_)));
        assert_eq!(
            enqueue(&conn, &message("m1", b"hi", 100), ROOMY).unwrap(),
            Enqueued::Duplicate(first.id())
        );
        enqueue(&conn, &message("m2", b"there", 100), ROOMY).unwrap();
        let pending_now = pending(&conn, "bob", 10).unwrap();
        assert_eq!(
            pending_now
                .iter()
                .map(|m| m.message.message_id.as_str())
                .collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        assert_eq!(pending_now[1].message.body, b"there");
        assert!(delivered(&conn, first.id(), UnixMillis(5)).unwrap());
        assert!(!delivered(&conn, first.id(), UnixMillis(6)).unwrap(), "only once");
        assert_eq!(pending(&conn, "bob", 10).unwrap().len(), 1);
        assert!(matches!(
            enqueue(&conn, &message("m1", b"hi", 100), ROOMY).unwrap(),
            Enqueued::Duplicate(_)
        ));
        let expired = expire(&conn, UnixMillis(100), 10).unwrap();
        assert_eq!(
            expired.len(),
            1,
            "the pending one expires, the delivered one is forgotten"
        );
        assert!(matches!(
            enqueue(&conn, &message("m1", b"hi", 200), ROOMY).unwrap(),
            Enqueued::Stored(_)
        ));
    }

    #[test]
    fn the_quota_counts_pending_messages_and_bytes() {
        let conn = store();
        let small = Quota {
            max_messages: 2,
            max_bytes: 10,
        };
        let a = enqueue(&conn, &message("a", b"12345", 100), small).unwrap();
        assert!(matches!(
            enqueue(&conn, &message("b", b"123456", 100), small),
            Err(StoreError::QuotaExceeded {
                limit: QuotaLimit::Bytes(10),
                ..
            })
        ));
        enqueue(&conn, &message("c", b"1", 100), small).unwrap();
        assert!(matches!(
            enqueue(&conn, &message("d", b"1", 100), small),
            Err(StoreError::QuotaExceeded {
                limit: QuotaLimit::Messages(2),
                ..
            })
        ));
        delivered(&conn, a.id(), UnixMillis(2)).unwrap();
        assert!(
            enqueue(&conn, &message("d", b"1", 100), small).is_ok(),
            "delivered ones no longer count"
        );
    }
}
