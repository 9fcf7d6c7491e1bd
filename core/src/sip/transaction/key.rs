//! Matching messages to transactions (RFC 3261 §17.1.3 and §17.2.3) and generating branches.
//!
//! A [`TransactionKey`] is built from pieces the owner has already extracted from a message, so this
//! module needs no parser:
//!
//! - **Client side** (§17.1.3): a response matches a client transaction when the branch of its top Via
//!   and the method of its CSeq equal those of the request. [`TransactionKey::client`].
//! - **Server side** (§17.2.3): a request matches a server transaction when the branch and the sent-by
//!   of its top Via and its method equal those of the request that created the transaction, counting an
//!   ACK as INVITE (CANCEL keeps its own method, so a CANCEL gets its own transaction).
//!   [`TransactionKey::server`].
//! - Both require the branch to start with the magic cookie `z9hG4bK` and to carry something after it
//!   (RFC 4475 §3.2.1 `badbranch` is exactly the cookie). A branch without the cookie comes from an
//!   RFC 2543 element: the owner then builds [`TransactionKey::server_rfc2543`] from the Request-URI,
//!   From tag, Call-ID, CSeq and top Via, the fallback of §17.2.3. Those pieces are not stored but
//!   hashed (64-bit FNV-1a), so a fallback key costs no more memory than a branch key; two different
//!   requests collide with probability about 2^-64. For an ACK, §17.2.3 also wants the To tag to equal
//!   the one the server transaction sent: the owner checks that after the lookup.
//!
//! Pieces are compared exactly as given, except sent-by whose host part is case-insensitive and is
//! therefore lowercased. A retransmission carries the very same bytes, so exact comparison errs only on
//! the side of not matching a request that some exotic element re-encoded.

use core::fmt;

use heapless::String;

use crate::rng::{push_hex, Rng};

/// The prefix of every RFC 3261 branch parameter (§8.1.1.7); the same constant as
/// [`crate::sip::header::MAGIC_COOKIE`].
pub use crate::sip::header::MAGIC_COOKIE;
/// Longest branch parameter accepted in a key. Ours are [`GENERATED_BRANCH_LEN`]; 64 leaves room for
/// proxies that encode state in theirs.
pub const MAX_BRANCH_LEN: usize = 64;
/// Longest sent-by (`host[:port]`) accepted in a key; fits a bracketed IPv6 literal with a port or a
/// typical FQDN.
pub const MAX_SENT_BY_LEN: usize = 64;
/// Longest method accepted in a key. Every standard method fits; unknown extension methods up to this
/// length are kept.
pub const MAX_METHOD_LEN: usize = 16;
/// Random bytes in a generated branch: 96 bits, above the 64 bits the brief of §8.1.1.7 calls for.
pub const BRANCH_RANDOM_BYTES: usize = 12;
/// Length of a branch made by [`generate_branch`]: the cookie and two hex digits per random byte.
pub const GENERATED_BRANCH_LEN: usize = MAGIC_COOKIE.len() + 2 * BRANCH_RANDOM_BYTES;

/// A branch parameter made by [`generate_branch`].
pub type Branch = String<GENERATED_BRANCH_LEN>;

/// Makes a fresh branch: `z9hG4bK` followed by [`BRANCH_RANDOM_BYTES`] random bytes in lowercase hex.
pub fn generate_branch<R: Rng + ?Sized>(rng: &mut R) -> Branch {
    let mut random = [0u8; BRANCH_RANDOM_BYTES];
    rng.fill(&mut random);
    let mut branch = Branch::new();
    // Capacity is exactly cookie + hex digits, so these pushes cannot fail.
    let _ = branch.push_str(MAGIC_COOKIE);
    push_hex(&mut branch, &random);
    branch
}

/// `true` when `branch` is an RFC 3261 branch: the magic cookie followed by at least one character.
pub fn is_rfc3261_branch(branch: &str) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

/// Which side of a transaction a key identifies (a UA holds both kinds in one table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Why a key could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyError {
    /// The branch lacks the `z9hG4bK` cookie or is only the cookie: use the RFC 2543 fallback (server)
    /// or treat the response as stray (client).
    NotRfc3261Branch,
    /// The branch is longer than [`MAX_BRANCH_LEN`].
    BranchTooLong,
    /// The sent-by is longer than [`MAX_SENT_BY_LEN`].
    SentByTooLong,
    /// The method is empty or longer than [`MAX_METHOD_LEN`].
    BadMethod,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotRfc3261Branch => f.write_str(
                "the Via branch does not start with z9hG4bK followed by an identifier; \
                 match with the RFC 2543 rules (server) or drop the response as stray (client)",
            ),
            KeyError::BranchTooLong => write!(f, "the Via branch exceeds {MAX_BRANCH_LEN} bytes"),
            KeyError::SentByTooLong => write!(f, "the Via sent-by exceeds {MAX_SENT_BY_LEN} bytes"),
            KeyError::BadMethod => {
                write!(f, "the method is empty or exceeds {MAX_METHOD_LEN} bytes")
            }
        }
    }
}

