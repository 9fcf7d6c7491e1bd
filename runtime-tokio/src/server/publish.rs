//! PUBLISH of a user's IM service settings (RFC 3903 semantics) into the Participating policy.
//!
//! The IM client publishes its incoming-IM barring setting to its own AoR with the event package
//! `simple-im-settings` (this project's name, see `simple_im_core::client::settings`) and the body
//! `application/vnd.simple-im.settings+xml`:
//!
//! ```text
//! <im-settings xmlns="urn:simple-im:params:xml:ns:im-settings"><incoming-im-barring>true</incoming-im-barring></im-settings>
//! ```
//!
//! | step | outcome |
//! |---|---|
//! | no (valid) Proxy-Authorization | 407 (403 for wrong credentials), as for MESSAGE |
//! | authenticated user is not the From user, or the Request-URI is not that user's AoR | 403 |
//! | Event is not `simple-im-settings` | 489 Bad Event with Allow-Events |
//! | Expires below `min_expires` (and not 0) | 423 with Min-Expires |
//! | SIP-If-Match names no live publication of this user | 412 Conditional Request Failed |
//! | no SIP-If-Match and no body (nothing to create) | 400 |
//! | body of another type | 415 with Accept |
//! | body that is not a settings document | 400 naming the problem |
//! | initial (body, no SIP-If-Match) or modify (body, SIP-If-Match) | setting stored, 200 with a new SIP-ETag and Expires |
//! | refresh (SIP-If-Match, no body) | lifetime extended, 200 with a new SIP-ETag and Expires |
//! | remove (SIP-If-Match, Expires: 0) | publication dropped, barring cleared, 200 with Expires: 0 |
//! | publication expires unrefreshed | barring cleared |
//!
//! Expires: absent means `max_expires`; values above `max_expires` are capped (RFC 3903 §6 step 5 lets
//! the ESC shorten the interval); the same bounds as registrations apply.
//!
//! The barring flag goes into the user's stored policy ([`crate::store::Store::set_policy`]), so the
//! Participating function answers a MESSAGE to a barred user 403 ("Incoming IM barred by the
//! recipient"). Barred messages are refused, not deferred: OMA-AD SIMPLE IM 2.0 names barring only as
//! a client-provided service setting the IM Server maintains, and deferring would deliver later what
//! the user said they do not want; deferral is the separate "store pager messages" setting. The client
//! itself answers 480 while barred, which is the right code for a UA that is merely not taking IMs now.
//!
//! Publications (entity tags, lifetimes) live in memory: after a restart the stored barring flag stays
//! as last published until the client publishes again or an operator changes it with the CLI (the last
//! writer wins between the two).

use super::auth::{AuthOutcome, Realm};
use super::{registrar, reply, Request, Server};
use simple_im_core::sip::HeaderName;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The event package accepted (the IM client's choice, see the module docs).
pub const SETTINGS_EVENT_PACKAGE: &str = "simple-im-settings";
/// The body type accepted.
pub const SETTINGS_CONTENT_TYPE: &str = "application/vnd.simple-im.settings+xml";
/// The namespace of the settings document.
pub const SETTINGS_NAMESPACE: &str = "urn:simple-im:params:xml:ns:im-settings";

/// One user's live publication.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Publication {
    etag: String,
    expires_at: tokio::time::Instant,
}

/// Live publications by user name (one per user: the settings are a single document).
#[derive(Default)]
pub struct Publications {
    by_user: Mutex<HashMap<String, Publication>>,
}

impl Publications {
    fn get(&self, user: &str) -> Option<Publication> {
        self.by_user.lock().ok()?.get(user).cloned()
    }

    fn put(&self, user: &str, publication: Publication) {
        if let Ok(mut map) = self.by_user.lock() {
            map.insert(user.to_owned(), publication);
        }
    }

    /// Removes the user's publication if it is still `etag`; true when it was.
    fn remove_if(&self, user: &str, etag: &str) -> bool {
        let Ok(mut map) = self.by_user.lock() else {
            return false;
        };
        if map.get(user).is_some_and(|p| p.etag == etag) {
            map.remove(user);
            return true;
        }
        false
    }

    /// The entity tag of the user's live publication (for tests and diagnostics).
    pub fn etag(&self, user: &str) -> Option<String> {
        self.get(user).map(|p| p.etag)
    }
}

