//! The session-mode deferred queue (schema version 2, table `session_messages`): MSRP messages the
//! Deferred Messaging function accepted for an offline user. Same contract as the pager queue
//! ([`super::queue`]): durable before `Ok`, one copy per `(recipient, sender, message_id)` (delivered
//! rows stay, bodiless, as the tombstone until their expiry), pending oldest first, and the quota
//! counted over the pending rows.
//!
//! A large message arrives in parts: [`stage`] writes each as it comes, under an upload key, and
//! [`enqueue`] then commits the message row (holding the first bytes) and adopts the upload's parts
//! in one transaction. Parts of an upload never committed (the sender went away) are collected by
//! [`expire`] after [`ORPHAN_MS`].

use super::queue::{check_quota, deferred_from_row, insert_message, message_columns};
use super::sql::{limit_to_sql, to_sql_count, to_sql_ms};
use crate::store::{DeferredId, DeferredMessage, Enqueued, NewDeferred, Quota, StoreError, UnixMillis};
use rusqlite::{params, Connection, OptionalExtension};

/// The columns [`deferred_from_row`] reads, in its order.
const COLUMNS: &str = "id, recipient, sender, message_id, content_type, date, cpim, extra_headers, body, \
                       submitted_ms, expires_ms";

/// How long staged parts may wait for their message to be committed.
pub const ORPHAN_MS: u64 = 3_600_000;

/// Writes bytes of a message still arriving, at `offset` of the whole message, under `upload`.
pub fn stage(
    conn: &Connection,
    upload: &str,
    offset: u64,
    bytes: &[u8],
    now: UnixMillis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO session_parts (upload, offset, bytes, message, staged_ms) VALUES (?1, ?2, ?3, NULL, ?4)",
    )?
    .execute(params![upload, to_sql_count(offset), bytes, to_sql_ms(now)])?;
    Ok(())
}

fn drop_upload(conn: &Connection, upload: Option<&str>) -> Result<(), StoreError> {
    if let Some(upload) = upload {
        conn.prepare_cached("DELETE FROM session_parts WHERE upload = ?1 AND message IS NULL")?
            .execute([upload])?;
    }
    Ok(())
}

/// Stores `message`; with `staged = Some((upload, total))` its body holds the first bytes and the
/// upload's parts the rest, `total` bytes in all.
pub fn enqueue(
    conn: &Connection,
    message: &NewDeferred,
    staged: Option<(&str, u64)>,
    quota: Quota,
) -> Result<Enqueued, StoreError> {
    let upload = staged.map(|(upload, _)| upload);
    let total = staged.map_or(u64::try_from(message.body.len()).unwrap_or(u64::MAX), |(_, t)| t);
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
        drop_upload(conn, upload)?;
        return Ok(Enqueued::Duplicate(DeferredId(id)));
    }
    let (messages, bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(size), 0) FROM session_messages
             WHERE recipient = ?1 AND delivered_ms IS NULL",
        )?
        .query_row([&message.recipient], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let size = match check_quota(message, total, messages, bytes, quota) {
        Ok(size) => size,
        Err(e) => {
            drop_upload(conn, upload)?;
            return Err(e);
        }
    };
    let sql = concat!(
        "INSERT INTO session_messages (recipient, ",
        message_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    );
    let id = insert_message(conn, sql, &[&message.recipient], message, size)?;
    if let Some(upload) = upload {
        conn.prepare_cached("UPDATE session_parts SET message = ?2 WHERE upload = ?1 AND message IS NULL")?
            .execute(params![upload, id])?;
    }
    Ok(Enqueued::Stored(DeferredId(id)))
}