/// What identifies the request within its method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum KeyId {
    Branch {
        branch: String<MAX_BRANCH_LEN>,
        sent_by: String<MAX_SENT_BY_LEN>,
    },
    Rfc2543(u64),
}

/// The identity of a transaction, for matching messages to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    role: Role,
    id: KeyId,
    method: String<MAX_METHOD_LEN>,
}

/// The pieces of a request RFC 3261 §17.2.3 matches on when its branch is not an RFC 3261 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rfc2543Pieces<'a> {
    /// The Request-URI as received.
    pub request_uri: &'a str,
    /// The From tag (empty when absent).
    pub from_tag: &'a str,
    /// The Call-ID.
    pub call_id: &'a str,
    /// The CSeq sequence number.
    pub cseq_number: u32,
    /// The request method (an ACK is counted as INVITE).
    pub method: &'a str,
    /// The whole top Via header field value as received.
    pub top_via: &'a str,
}

impl TransactionKey {
    /// The key of a client transaction: the branch we put in the top Via and the CSeq method. Build it
    /// from a response's top Via branch and CSeq method to find the transaction it belongs to.
    pub fn client(branch: &str, cseq_method: &str) -> Result<Self, KeyError> {
        Ok(TransactionKey {
            role: Role::Client,
            id: KeyId::Branch {
                branch: checked_branch(branch)?,
                sent_by: String::new(),
            },
            method: checked_method(cseq_method)?,
        })
    }

    /// The key of a server transaction: top Via branch and sent-by, and the request method (ACK
    /// counts as INVITE).
    pub fn server(branch: &str, sent_by: &str, method: &str) -> Result<Self, KeyError> {
        // Copied whole, then lowercased in place (ASCII only, so still UTF-8): no per-char decoding.
        let mut lowered: String<MAX_SENT_BY_LEN> = String::new();
        lowered.push_str(sent_by).map_err(|_| KeyError::SentByTooLong)?;
        lowered.make_ascii_lowercase();
        Ok(TransactionKey {
            role: Role::Server,
            id: KeyId::Branch {
                branch: checked_branch(branch)?,
                sent_by: lowered,
            },
            method: checked_method(server_method(method))?,
        })
    }

    /// The RFC 2543 fallback key of a server transaction (§17.2.3), for requests whose branch fails
    /// [`is_rfc3261_branch`].
    pub fn server_rfc2543(pieces: &Rfc2543Pieces<'_>) -> Result<Self, KeyError> {
        let method = checked_method(server_method(pieces.method))?;
        let mut hash = Fnv1a::new();
        for piece in [
            pieces.request_uri,
            pieces.from_tag,
            pieces.call_id,
            pieces.top_via,
        ] {
            hash.write(piece.as_bytes());
            // 0xff never occurs in UTF-8, so it separates the pieces unambiguously.
            hash.write(&[0xff]);
        }
        hash.write(&pieces.cseq_number.to_be_bytes());
        Ok(TransactionKey {
            role: Role::Server,
            id: KeyId::Rfc2543(hash.finish()),
            method,
        })
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The method the transaction is for (INVITE for an ACK's server key).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// `true` for INVITE transactions.
    pub fn is_invite(&self) -> bool {
        self.method.as_str() == "INVITE"
    }

    /// The branch, unless this is an RFC 2543 fallback key.
    pub fn branch(&self) -> Option<&str> {
        match &self.id {
            KeyId::Branch { branch, .. } => Some(branch),
            KeyId::Rfc2543(_) => None,
        }
    }
}

fn server_method(method: &str) -> &str {
    if method == "ACK" {
        "INVITE"
    } else {
        method
    }
}

fn checked_branch(branch: &str) -> Result<String<MAX_BRANCH_LEN>, KeyError> {
    if !is_rfc3261_branch(branch) {
        return Err(KeyError::NotRfc3261Branch);
    }
    String::try_from(branch).map_err(|_| KeyError::BranchTooLong)
}

fn checked_method(method: &str) -> Result<String<MAX_METHOD_LEN>, KeyError> {
    if method.is_empty() {
        return Err(KeyError::BadMethod);
    }
    String::try_from(method).map_err(|_| KeyError::BadMethod)
}

/// 64-bit FNV-1a: tiny, no tables, good enough spread for a fallback key.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}