/// Why a settings body was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingsError {
    /// The XML is not well-formed.
    Xml(String),
    /// The root element is not `im-settings` in the settings namespace.
    WrongRoot,
    /// No `incoming-im-barring` element.
    MissingBarring,
    /// `incoming-im-barring` is not `true`/`false`/`1`/`0`.
    BadBarringValue(String),
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsError::Xml(e) => write!(f, "settings body is not well-formed XML: {e}"),
            SettingsError::WrongRoot => write!(
                f,
                "settings body root must be im-settings in namespace {SETTINGS_NAMESPACE}"
            ),
            SettingsError::MissingBarring => write!(f, "settings body lacks incoming-im-barring"),
            SettingsError::BadBarringValue(v) => {
                write!(f, "incoming-im-barring must be true or false, not {v:?}")
            }
        }
    }
}

/// The barring flag of a settings document.
pub fn parse_settings(body: &[u8]) -> Result<bool, SettingsError> {
    use simple_im_core::xml::Event;
    let mut reader = simple_im_core::xml::reader(body);
    let mut seen_root = false;
    let mut in_barring = false;
    let mut barring_text = String::new();
    let mut barring = None;
    loop {
        let event = reader
            .next_event()
            .map_err(|e| SettingsError::Xml(e.to_string()))?;
        match event {
            None => break,
            Some(Event::Start(start)) if !seen_root => {
                if !start.is(SETTINGS_NAMESPACE, "im-settings") {
                    return Err(SettingsError::WrongRoot);
                }
                seen_root = true;
            }
            Some(Event::Start(start)) if start.is(SETTINGS_NAMESPACE, "incoming-im-barring") => {
                in_barring = true;
                barring_text.clear();
            }
            Some(Event::Text(text)) if in_barring => barring_text.push_str(text.raw),
            Some(Event::End(end)) if in_barring && end.name.local == "incoming-im-barring" => {
                in_barring = false;
                barring = Some(match barring_text.trim() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => return Err(SettingsError::BadBarringValue(other.to_owned())),
                });
            }
            // Unknown settings are kept out of the way, not rejected.
            Some(_) => {}
        }
    }
    if !seen_root {
        return Err(SettingsError::WrongRoot);
    }
    barring.ok_or(SettingsError::MissingBarring)
}

