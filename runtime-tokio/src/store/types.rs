//! The values the [`Store`](super::Store) trait takes and returns, and its error type.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time as milliseconds since the Unix epoch: what the store persists, since it must mean
/// the same thing after a restart (unlike the core's monotonic `Instant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// The current wall-clock time (a clock before 1970 reads as the epoch).
    pub fn now() -> Self {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        UnixMillis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// This time plus `millis`, saturating at the end of time.
    pub fn plus_millis(self, millis: u64) -> Self {
        UnixMillis(self.0.saturating_add(millis))
    }
}

/// Digest credentials of one account: HA1 = H(username ":" realm ":" password) for each algorithm of
/// RFC 7616, lower-case hex. The password itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The realm the HA1 values were computed for (the server's domain at `user add` time).
    pub realm: String,
    /// HA1 for `algorithm=MD5` (and MD5-sess), 32 hex digits.
    pub ha1_md5: String,
    /// HA1 for `algorithm=SHA-256` (and SHA-256-sess), 64 hex digits.
    pub ha1_sha256: String,
}

/// An account to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    /// The user part of the account's AoR, validated by the caller.
    pub name: String,
    /// A human-readable name, also usable to address pager messages; may be empty.
    pub display_name: String,
    /// Digest credentials.
    pub credentials: Credentials,
    /// When the account was created.
    pub created: UnixMillis,
}

/// A stored account. Same fields as [`NewUser`]: what was added is what is read back.
pub type User = NewUser;

/// A user's Participating IM Function policy (OMA IM: block and grant lists, incoming-IM barring).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserPolicy {
    /// Sender URIs whose messages are refused (403).
    pub blocked: Vec<String>,
    /// Sender URIs always accepted, even when incoming IM is barred.
    pub granted: Vec<String>,
    /// Refuse incoming IM from anyone not on the grant list.
    pub incoming_barred: bool,
    /// Store pager messages in the deferred queue even while the user is registered.
    pub store_pager_messages: bool,
}

/// The store's identifier of a deferred message: increases in the order messages were accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeferredId(pub i64);

impl fmt::Display for DeferredId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A pager message to store for later delivery, with what is needed to re-send it unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDeferred {
    /// The recipient's AoR user name (the key of [`Store::pending`](super::Store::pending) and of the quota).
    pub recipient: String,
    /// The sender's identity as the server established it (From, or P-Asserted-Identity from a trusted core).
    pub sender: String,
    /// The message's identity for duplicate suppression: the CPIM/IMDN `Message-ID` when the body is
    /// CPIM, otherwise what the server derives from the request (e.g. its Call-ID and CSeq).
    pub message_id: String,
    /// The Content-Type of the body, as received.
    pub content_type: String,
    /// The request's Date header value, as received, if any.
    pub date: Option<String>,
    /// Whether the body is a CPIM (message/cpim) wrapper.
    pub cpim: bool,
    /// Other headers to carry over when re-sending (name, value), in their original order.
    pub extra_headers: Vec<(String, String)>,
    /// The body, byte for byte. Never altered by the store.
    pub body: Vec<u8>,
    /// When the server accepted the message.
    pub submitted: UnixMillis,
    /// When the message is dropped (and charged as expired) if still undelivered.
    pub expires: UnixMillis,
}

/// A stored deferred message: the message as it was enqueued plus its store id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeferredMessage {
    /// The store's id, for [`Store::delivered`](super::Store::delivered).
    pub id: DeferredId,
    /// Everything that was enqueued, unchanged.
    pub message: NewDeferred,
}

impl DeferredMessage {
    /// The body size in bytes: what the quota and the charging records count.
    pub fn size(&self) -> usize {
        self.message.body.len()
    }
}

/// The outcome of a successful [`Store::enqueue`](super::Store::enqueue). Both mean "acknowledge the
/// request": the message is durably stored (or was stored, and maybe delivered, before).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// Newly stored with this id.
    Stored(DeferredId),
    /// The same `(recipient, sender, message_id)` was already accepted, under this id; nothing new
    /// was stored.
    Duplicate(DeferredId),
}

