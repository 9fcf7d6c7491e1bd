//! The Participating IM Function's policy for a terminating (recipient's) pager-mode request.
//!
//! | check | refusal |
//! |---|---|
//! | the recipient barred incoming IM | 403 "Incoming IM barred by the recipient" |
//! | the sender is on the recipient's block list | 403 "Blocked by the recipient" |
//! | the recipient has a grant list without the sender | 403 "Sender not on the recipient's grant list" |
//! | the body exceeds the maximum size | 413, the maximum told in a Warning (OMA-AD "notify the sender about the allowed maximum IM message size") |
//! | the content type is not allowed | 415 with Accept listing the allowed types |
//!
//! List entries match the sender's address of record as `user@host` or as the whole URI, ignoring case.
//!
//! Privacy (RFC 3323/3325): a request with `Privacy: id` (or `user`/`header`) gets an anonymous From
//! and loses its P-Asserted-Identity before it leaves for the recipient ([`anonymise`]).

use super::sip::SipMessage;
use crate::config::Limits;
use crate::store::UserPolicy;
use simple_im_core::sip::HeaderName;

/// A refusal: status, reason phrase, and extra headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers that tell the sender more (Warning, Accept).
    pub headers: Vec<(&'static str, String)>,
}

impl Refusal {
    fn forbidden(reason: &str) -> Refusal {
        Refusal {
            code: 403,
            reason: format!("Forbidden ({reason})"),
            headers: Vec::new(),
        }
    }
}

/// The sender's address as `user@host`, lowercase (the form lists use).
pub fn address_key(uri: &str) -> String {
    let without_scheme = uri.trim_start_matches("sips:").trim_start_matches("sip:");
    let end = without_scheme
        .find([';', '?', '>'])
        .unwrap_or(without_scheme.len());
    without_scheme
        .get(..end)
        .unwrap_or(without_scheme)
        .to_ascii_lowercase()
}

fn listed(list: &[String], sender: &str) -> bool {
    let key = address_key(sender);
    list.iter().any(|entry| address_key(entry) == key)
}

/// Applies the recipient's policy and the server's limits to a MESSAGE from `sender` (a URI).
pub fn check(
    policy: &UserPolicy,
    limits: &Limits,
    allowed_types: Option<&[String]>,
    domain: &str,
    sender: &str,
    msg: &SipMessage,
) -> Result<(), Refusal> {
    if policy.incoming_barred {
        return Err(Refusal::forbidden("Incoming IM barred by the recipient"));
    }
    if listed(&policy.blocked, sender) {
        return Err(Refusal::forbidden("Blocked by the recipient"));
    }
    if !policy.granted.is_empty() && !listed(&policy.granted, sender) {
        return Err(Refusal::forbidden("Sender not on the recipient's grant list"));
    }
    let max = limits.max_pager_body_bytes;
    if u64::try_from(msg.body().len()).unwrap_or(u64::MAX) > max {
        return Err(Refusal {
            code: 413,
            reason: format!("Request Entity Too Large (maximum {max} bytes)"),
            headers: vec![(
                "Warning",
                format!("399 {domain} \"Maximum message size is {max} bytes\""),
            )],
        });
    }
    if let Some(allowed) = allowed_types {
        let content_type = msg.header(HeaderName::ContentType).unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !allowed.iter().any(|t| t.eq_ignore_ascii_case(&essence)) {
            return Err(Refusal {
                code: 415,
                reason: "Unsupported Media Type".into(),
                headers: vec![("Accept", allowed.join(", "))],
            });
        }
    }
    Ok(())
}

/// The anonymous From of RFC 3323 §4.1.1.3.
pub const ANONYMOUS_FROM: &str = "\"Anonymous\" <sip:anonymous@anonymous.invalid>";

/// Whether the sender asked for its identity to be withheld (RFC 3323 §4.2: `id`, `user`, `header`).
pub fn wants_privacy(msg: &SipMessage) -> bool {
    msg.values(HeaderName::Privacy)
        .flat_map(|v| v.split(';'))
        .any(|p| matches!(p.trim().to_ascii_lowercase().as_str(), "id" | "user" | "header"))
}

/// The header lines to forward for a request whose sender asked for privacy: From replaced by the
/// anonymous one (keeping its tag, which identifies the dialog, not the user), P-Asserted-Identity and
/// P-Preferred-Identity dropped (the recipient is not a trusted entity).
pub fn anonymise(name: HeaderName<'_>, value: &str) -> Option<String> {
    match name {
        HeaderName::PAssertedIdentity | HeaderName::PPreferredIdentity => None,
        HeaderName::From => {
            let tag = simple_im_core::sip::header::NameAddr::parse(value)
                .ok()
                .and_then(|n| n.tag());
            Some(match tag {
                Some(tag) => format!("{ANONYMOUS_FROM};tag={tag}"),
                None => ANONYMOUS_FROM.to_owned(),
            })
        }
        _ => Some(value.to_owned()),
    }
}
