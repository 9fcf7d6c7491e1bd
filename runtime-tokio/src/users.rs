//! User accounts: name validation, digest credentials (HA1), and the `simple-im user ...` commands.
//!
//! An account is a user name (the user part of `sip:NAME@DOMAIN`), an optional display name, and the
//! HA1 hashes RFC 7616 digest authentication needs, H(name ":" realm ":" password) for MD5 and
//! SHA-256, computed with the server's domain as realm. The password is never stored; changing the
//! domain therefore invalidates the hashes, and the accounts must be re-added (the store keeps the realm
//! each hash was made for, so the server can tell).
//!
//! The CLI functions ([`cli_add`], [`cli_list`], [`cli_remove`]) open the store in the configured data
//! directory, which they create if missing. They may run while a server is using the same directory:
//! SQLite arbitrates between the processes, and the server reads accounts from the file at each
//! lookup, so it sees an added or removed user as soon as the command returns.

use crate::config::{Config, ConfigError};
use crate::store::{Credentials, NewUser, SqliteStore, Store, StoreError, UnixMillis, User, UserPolicy};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::fmt;
use std::future::Future;

/// The longest user name accepted, in bytes: generous for names, short enough to keep AoRs readable
/// and every SIP header carrying them far from any size limit.
pub const MAX_USER_NAME_LEN: usize = 64;

/// Why a user name is not acceptable as the user part of a SIP URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserNameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_USER_NAME_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A whole URI or `user@host` was given where only the user part belongs.
    NotJustTheUserPart,
    /// `%` escapes are refused: `alice` and `%61lice` name the same SIP user, so accepting escapes
    /// would allow two accounts for one user.
    PercentEscape,
    /// A character RFC 3261 does not allow unescaped in a user part.
    InvalidChar {
        /// The character.
        ch: char,
        /// Its 0-based character position in the name.
        position: usize,
    },
}

impl fmt::Display for UserNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserNameError::Empty => write!(f, "the user name is empty"),
            UserNameError::TooLong { len } => {
                write!(f, "the user name is {len} bytes long; at most {MAX_USER_NAME_LEN} are allowed")
            }
            UserNameError::NotJustTheUserPart => {
                write!(f, "give only the user part of the address (alice, not sip:alice@example.com)")
            }
            UserNameError::PercentEscape => {
                write!(f, "'%' escapes are not accepted in user names; write the characters themselves")
            }
            UserNameError::InvalidChar { ch, position } => write!(
                f,
                "'{}' (character {}) is not allowed in a SIP user name; use letters, digits and - _ . ! ~ * ' ( ) & = + $ , ; ? /",
                ch.escape_debug(),
                position + 1
            ),
        }
    }
}

impl std::error::Error for UserNameError {}