/// Up to `max` bytes of a pending message from `offset` on (0-based, within the whole message), read
/// from its row's first bytes and then its parts, and the message's total size.
pub fn body(
    conn: &Connection,
    id: DeferredId,
    offset: u64,
    max: usize,
) -> Result<(Vec<u8>, u64), StoreError> {
    let row: Option<(Vec<u8>, i64)> = conn
        .prepare_cached("SELECT body, size FROM session_messages WHERE id = ?1 AND delivered_ms IS NULL")?
        .query_row([id.0], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((head, total)) = row else {
        return Ok((Vec::new(), 0));
    };
    let total = u64::try_from(total).unwrap_or(0);
    let mut out = Vec::new();
    let mut at = offset;
    if let Some(rest) = usize::try_from(offset).ok().and_then(|start| head.get(start..)) {
        out.extend_from_slice(rest.get(..max.min(rest.len())).unwrap_or(&[]));
        at += out.len() as u64;
    }
    if out.len() < max && at < total {
        // Start at the part holding `at` (the last one starting at or before it).
        let mut stmt = conn.prepare_cached(
            "SELECT offset, bytes FROM session_parts WHERE message = ?1
             AND offset >= coalesce((SELECT max(offset) FROM session_parts WHERE message = ?1 AND offset <= ?2), 0)
             ORDER BY offset",
        )?;
        let mut rows = stmt.query(params![id.0, to_sql_count(at)])?;
        while let Some(row) = rows.next()? {
            let part_offset = u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0);
            let bytes: Vec<u8> = row.get(1)?;
            if part_offset > at {
                break; // a gap: never written
            }
            let skip = usize::try_from(at - part_offset).unwrap_or(usize::MAX);
            let take = bytes.get(skip..).unwrap_or(&[]);
            let take = take.get(..(max - out.len()).min(take.len())).unwrap_or(&[]);
            out.extend_from_slice(take);
            at += take.len() as u64;
            if out.len() >= max {
                break;
            }
        }
    }
    Ok((out, total))
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
    conn.prepare_cached("DELETE FROM session_parts WHERE message = ?1")?
        .execute([id.0])?;
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
    let mut delete_parts = conn.prepare_cached("DELETE FROM session_parts WHERE message = ?1")?;
    for message in &expired {
        delete.execute([message.id.0])?;
        delete_parts.execute([message.id.0])?;
    }
    conn.prepare_cached("DELETE FROM session_parts WHERE message IS NULL AND staged_ms <= ?1")?
        .execute([now.saturating_sub(to_sql_count(ORPHAN_MS))])?;
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

    fn enqueue_plain(conn: &Connection, message: &NewDeferred, quota: Quota) -> Result<Enqueued, StoreError> {
        enqueue(conn, message, None, quota)
    }

    const ROOMY: Quota = Quota {
        max_messages: 10,
        max_bytes: 1000,
    };

    #[test]
    fn a_message_is_stored_once_even_after_delivery_until_it_expires() {
        let conn = store();
        let first = enqueue_plain(&conn, &message("m1", b"hi", 100), ROOMY).unwrap();
        assert!(matches!(first, Enqueued::Stored(_)));
        assert_eq!(
            enqueue_plain(&conn, &message("m1", b"hi", 100), ROOMY).unwrap(),
            Enqueued::Duplicate(first.id())
        );
        enqueue_plain(&conn, &message("m2", b"there", 100), ROOMY).unwrap();
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
            enqueue_plain(&conn, &message("m1", b"hi", 100), ROOMY).unwrap(),
            Enqueued::Duplicate(_)
        ));
        let expired = expire(&conn, UnixMillis(100), 10).unwrap();
        assert_eq!(
            expired.len(),
            1,
            "the pending one expires, the delivered one is forgotten"
        );
        assert!(matches!(
            enqueue_plain(&conn, &message("m1", b"hi", 200), ROOMY).unwrap(),
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
        let a = enqueue_plain(&conn, &message("a", b"12345", 100), small).unwrap();
        assert!(matches!(
            enqueue_plain(&conn, &message("b", b"123456", 100), small),
            Err(StoreError::QuotaExceeded {
                limit: QuotaLimit::Bytes(10),
                ..
            })
        ));
        enqueue_plain(&conn, &message("c", b"1", 100), small).unwrap();
        assert!(matches!(
            enqueue_plain(&conn, &message("d", b"1", 100), small),
            Err(StoreError::QuotaExceeded {
                limit: QuotaLimit::Messages(2),
                ..
            })
        ));
        delivered(&conn, a.id(), UnixMillis(2)).unwrap();
        assert!(
            enqueue_plain(&conn, &message("d", b"1", 100), small).is_ok(),
            "delivered ones no longer count"
        );
    }

    fn parts(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM session_parts", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_staged_message_reads_back_whole_from_any_offset_and_goes_with_delivery() {
        let conn = store();
        let whole: Vec<u8> = (0..100u8).collect();
        // First 10 bytes in the row, the rest staged in three parts as they arrived.
        stage(&conn, "s1/m", 10, &whole[10..40], UnixMillis(1)).unwrap();
        stage(&conn, "s1/m", 40, &whole[40..41], UnixMillis(1)).unwrap();
        stage(&conn, "s1/m", 41, &whole[41..], UnixMillis(1)).unwrap();
        let stored = enqueue(
            &conn,
            &message("m", &whole[..10], 100),
            Some(("s1/m", 100)),
            ROOMY,
        )
        .unwrap();
        let id = stored.id();
        for (offset, max) in [(0, 100), (0, 7), (5, 20), (10, 30), (39, 3), (41, 1000), (99, 5)] {
            let (bytes, total) = body(&conn, id, offset, max).unwrap();
            assert_eq!(total, 100);
            let end = (offset as usize + max).min(100);
            assert_eq!(bytes, &whole[offset as usize..end], "offset {offset} max {max}");
        }
        let big = Quota {
            max_messages: 10,
            max_bytes: 150,
        };
        stage(&conn, "s1/n", 10, &[1u8; 90], UnixMillis(1)).unwrap();
        assert!(
            enqueue(&conn, &message("n", &[0u8; 10], 100), Some(("s1/n", 100)), big).is_err(),
            "the quota counts the whole size, not the first bytes"
        );
        stage(&conn, "s2/m", 10, &[1u8; 5], UnixMillis(1)).unwrap();
        assert!(matches!(
            enqueue(&conn, &message("m", &[0u8; 10], 100), Some(("s2/m", 15)), ROOMY).unwrap(),
            Enqueued::Duplicate(_)
        ));
        assert_eq!(
            parts(&conn),
            3,
            "a refused or duplicate upload's parts are dropped"
        );
        assert!(delivered(&conn, id, UnixMillis(2)).unwrap());
        assert_eq!(parts(&conn), 0, "delivered: the parts go too");
        assert_eq!(body(&conn, id, 0, 10).unwrap(), (Vec::new(), 0));
    }

    #[test]
    fn parts_of_an_upload_never_committed_are_collected_after_an_hour() {
        let conn = store();
        stage(&conn, "gone/m", 0, b"abc", UnixMillis(1_000)).unwrap();
        expire(&conn, UnixMillis(1_000 + ORPHAN_MS - 1), 10).unwrap();
        assert_eq!(parts(&conn), 1);
        expire(&conn, UnixMillis(1_000 + ORPHAN_MS), 10).unwrap();
        assert_eq!(parts(&conn), 0);
    }
}