/// Handles one PUBLISH.
pub async fn publish(server: &Arc<Server>, request: &Request) {
    let Some(user) = authenticate(server, request).await else {
        return;
    };
    let msg = &request.msg;
    let event = msg
        .header(HeaderName::Event)
        .and_then(|e| e.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if !event.eq_ignore_ascii_case(SETTINGS_EVENT_PACKAGE) {
        let allow = [("Allow-Events", SETTINGS_EVENT_PACKAGE.to_owned())];
        reply::send(server, request, 489, "Bad Event", &allow, None);
        return;
    }
    let options = &server.options;
    let expires = match msg.header(HeaderName::Expires).map(|v| v.trim().parse::<u64>()) {
        None => options.max_expires,
        Some(Ok(0)) => 0,
        Some(Ok(asked)) if asked < u64::from(options.min_expires) => {
            let min = [("Min-Expires", options.min_expires.to_string())];
            reply::send(server, request, 423, "Interval Too Brief", &min, None);
            return;
        }
        Some(Ok(asked)) => u32::try_from(asked).unwrap_or(u32::MAX).min(options.max_expires),
        Some(Err(_)) => {
            reply::send(
                server,
                request,
                400,
                "Bad Request (Expires is not a number)",
                &[],
                None,
            );
            return;
        }
    };
    let if_match = msg.header(HeaderName::SipIfMatch).map(str::trim);
    let current = server.publications.get(&user);
    if let Some(tag) = if_match {
        if current.as_ref().is_none_or(|p| p.etag != tag) {
            reply::send(server, request, 412, "Conditional Request Failed", &[], None);
            return;
        }
    }
    let body = msg.body();
    if expires == 0 {
        let Some(tag) = if_match else {
            let reason = "Bad Request (removing a publication needs SIP-If-Match)";
            reply::send(server, request, 400, reason, &[], None);
            return;
        };
        if server.publications.remove_if(&user, tag) {
            set_barring(server, &user, false).await;
        }
        reply::send(server, request, 200, "OK", &[("Expires", "0".into())], None);
        return;
    }
    if body.is_empty() {
        if if_match.is_none() {
            let reason = "Bad Request (a PUBLISH without SIP-If-Match needs a settings body)";
            reply::send(server, request, 400, reason, &[], None);
            return;
        }
    } else {
        let content_type = msg.header(HeaderName::ContentType).unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case(SETTINGS_CONTENT_TYPE) {
            let accept = [("Accept", SETTINGS_CONTENT_TYPE.to_owned())];
            reply::send(server, request, 415, "Unsupported Media Type", &accept, None);
            return;
        }
        match parse_settings(body) {
            Ok(barred) => {
                if !set_barring(server, &user, barred).await {
                    let reason = "Server Internal Error (cannot store the setting)";
                    reply::send(server, request, 500, reason, &[], None);
                    return;
                }
            }
            Err(e) => {
                reply::send(server, request, 400, &format!("Bad Request ({e})"), &[], None);
                return;
            }
        }
    }
    let etag = super::rng::token(8);
    let lifetime = Duration::from_secs(u64::from(expires));
    server.publications.put(
        &user,
        Publication {
            etag: etag.clone(),
            expires_at: tokio::time::Instant::now() + lifetime,
        },
    );
    tokio::spawn(expire_later(Arc::downgrade(server), user, etag.clone(), lifetime));
    let headers = [("SIP-ETag", etag), ("Expires", expires.to_string())];
    reply::send(server, request, 200, "OK", &headers, None);
}

/// Clears the barring when the publication `etag` is still the user's one after `lifetime`.
async fn expire_later(server: std::sync::Weak<Server>, user: String, etag: String, lifetime: Duration) {
    tokio::time::sleep(lifetime).await;
    let Some(server) = server.upgrade() else {
        return;
    };
    let due = server
        .publications
        .get(&user)
        .is_some_and(|p| p.etag == etag && p.expires_at <= tokio::time::Instant::now());
    if due && server.publications.remove_if(&user, &etag) {
        set_barring(&server, &user, false).await;
    }
}

/// Stores the barring flag in the user's policy, keeping the rest; false when the store failed.
async fn set_barring(server: &Server, user: &str, barred: bool) -> bool {
    let Ok(mut policy) = server.store.policy(user).await else {
        return false;
    };
    policy.incoming_barred = barred;
    server.store.set_policy(user, policy).await.is_ok()
}

/// The publisher's user name, or `None` after answering (407, 403).
async fn authenticate(server: &Arc<Server>, request: &Request) -> Option<String> {
    let msg = &request.msg;
    let now = server.transactions.now();
    let name = match server
        .auth
        .check(msg, Realm::Proxy, server.store.as_ref(), now)
        .await
    {
        AuthOutcome::Authenticated(name) => name,
        AuthOutcome::Challenge { stale } => {
            registrar::challenge(server, request, Realm::Proxy, stale);
            return None;
        }
        AuthOutcome::Forbidden(reason) => {
            reply::send(server, request, 403, &format!("Forbidden ({reason})"), &[], None);
            return None;
        }
    };
    let is_own = |uri: Option<&str>| {
        uri.and_then(|u| simple_im_core::sip::Uri::parse(u).ok())
            .and_then(|u| {
                let sip = u.as_sip()?;
                Some(sip.user? == name && server.is_local(&sip.host.to_string()))
            })
            .unwrap_or(false)
    };
    let from = msg.from().map(|f| f.uri_text);
    if !is_own(from) || !is_own(msg.request_uri()) {
        let reason = format!("Forbidden ({name} may publish only its own settings)");
        reply::send(server, request, 403, &reason, &[], None);
        return None;
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_BARRED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<im-settings xmlns=\"urn:simple-im:params:xml:ns:im-settings\"><incoming-im-barring>true</incoming-im-barring></im-settings>\r\n";

    #[test]
    fn the_clients_document_parses_to_its_flag() {
        assert_eq!(parse_settings(CLIENT_BARRED.as_bytes()), Ok(true));
        let open = CLIENT_BARRED.replace(">true<", ">false<");
        assert_eq!(parse_settings(open.as_bytes()), Ok(false));
    }

    #[test]
    fn unknown_settings_are_ignored() {
        let doc = format!("<im-settings xmlns=\"{SETTINGS_NAMESPACE}\"><future>x</future><incoming-im-barring> 1 </incoming-im-barring></im-settings>");
        assert_eq!(parse_settings(doc.as_bytes()), Ok(true));
    }

    #[test]
    fn bad_documents_name_their_problem() {
        assert!(matches!(
            parse_settings(b"<im-settings"),
            Err(SettingsError::Xml(_))
        ));
        assert_eq!(parse_settings(b"<other/>"), Err(SettingsError::WrongRoot));
        assert_eq!(parse_settings(b"<im-settings/>"), Err(SettingsError::WrongRoot));
        let missing = format!("<im-settings xmlns=\"{SETTINGS_NAMESPACE}\"/>");
        assert_eq!(
            parse_settings(missing.as_bytes()),
            Err(SettingsError::MissingBarring)
        );
        let bad = format!("<im-settings xmlns=\"{SETTINGS_NAMESPACE}\"><incoming-im-barring>maybe</incoming-im-barring></im-settings>");
        assert_eq!(
            parse_settings(bad.as_bytes()),
            Err(SettingsError::BadBarringValue("maybe".into()))
        );
        assert!(SettingsError::BadBarringValue("maybe".into())
            .to_string()
            .contains("maybe"));
    }
}
