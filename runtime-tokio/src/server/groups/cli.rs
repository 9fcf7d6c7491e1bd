//! `simple-im group ...`: pre-defined groups and their policy, managed against the data directory
//! like accounts (also while the server runs: it reads a group at each request to it, so a change is
//! seen by the next MESSAGE).

use crate::config::Config;
use crate::store::{Group, SqliteStore, Store, StoreError};
use crate::users::{block_on, validate_user_name, CliError};

/// `simple-im group add NAME --owner USER ...`: creates `group` (its members included); returns the
/// line to print.
pub fn cli_add(config: &Config, group: Group) -> Result<String, CliError> {
    validate_user_name(&group.name).map_err(CliError::InvalidName)?;
    for member in &group.members {
        validate_user_name(member).map_err(CliError::InvalidName)?;
    }
    if group.max_participants > 0 && group.members.len() > group.max_participants as usize {
        return Err(CliError::Store(StoreError::GroupFull {
            group: group.name,
            max: group.max_participants,
        }));
    }
    let store = SqliteStore::open(&config.data_dir)?;
    let line = format!(
        "added group {} (sip:{}@{})\n",
        group.name, group.name, config.domain
    );
    block_on(store.add_group(group))??;
    Ok(line)
}

/// `simple-im group list`: one line per group,
/// `NAME<TAB>OWNER<TAB>public|private<TAB>invite=owner|members<TAB>max=N<TAB>MEMBERS (space-separated)`.
pub fn cli_list(config: &Config) -> Result<String, CliError> {
    let store = SqliteStore::open(&config.data_dir)?;
    let groups = block_on(store.groups())??;
    Ok(groups.iter().map(describe).collect())
}

/// `simple-im group remove NAME`.
pub fn cli_remove(config: &Config, name: &str) -> Result<String, CliError> {
    let store = SqliteStore::open(&config.data_dir)?;
    block_on(store.remove_group(name))??;
    Ok(format!("removed group {name}\n"))
}

/// `simple-im group member add|remove GROUP MEMBER`: `add` true adds. Returns the line to print.
pub fn cli_member(config: &Config, group: &str, member: &str, add: bool) -> Result<String, CliError> {
    validate_user_name(member).map_err(CliError::InvalidName)?;
    let store = SqliteStore::open(&config.data_dir)?;
    let changed = if add {
        block_on(store.add_group_member(group, member))??
    } else {
        block_on(store.remove_group_member(group, member))??
    };
    Ok(match (add, changed) {
        (true, true) => format!("added {member} to group {group}\n"),
        (true, false) => format!("{member} is already a member of group {group}\n"),
        (false, true) => format!("removed {member} from group {group}\n"),
        (false, false) => format!("{member} was not a member of group {group}\n"),
    })
}

fn describe(group: &Group) -> String {
    format!(
        "{}\t{}\t{}\tinvite={}\tmax={}\t{}\n",
        group.name,
        group.owner,
        if group.private { "private" } else { "public" },
        group.may_invite.as_str(),
        group.max_participants,
        group.members.join(" ")
    )
}