/// Checks that `name` can be the user part of a SIP URI without escaping (RFC 3261 section 25.1:
/// unreserved characters and user-unreserved characters).
pub fn validate_user_name(name: &str) -> Result<(), UserNameError> {
    if name.is_empty() {
        return Err(UserNameError::Empty);
    }
    if name.len() > MAX_USER_NAME_LEN {
        return Err(UserNameError::TooLong { len: name.len() });
    }
    if name.contains('@') || name.starts_with("sip:") || name.starts_with("sips:") {
        return Err(UserNameError::NotJustTheUserPart);
    }
    for (position, ch) in name.chars().enumerate() {
        let allowed = ch.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(ch);
        if ch == '%' {
            return Err(UserNameError::PercentEscape);
        }
        if !allowed {
            return Err(UserNameError::InvalidChar { ch, position });
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn ha1<D: Digest>(name: &str, realm: &str, password: &str) -> String {
    let mut hash = D::new();
    for (i, part) in [name, realm, password].into_iter().enumerate() {
        if i > 0 {
            hash.update(b":");
        }
        hash.update(part.as_bytes());
    }
    hex(&hash.finalize())
}

/// The digest credentials of `name` in `realm`: HA1 for MD5 and SHA-256, lower-case hex.
pub fn credentials(name: &str, realm: &str, password: &str) -> Credentials {
    Credentials {
        realm: realm.to_owned(),
        ha1_md5: ha1::<Md5>(name, realm, password),
        ha1_sha256: ha1::<Sha256>(name, realm, password),
    }
}

/// Formats a time as ISO 8601 UTC to the second, e.g. `2026-11-24T01:30:00Z`.
pub fn format_utc(time: UnixMillis) -> String {
    let seconds = time.0 / 1000;
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Gregorian, proleptic), by 400-year eras.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Why a `simple-im user ...` command failed. The process should exit with status 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// The user name is not acceptable.
    InvalidName(UserNameError),
    /// An empty password was given.
    EmptyPassword,
    /// A block or grant list entry is not a SIP or tel URI.
    InvalidUri(String),
    /// The configuration could not be loaded.
    Config(ConfigError),
    /// The store refused or failed (existing user, missing user, unreadable database).
    Store(StoreError),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::InvalidName(e) => write!(f, "invalid user name: {e}"),
            CliError::EmptyPassword => write!(f, "the password is empty; give one with --password"),
            CliError::InvalidUri(uri) => {
                write!(
                    f,
                    "'{uri}' is not a sip:, sips: or tel: URI (e.g. sip:bob@example.com)"
                )
            }
            CliError::Config(e) => write!(f, "{e}"),
            CliError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::Store(e)
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Config(e)
    }
}

/// Runs one store operation to completion for a synchronous caller. It runs on a scoped thread with its
/// own current-thread runtime, so it works whether or not the caller is inside a Tokio runtime.
pub(crate) fn block_on<T: Send>(future: impl Future<Output = T> + Send) -> Result<T, CliError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| {
                        CliError::Store(StoreError::Open(format!("cannot start the async runtime: {e}")))
                    })?;
                Ok(runtime.block_on(future))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(CliError::Store(StoreError::Database(
                    "the store operation panicked".into(),
                )))
            })
    })
}

/// `simple-im user add NAME --password PW [--display-name TEXT]`: creates the account with HA1 hashes
/// for the configured domain. Returns the text to print as is (`print!`), e.g.
/// `added user alice (sip:alice@localhost)` and a newline.
pub fn cli_add(
    config: &Config,
    name: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<String, CliError> {
    validate_user_name(name).map_err(CliError::InvalidName)?;
    if password.is_empty() {
        return Err(CliError::EmptyPassword);
    }
    let user = NewUser {
        name: name.to_owned(),
        display_name: display_name.unwrap_or_default().to_owned(),
        credentials: credentials(name, &config.domain, password),
        created: UnixMillis::now(),
    };
    let store = SqliteStore::open(&config.data_dir)?;
    block_on(store.add_user(user))??;
    Ok(format!("added user {name} (sip:{name}@{})\n", config.domain))
}

/// `simple-im user list`: the text to print as is, one line per account,
/// `NAME<TAB>DISPLAY NAME<TAB>CREATED` (created in UTC, ISO 8601), ordered by name; empty when there
/// are no accounts.
pub fn cli_list(config: &Config) -> Result<String, CliError> {
    let store = SqliteStore::open(&config.data_dir)?;
    let users: Vec<User> = block_on(store.users())??;
    Ok(users
        .iter()
        .map(|u| format!("{}\t{}\t{}\n", u.name, u.display_name, format_utc(u.created)))
        .collect())
}

/// `simple-im user remove NAME`: deletes the account with its policy and pending deferred messages.
/// Returns the text to print as is (one line); fails with [`StoreError::NoSuchUser`] when there is no
/// such account.
pub fn cli_remove(config: &Config, name: &str) -> Result<String, CliError> {
    let store = SqliteStore::open(&config.data_dir)?;
    // What was waiting for the user can never be delivered now: its senders are told (those who
    // asked for negative delivery notifications) once the account is gone. A message stored between
    // this read and the removal goes with the account untold.
    let pending = block_on(store.pending(name, usize::MAX))?.unwrap_or_default();
    block_on(store.remove_user(name))??;
    if pending.is_empty() {
        return Ok(format!("removed user {name}\n"));
    }
    match block_on(crate::server::imdn::recipient_removed(config, &store, &pending))? {
        Ok(told) => Ok(format!(
            "removed user {name} and {} pending message(s); {told} negative delivery notification(s) stored\n",
            pending.len()
        )),
        Err(e) => Ok(format!(
            "removed user {name} and {} pending message(s); the charging log could not be written: {e}\n",
            pending.len()
        )),
    }
}

/// One change to a user's Participating-function policy (`simple-im user policy NAME ...`), until the
/// XDMS-based settings exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyChange {
    /// Refuse messages from this sender URI.
    Block(String),
    /// Take this URI off the block list.
    Unblock(String),
    /// Accept messages from this URI even while incoming IM is barred.
    Grant(String),
    /// Take this URI off the grant list.
    Ungrant(String),
    /// Bar (true) or allow (false) incoming IM from anyone not granted.
    BarIncoming(bool),
    /// Store pager messages for later delivery even while registered (true), or deliver (false).
    StorePagerMessages(bool),
}

