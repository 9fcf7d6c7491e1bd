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
/// Accepts a bare URI, `user@host`, or a name-addr (`"Name" <sip:user@host>;tag=x`).
pub fn address_key(uri: &str) -> String {
    let uri = match uri.find('<') {
        Some(open) => uri.get(open + 1..).unwrap_or(""),
        None => uri,
    };
    let uri = uri.trim();
    let lower = uri.to_ascii_lowercase();
    let scheme_len = ["sips:", "sip:"]
        .iter()
        .find(|s| lower.starts_with(**s))
        .map_or(0, |s| s.len());
    let without_scheme = uri.get(scheme_len..).unwrap_or(uri);
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
    check_sender(policy, sender)?;
    let content_type = msg.header(HeaderName::ContentType).unwrap_or("");
    check_content(limits, allowed_types, domain, content_type, msg.body().len())
}

/// The recipient's barring, block and grant lists applied to `sender` (a URI) alone: what holds for
/// sessions too, and what a group copy (whose content differs from the request's) is checked against
/// before [`check_content`].
pub fn check_sender(policy: &UserPolicy, sender: &str) -> Result<(), Refusal> {
    if policy.incoming_barred {
        return Err(Refusal::forbidden("Incoming IM barred by the recipient"));
    }
    if listed(&policy.blocked, sender) {
        return Err(Refusal::forbidden("Blocked by the recipient"));
    }
    if !policy.granted.is_empty() && !listed(&policy.granted, sender) {
        return Err(Refusal::forbidden("Sender not on the recipient's grant list"));
    }
    Ok(())
}

/// The server's size limit and allowed content types for a body of `body_len` bytes.
pub fn check_content(
    limits: &Limits,
    allowed_types: Option<&[String]>,
    domain: &str,
    content_type: &str,
    body_len: usize,
) -> Result<(), Refusal> {
    let max = limits.max_pager_body_bytes;
    if u64::try_from(body_len).unwrap_or(u64::MAX) > max {
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn message(content_type: &str, body: &str) -> SipMessage {
        let text = format!(
            "MESSAGE sip:bob@localhost SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKp1\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@localhost>;tag=1\r\nTo: <sip:bob@localhost>\r\nCall-ID: p1\r\n\
CSeq: 1 MESSAGE\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        SipMessage::parse(Bytes::from(text), false).expect("valid")
    }

    fn run(
        policy: &UserPolicy,
        limits: &Limits,
        allowed: Option<&[String]>,
        msg: &SipMessage,
    ) -> Result<(), Refusal> {
        check(policy, limits, allowed, "localhost", "sip:alice@localhost", msg)
    }

    #[test]
    fn row_incoming_barred_is_403() {
        let policy = UserPolicy {
            incoming_barred: true,
            ..UserPolicy::default()
        };
        let refusal = run(&policy, &Limits::default(), None, &message("text/plain", "x")).unwrap_err();
        assert_eq!((refusal.code, refusal.reason.contains("barred")), (403, true));
    }

    #[test]
    fn row_blocked_sender_is_403_matching_user_at_host_or_uri_ignoring_case() {
        for entry in ["sip:Alice@localhost", "alice@LOCALHOST", "<sip:alice@localhost>"] {
            let policy = UserPolicy {
                blocked: vec![entry.into()],
                ..UserPolicy::default()
            };
            let refusal = run(&policy, &Limits::default(), None, &message("text/plain", "x")).unwrap_err();
            assert_eq!(refusal.code, 403, "{entry}");
        }
    }

    #[test]
    fn row_grant_list_without_the_sender_is_403_and_with_it_passes() {
        let policy = UserPolicy {
            granted: vec!["carol@localhost".into()],
            ..UserPolicy::default()
        };
        assert_eq!(
            run(&policy, &Limits::default(), None, &message("text/plain", "x"))
                .unwrap_err()
                .code,
            403
        );
        let policy = UserPolicy {
            granted: vec!["alice@localhost".into()],
            ..UserPolicy::default()
        };
        assert!(run(&policy, &Limits::default(), None, &message("text/plain", "x")).is_ok());
    }

    #[test]
    fn row_body_over_the_maximum_is_413_with_the_maximum_in_a_warning() {
        let limits = Limits {
            max_pager_body_bytes: 3,
            ..Limits::default()
        };
        assert!(run(
            &UserPolicy::default(),
            &limits,
            None,
            &message("text/plain", "abc")
        )
        .is_ok());
        let refusal = run(
            &UserPolicy::default(),
            &limits,
            None,
            &message("text/plain", "abcd"),
        )
        .unwrap_err();
        assert_eq!(refusal.code, 413);
        assert_eq!(
            refusal.headers,
            vec![(
                "Warning",
                "399 localhost \"Maximum message size is 3 bytes\"".to_owned()
            )]
        );
    }

    #[test]
    fn row_content_type_not_allowed_is_415_with_accept() {
        let allowed = vec!["text/plain".to_owned(), "message/cpim".to_owned()];
        let ok = message("Text/Plain; charset=UTF-8", "x");
        assert!(run(&UserPolicy::default(), &Limits::default(), Some(&allowed), &ok).is_ok());
        let refusal = run(
            &UserPolicy::default(),
            &Limits::default(),
            Some(&allowed),
            &message("text/html", "x"),
        )
        .unwrap_err();
        assert_eq!(refusal.code, 415);
        assert_eq!(
            refusal.headers,
            vec![("Accept", "text/plain, message/cpim".to_owned())]
        );
    }

    #[test]
    fn privacy_replaces_from_keeping_the_tag_and_drops_asserted_identities() {
        assert_eq!(
            anonymise(HeaderName::From, "\"Alice\" <sip:alice@localhost>;tag=77").as_deref(),
            Some("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=77")
        );
        assert_eq!(
            anonymise(HeaderName::PAssertedIdentity, "<sip:alice@localhost>"),
            None
        );
        assert_eq!(
            anonymise(HeaderName::To, "<sip:bob@localhost>").as_deref(),
            Some("<sip:bob@localhost>")
        );
    }
}