impl Enqueued {
    /// The id of the stored message, new or earlier.
    pub fn id(self) -> DeferredId {
        match self {
            Enqueued::Stored(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// How much one recipient may have waiting in the deferred queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// The most messages pending at once.
    pub max_messages: u64,
    /// The most body bytes pending at once.
    pub max_bytes: u64,
}

/// Which quota limit an enqueue would have exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaLimit {
    /// The pending-message count limit.
    Messages(u64),
    /// The pending-bytes limit.
    Bytes(u64),
}

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// `add_user` with a name that already has an account.
    UserExists(String),
    /// An operation on an account that does not exist.
    NoSuchUser(String),
    /// The recipient's deferred queue is full; nothing was stored.
    QuotaExceeded {
        /// The recipient whose quota is exhausted.
        recipient: String,
        /// The limit that storing the message would have exceeded.
        limit: QuotaLimit,
    },
    /// The database file was written by a newer simple-im (its schema version is unknown here).
    SchemaTooNew {
        /// The version found in the file.
        found: i64,
        /// The newest version this build understands.
        supported: i64,
    },
    /// The data directory or database file could not be created or opened.
    Open(String),
    /// The database reported an error (disk full, I/O error, corruption, ...).
    Database(String),
    /// The store was shut down (its writer thread is gone); nothing was written.
    Closed,
    /// `add_group` with a name that is already a group or an account.
    GroupExists(String),
    /// An operation on a group that does not exist.
    NoSuchGroup(String),
    /// Adding a member would exceed the group's maximum number of participants.
    GroupFull {
        /// The group.
        group: String,
        /// Its maximum number of participants.
        max: u32,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::UserExists(name) => write!(f, "user '{name}' already exists; remove it first to re-create it"),
            StoreError::NoSuchUser(name) => write!(f, "no user named '{name}' (see `simple-im user list`)"),
            StoreError::QuotaExceeded { recipient, limit: QuotaLimit::Messages(max) } => {
                write!(f, "deferred-message quota of '{recipient}' is full: already {max} messages waiting")
            }
            StoreError::QuotaExceeded { recipient, limit: QuotaLimit::Bytes(max) } => {
                write!(f, "deferred-message quota of '{recipient}' is full: storing this would exceed {max} bytes")
            }
            StoreError::SchemaTooNew { found, supported } => write!(
                f,
                "the database has schema version {found} but this simple-im understands only up to {supported}; \
                 use a newer simple-im or another --data directory"
            ),
            StoreError::Open(reason) => write!(f, "cannot open the store: {reason}"),
            StoreError::Database(reason) => write!(f, "database error: {reason}"),
            StoreError::Closed => write!(f, "the store is shut down; the operation was not performed"),
            StoreError::GroupExists(name) => {
                write!(f, "'{name}' is already a group or a user; choose another group name")
            }
            StoreError::NoSuchGroup(name) => write!(f, "no group named '{name}' (see `simple-im group list`)"),
            StoreError::GroupFull { group, max } => {
                write!(f, "group '{group}' already has its maximum of {max} participants")
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// Who may invite others into a pre-defined group's chat (OMA IM group policy; kept for session mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InvitePolicy {
    /// Only the owner.
    #[default]
    Owner,
    /// Any member.
    Members,
}

impl InvitePolicy {
    /// The stored and printed form: `owner` or `members`.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitePolicy::Owner => "owner",
            InvitePolicy::Members => "members",
        }
    }

    /// Parses [`InvitePolicy::as_str`]'s forms.
    pub fn parse(text: &str) -> Option<InvitePolicy> {
        match text {
            "owner" => Some(InvitePolicy::Owner),
            "members" => Some(InvitePolicy::Members),
            _ => None,
        }
    }
}

/// A pre-defined group (a chat URI `sip:NAME@DOMAIN` hosted by the Controlling IM Function), with its
/// policy, until the XDMS holds group documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The user part of the group URI; never also an account name.
    pub name: String,
    /// The owning user (a user name of this domain); the owner is always allowed in.
    pub owner: String,
    /// Private: only members (and the owner) may send into or join the group. Public: anyone may.
    pub private: bool,
    /// Who may invite others (session mode).
    pub may_invite: InvitePolicy,
    /// The most members the group may have (0: no limit).
    pub max_participants: u32,
    /// Members: user names of this domain, or names of other groups (nesting, which the loop rule
    /// then refuses at delivery), in the order they were added.
    pub members: Vec<String>,
    /// When the group was created.
    pub created: UnixMillis,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// What the Controlling function remembers to route notifications about one message (see
/// [`crate::store::Store::remember_imdn_route`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdnRoute {
    /// The URI the notifications are routed through (a group, the URI-list service), as a key.
    pub route: String,
    /// The `imdn.Message-ID` of the message.
    pub message_id: String,
    /// What the route needs: the message's sender, or a tracked list's description.
    pub value: String,
    /// When it may be forgotten (no stored copy of the message can still report).
    pub expires: UnixMillis,
}

/// The store's identifier of an outbound peer message: increases in the order they were queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerMessageId(pub i64);

/// A MESSAGE the server itself originates toward a user of a `[[peers]]` domain (a delivery
/// notification), to keep until that domain's server takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPeerMessage {
    /// The `[[peers]]` domain whose server it goes to (the queue keeps each domain's order).
    pub domain: String,
    /// The Request-URI and To: the user at that domain.
    pub destination: String,
    /// The From URI (our user on whose behalf the server sends it).
    pub from_uri: String,
    /// Its `imdn.Message-ID` (for logs and charging records).
    pub message_id: String,
    /// What it is about (for a notification: the notified message and its fate), the same however
    /// often it is rebuilt: with `destination`, what makes a re-queued one a duplicate.
    pub dedupe_key: String,
    /// The body's content type.
    pub content_type: String,
    /// The body, sent unchanged on every attempt (so the receiver can de-duplicate by Message-ID).
    pub body: Vec<u8>,
    /// When it was queued.
    pub queued: UnixMillis,
    /// When it is given up if the peer has not taken it.
    pub expires: UnixMillis,
}

/// A queued outbound peer message with its retry state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerMessage {
    /// Its id in the queue.
    pub id: PeerMessageId,
    /// What was queued.
    pub message: NewPeerMessage,
    /// Sending attempts made so far.
    pub attempts: u32,
    /// Not to be sent before this time.
    pub next_attempt: UnixMillis,
}
