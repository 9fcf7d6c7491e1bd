//! Accounts and per-user policy as synchronous functions over one connection (writes run on the
//! writer thread inside its batch transaction, reads on pooled reader connections).

use super::sql::{from_sql_ms, limit_to_sql, to_sql_ms};
use crate::store::{Credentials, NewUser, StoreError, User, UserPolicy};
use rusqlite::{params, Connection, OptionalExtension, Row};

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
    super::queue::remove_mailbox(conn, name)?;
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