fn check_policy_uri(uri: &str) -> Result<(), CliError> {
    let scheme_ok = ["sip:", "sips:", "tel:"].iter().any(|scheme| {
        uri.get(..scheme.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
            && uri.len() > scheme.len()
    });
    if scheme_ok && !uri.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(CliError::InvalidUri(uri.to_owned()))
    }
}

fn apply(policy: &mut UserPolicy, change: &PolicyChange) {
    fn add(list: &mut Vec<String>, uri: &str) {
        if !list.iter().any(|u| u == uri) {
            list.push(uri.to_owned());
        }
    }
    match change {
        PolicyChange::Block(uri) => add(&mut policy.blocked, uri),
        PolicyChange::Unblock(uri) => policy.blocked.retain(|u| u != uri),
        PolicyChange::Grant(uri) => add(&mut policy.granted, uri),
        PolicyChange::Ungrant(uri) => policy.granted.retain(|u| u != uri),
        PolicyChange::BarIncoming(on) => policy.incoming_barred = *on,
        PolicyChange::StorePagerMessages(on) => policy.store_pager_messages = *on,
    }
}

fn describe_policy(name: &str, policy: &UserPolicy) -> String {
    let yes_no = |on: bool| if on { "yes" } else { "no" };
    let mut out = format!(
        "user {name}\nincoming IM barred: {}\nstore pager messages: {}\n",
        yes_no(policy.incoming_barred),
        yes_no(policy.store_pager_messages)
    );
    for uri in &policy.blocked {
        out.push_str(&format!("blocked: {uri}\n"));
    }
    for uri in &policy.granted {
        out.push_str(&format!("granted: {uri}\n"));
    }
    out
}

/// `simple-im user policy NAME [changes]`: applies the changes in order (none: only shows) and
/// returns the resulting policy as text to print as is. Adding a URI already listed or removing one
/// not listed changes nothing. The read and the write are separate transactions, so two
/// administrators editing the same user's policy at the same instant could lose one edit.
pub fn cli_policy(config: &Config, name: &str, changes: &[PolicyChange]) -> Result<String, CliError> {
    for change in changes {
        if let PolicyChange::Block(uri) | PolicyChange::Grant(uri) = change {
            check_policy_uri(uri)?;
        }
    }
    let store = SqliteStore::open(&config.data_dir)?;
    block_on(async {
        if store.user(name).await?.is_none() {
            return Err(StoreError::NoSuchUser(name.to_owned()));
        }
        let mut policy = store.policy(name).await?;
        if !changes.is_empty() {
            changes.iter().for_each(|change| apply(&mut policy, change));
            store.set_policy(name, policy.clone()).await?;
        }
        Ok(describe_policy(name, &policy))
    })?
    .map_err(CliError::Store)
}
