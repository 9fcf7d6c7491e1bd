//! Pre-defined groups and their members as synchronous functions over one connection (writes run on
//! the writer thread inside its batch transaction, reads on pooled reader connections).
//!
//! A group name shares the user part namespace of the domain with accounts: creating a group named
//! like an account is refused here, in the same transaction that would insert it.

use super::sql::{from_sql_ms, to_sql_ms};
use crate::store::{Group, InvitePolicy, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row};

const GROUP_COLUMNS: &str = "name, owner, private, may_invite, max_participants, created_ms";

fn group_from_row(row: &Row<'_>) -> rusqlite::Result<Group> {
    let may_invite: String = row.get(3)?;
    let max: i64 = row.get(4)?;
    Ok(Group {
        name: row.get(0)?,
        owner: row.get(1)?,
        private: row.get(2)?,
        may_invite: InvitePolicy::parse(&may_invite).unwrap_or_default(),
        max_participants: u32::try_from(max).unwrap_or(u32::MAX),
        members: Vec::new(),
        created: from_sql_ms(row.get(5)?),
    })
}

fn exists(conn: &Connection, sql: &str, name: &str) -> Result<bool, StoreError> {
    let found: Option<i64> = conn.query_row(sql, [name], |row| row.get(0)).optional()?;
    Ok(found.is_some())
}

fn require_group(conn: &Connection, name: &str) -> Result<(), StoreError> {
    if exists(conn, "SELECT 1 FROM groups WHERE name = ?1", name)? {
        Ok(())
    } else {
        Err(StoreError::NoSuchGroup(name.to_owned()))
    }
}

pub fn add_group(conn: &Connection, group: &Group) -> Result<(), StoreError> {
    if exists(conn, "SELECT 1 FROM users WHERE name = ?1", &group.name)?
        || exists(conn, "SELECT 1 FROM groups WHERE name = ?1", &group.name)?
    {
        return Err(StoreError::GroupExists(group.name.clone()));
    }
    if !exists(conn, "SELECT 1 FROM users WHERE name = ?1", &group.owner)? {
        return Err(StoreError::NoSuchUser(group.owner.clone()));
    }
    conn.execute(
        "INSERT INTO groups (name, owner, private, may_invite, max_participants, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            group.name,
            group.owner,
            group.private,
            group.may_invite.as_str(),
            i64::from(group.max_participants),
            to_sql_ms(group.created)
        ],
    )?;
    for member in &group.members {
        add_member(conn, &group.name, member)?;
    }
    Ok(())
}

pub fn remove_group(conn: &Connection, name: &str) -> Result<(), StoreError> {
    if conn.execute("DELETE FROM groups WHERE name = ?1", [name])? == 0 {
        return Err(StoreError::NoSuchGroup(name.to_owned()));
    }
    conn.execute("DELETE FROM group_members WHERE group_name = ?1", [name])?;
    Ok(())
}

fn members(conn: &Connection, name: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT member FROM group_members WHERE group_name = ?1 ORDER BY position")?;
    let rows = stmt.query_map([name], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn group(conn: &Connection, name: &str) -> Result<Option<Group>, StoreError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE name = ?1");
    let found = conn
        .prepare_cached(&sql)?
        .query_row([name], group_from_row)
        .optional()?;
    let Some(mut group) = found else {
        return Ok(None);
    };
    group.members = members(conn, name)?;
    Ok(Some(group))
}

pub fn groups(conn: &Connection) -> Result<Vec<Group>, StoreError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM groups ORDER BY name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let found: Vec<Group> = stmt.query_map([], group_from_row)?.collect::<Result<_, _>>()?;
    found
        .into_iter()
        .map(|mut group| {
            group.members = members(conn, &group.name)?;
            Ok(group)
        })
        .collect()
}

/// Adds `member` unless present, checking the maximum in the same transaction (two concurrent adds
/// cannot both squeeze under it).
pub fn add_member(conn: &Connection, group: &str, member: &str) -> Result<bool, StoreError> {
    let max: Option<i64> = conn
        .query_row(
            "SELECT max_participants FROM groups WHERE name = ?1",
            [group],
            |row| row.get(0),
        )
        .optional()?;
    let Some(max) = max else {
        return Err(StoreError::NoSuchGroup(group.to_owned()));
    };
    let present: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM group_members WHERE group_name = ?1 AND member = ?2",
            [group, member],
            |row| row.get(0),
        )
        .optional()?;
    if present.is_some() {
        return Ok(false);
    }
    let (count, next): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(MAX(position), -1) + 1 FROM group_members WHERE group_name = ?1",
        [group],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if max > 0 && count >= max {
        return Err(StoreError::GroupFull {
            group: group.to_owned(),
            max: u32::try_from(max).unwrap_or(u32::MAX),
        });
    }
    conn.execute(
        "INSERT INTO group_members (group_name, position, member) VALUES (?1, ?2, ?3)",
        params![group, next, member],
    )?;
    Ok(true)
}

pub fn remove_member(conn: &Connection, group: &str, member: &str) -> Result<bool, StoreError> {
    require_group(conn, group)?;
    let removed = conn.execute(
        "DELETE FROM group_members WHERE group_name = ?1 AND member = ?2",
        [group, member],
    )?;
    Ok(removed > 0)
}
