//! Where notifications of group and list messages go (the Controlling function's routing memory), as
//! synchronous functions over one connection: a row per `(route, message_id)` holding the value the
//! server needs to route a notification about that message (a group message's sender, a tracked
//! list's description), kept until its expiry and bounded to [`MAX_IMDN_ROUTES`] rows.

use super::sql::{from_sql_ms, to_sql_ms};
use crate::store::{ImdnRoute, StoreError, UnixMillis};
use rusqlite::{params, Connection, OptionalExtension};

/// The most rows kept: the in-memory bounds of the group routes (16,384) and tracked lists (4,096).
pub const MAX_IMDN_ROUTES: i64 = 20_480;

/// Inserts or replaces the row, forgets expired rows, and then the soonest-expiring ones beyond the bound.
pub fn remember(conn: &Connection, route: &ImdnRoute, now: UnixMillis) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO imdn_routes (route, message_id, value, expires_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        route.route,
        route.message_id,
        route.value,
        to_sql_ms(route.expires)
    ])?;
    conn.prepare_cached("DELETE FROM imdn_routes WHERE expires_ms <= ?1")?
        .execute([to_sql_ms(now)])?;
    let rows: i64 = conn
        .prepare_cached("SELECT count(*) FROM imdn_routes")?
        .query_row([], |row| row.get(0))?;
    if rows > MAX_IMDN_ROUTES {
        conn.prepare_cached(
            "DELETE FROM imdn_routes WHERE rowid IN
             (SELECT rowid FROM imdn_routes ORDER BY expires_ms LIMIT ?1)",
        )?
        .execute([rows - MAX_IMDN_ROUTES])?;
    }
    Ok(())
}

/// The value remembered for `(route, message_id)`, unless it expired at `now`.
pub fn lookup(
    conn: &Connection,
    route: &str,
    message_id: &str,
    now: UnixMillis,
) -> Result<Option<(String, UnixMillis)>, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT value, expires_ms FROM imdn_routes
             WHERE route = ?1 AND message_id = ?2 AND expires_ms > ?3",
        )?
        .query_row(params![route, message_id, to_sql_ms(now)], |row| {
            Ok((row.get(0)?, from_sql_ms(row.get(1)?)))
        })
        .optional()?;
    Ok(found)
}

/// Forgets the row (the list it described finished).
pub fn forget(conn: &Connection, route: &str, message_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM imdn_routes WHERE route = ?1 AND message_id = ?2")?
        .execute([route, message_id])?;
    Ok(())
}
