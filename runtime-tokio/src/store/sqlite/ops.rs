//! The store's operations as plain synchronous functions over one connection. The writer thread runs
//! the writing ones inside its batch transaction; the reading ones run on pooled reader connections.

use crate::store::{
    Credentials, DeferredId, DeferredMessage, Enqueued, NewDeferred, NewUser, Quota, QuotaLimit, StoreError,
    UnixMillis, User, UserPolicy,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

fn to_sql_ms(t: UnixMillis) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

fn from_sql_ms(ms: i64) -> UnixMillis {
    UnixMillis(u64::try_from(ms).unwrap_or(0))
}

fn to_sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

// ---- users ----

const USER_COLUMNS: &str = "name, display_name, realm, ha1_md5, ha1_sha256, created_ms";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        name: row.get(0)?,
        display_name: row.get(1)?,
        credentials: Credentials {
            realm: row.get(2)?,
            ha1_md5: row.get(3)?,
            ha1_sha256: row.get(4)?,
        },
        created: from_sql_ms(row.get(5)?),
    })
}

pub fn add_user(conn: &Connection, user: &NewUser) -> Result<(), StoreError> {
    let inserted = conn.execute(
        "INSERT INTO users (name, display_name, realm, ha1_md5, ha1_sha256, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
        params![
            user.name,
            user.display_name,
            user.credentials.realm,
            user.credentials.ha1_md5,
            user.credentials.ha1_sha256,
            to_sql_ms(user.created)
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::UserExists(user.name.clone()));
    }
    Ok(())
}

/// Deletes the account with its policy and its pending deferred messages (a re-created account with
/// the same name must not inherit either).
pub fn remove_user(conn: &Connection, name: &str) -> Result<(), StoreError> {
    if conn.execute("DELETE FROM users WHERE name = ?1", [name])? == 0 {
        return Err(StoreError::NoSuchUser(name.to_owned()));
    }
    conn.execute("DELETE FROM policies WHERE user = ?1", [name])?;
    conn.execute("DELETE FROM policy_uris WHERE user = ?1", [name])?;
    conn.execute("DELETE FROM deferred WHERE recipient = ?1", [name])?;
    Ok(())
}

pub fn user(conn: &Connection, name: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([name], user_from_row)
        .optional()?)
}

pub fn users_by_display_name(conn: &Connection, display_name: &str) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE display_name = ?1 ORDER BY name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([display_name], user_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn users(conn: &Connection) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], user_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- policy ----

pub fn policy(conn: &Connection, user: &str) -> Result<UserPolicy, StoreError> {
    let mut policy = conn
        .prepare_cached("SELECT incoming_barred, store_pager_messages FROM policies WHERE user = ?1")?
        .query_row([user], |row| {
            Ok(UserPolicy {
                incoming_barred: row.get(0)?,
                store_pager_messages: row.get(1)?,
                ..UserPolicy::default()
            })
        })
        .optional()?
        .unwrap_or_default();
    let mut stmt =
        conn.prepare_cached("SELECT list, uri FROM policy_uris WHERE user = ?1 ORDER BY list, position")?;
    let mut rows = stmt.query([user])?;
    while let Some(row) = rows.next()? {
        let list: String = row.get(0)?;
        let uri: String = row.get(1)?;
        match list.as_str() {
            "block" => policy.blocked.push(uri),
            _ => policy.granted.push(uri),
        }
    }
    Ok(policy)
}

pub fn set_policy(conn: &Connection, user: &str, policy: &UserPolicy) -> Result<(), StoreError> {
    let exists: Option<i64> = conn
        .query_row("SELECT 1 FROM users WHERE name = ?1", [user], |row| row.get(0))
        .optional()?;
    if exists.is_none() {
        return Err(StoreError::NoSuchUser(user.to_owned()));
    }
    conn.execute(
        "INSERT OR REPLACE INTO policies (user, incoming_barred, store_pager_messages) VALUES (?1, ?2, ?3)",
        params![user, policy.incoming_barred, policy.store_pager_messages],
    )?;
    conn.execute("DELETE FROM policy_uris WHERE user = ?1", [user])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO policy_uris (user, list, position, uri) VALUES (?1, ?2, ?3, ?4)")?;
    for (list, uris) in [("block", &policy.blocked), ("grant", &policy.granted)] {
        for (position, uri) in uris.iter().enumerate() {
            insert.execute(params![user, list, limit_to_sql(position), uri])?;
        }
    }
    Ok(())
}

// ---- deferred messages ----

/// Extra headers are stored as `Name: value` lines separated by CRLF: SIP header names cannot contain
/// `:` and unfolded values cannot contain CR or LF, so the encoding is unambiguous for what a parsed
/// request yields.
fn encode_headers(headers: &[(String, String)]) -> String {
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

const DEFERRED_COLUMNS: &str = "id, recipient, sender, message_id, content_type, date, cpim, extra_headers, \
                                body, submitted_ms, expires_ms";

fn deferred_from_row(row: &Row<'_>) -> rusqlite::Result<DeferredMessage> {
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
    let key = params![message.sender, message.message_id];
    let delivered: Option<i64> = conn
        .prepare_cached("SELECT id FROM delivered_tombstones WHERE sender = ?1 AND message_id = ?2")?
        .query_row(key, |row| row.get(0))
        .optional()?;
    let pending: Option<i64> = conn
        .prepare_cached("SELECT id FROM deferred WHERE sender = ?1 AND message_id = ?2")?
        .query_row(key, |row| row.get(0))
        .optional()?;
    if let Some(id) = delivered.or(pending) {
        return Ok(Enqueued::Duplicate(DeferredId(id)));
    }

    let (messages, bytes): (i64, i64) = conn
        .prepare_cached("SELECT messages, bytes FROM mailbox_usage WHERE recipient = ?1")?
        .query_row([&message.recipient], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .unwrap_or((0, 0));
    let size = to_sql_count(u64::try_from(message.body.len()).unwrap_or(u64::MAX));
    if messages >= to_sql_count(quota.max_messages) {
        return Err(StoreError::QuotaExceeded {
            recipient: message.recipient.clone(),
            limit: QuotaLimit::Messages(quota.max_messages),
        });
    }
    if bytes.saturating_add(size) > to_sql_count(quota.max_bytes) {
        return Err(StoreError::QuotaExceeded {
            recipient: message.recipient.clone(),
            limit: QuotaLimit::Bytes(quota.max_bytes),
        });
    }

    conn.prepare_cached(
        "INSERT INTO deferred (recipient, sender, message_id, content_type, date, cpim, extra_headers, body,
                               size, submitted_ms, expires_ms)
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
    let sql = format!("SELECT {DEFERRED_COLUMNS} FROM deferred WHERE recipient = ?1 ORDER BY id LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![recipient, limit_to_sql(limit)], deferred_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delivered(conn: &Connection, id: DeferredId) -> Result<bool, StoreError> {
    let tombstoned = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO delivered_tombstones (sender, message_id, id, until_ms)
             SELECT sender, message_id, id, expires_ms FROM deferred WHERE id = ?1",
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
        "SELECT {DEFERRED_COLUMNS} FROM deferred WHERE expires_ms <= ?1 ORDER BY expires_ms, id LIMIT ?2"
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
