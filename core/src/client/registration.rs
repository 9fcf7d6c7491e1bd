//! Registration (RFC 3261 §10) with digest authentication (RFC 7616/8760), refresh and backoff.
//!
//! | state | input | action | next state |
//! |---|---|---|---|
//! | Idle | `register()` | REGISTER (cached credentials if any) | Registering |
//! | Registering | 401/407, request carried no credentials, or challenge `stale=true` | cache the challenge, resend with credentials (nc + 1) | Registering |
//! | Registering | 401/407 after credentials | `RegistrationFailed{status}`, retry after backoff | RetryWait |
//! | Registering | 2xx | `Registered{expires}`, refresh at half the granted time | Registered |
//! | Registering | other final, or timer F | `RegistrationFailed{status or 408}`, retry after backoff | RetryWait |
//! | Registered | refresh time | REGISTER with the cached challenge's credentials (nc + 1) | Registering |
//! | RetryWait | backoff elapsed | REGISTER | Registering |
//! | any | `unregister()` | REGISTER `Expires: 0` | Unregistering |
//! | Unregistering | 401/407 after credentials, the first time (a registrar that retired the nonce without `stale=true`) | resend with the fresh challenge | Unregistering |
//! | Unregistering | any other final, or timeout | `Unregistered` | Idle |
//!
//! Backoff starts at [`RETRY_MIN_S`] and doubles up to [`RETRY_MAX_S`]; a success resets it. The
//! granted lifetime is the `expires` of **our** Contact in the 2xx (which lists every device's binding),
//! else its `Expires` header, else what we asked.

use crate::ascii_trim::starts_with_ignore_case;
use crate::ascii_trim::TrimAsciiWs;
use core::time::Duration;

use heapless::{String, Vec};

use super::config::{ClientConfig, StoredSecret};
use super::events::ClientEvent;
use super::pager::{Outgoing, Purpose};
use super::wire::{self, CallId, RequestHead};
use super::{Client, CommandError, TxOutcome};
use crate::log::{info, warning};
use crate::rng::Rng;
use crate::sip::auth::{
    select_challenge, ChallengePreference, DigestChallenge, DigestClient, DigestRequest, Secret,
};
use crate::sip::dialog::{generate_tag, Tag};
use crate::sip::header::NameAddr;
use crate::sip::transaction::{generate_branch, ClientNonInvite, ClientNonInviteState};
use crate::sip::{HeaderName, Message, Method};
use crate::time::Instant;
use crate::write::Decimal;

/// First retry delay after a failed registration.
pub const RETRY_MIN_S: u32 = 30;
/// Longest retry delay.
pub const RETRY_MAX_S: u32 = 1800;
/// Longest challenge (`WWW-Authenticate` value) cached for refreshes.
pub const MAX_CHALLENGE_LEN: usize = 320;
/// Longest `Authorization` value the client writes.
pub const MAX_AUTHORIZATION_LEN: usize = 512;

/// Where the registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RegistrationState {
    /// Not registered, not trying.
    Idle,
    /// A REGISTER is in flight.
    Registering,
    /// Registered; a refresh is scheduled.
    Registered,
    /// The last attempt failed; a retry is scheduled.
    RetryWait,
    /// A REGISTER with `Expires: 0` is in flight.
    Unregistering,
}

pub(crate) struct Registration<const REQ: usize> {
    pub(crate) state: RegistrationState,
    call_id: CallId,
    from_tag: Tag,
    cseq: u32,
    tx: Option<Outgoing<REQ>>,
    challenge: Option<(bool, String<MAX_CHALLENGE_LEN>)>,
    /// The un-REGISTER under way has already answered a plain 401 once (see `registration_response`).
    unregister_retried: bool,
    pub(crate) digest: DigestClient,
    expires_asked: u32,
    refresh_at: Option<Instant>,
    retry_at: Option<Instant>,
    backoff_s: u32,
}

impl<const REQ: usize> Registration<REQ> {
    pub(crate) fn new() -> Self {
        Registration {
            state: RegistrationState::Idle,
            call_id: CallId::new(),
            from_tag: Tag::new(),
            cseq: 0,
            tx: None,
            challenge: None,
            unregister_retried: false,
            digest: DigestClient::new(),
            expires_asked: 0,
            refresh_at: None,
            retry_at: None,
            backoff_s: RETRY_MIN_S,
        }
    }

    /// One Call-ID and From tag for every REGISTER of this boot (RFC 3261 §10.2.4 wants them stable).
    pub(crate) fn init(&mut self, rng: &mut impl Rng) {
        self.call_id = wire::new_call_id(rng);
        self.from_tag = generate_tag(rng);
    }

    pub(crate) fn owns(&self, branch: &str) -> bool {
        self.tx.as_ref().is_some_and(|t| t.branch.as_str() == branch)
    }

    pub(crate) fn take_transmit(&mut self) -> Option<&[u8]> {
        let tx = self.tx.as_mut().filter(|t| t.pending > 0)?;
        tx.pending -= 1;
        Some(tx.tx.request().as_slice())
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let tx = self.tx.as_ref().and_then(|t| t.tx.poll_timeout());
        [tx, self.refresh_at, self.retry_at].into_iter().flatten().min()
    }
}

/// Answers the best digest challenge among `values` for a request.
pub(crate) fn answer_challenge<'v>(
    digest: &mut DigestClient,
    rng: &mut impl Rng,
    config: &ClientConfig,
    values: impl IntoIterator<Item = &'v str>,
    method: &str,
    uri: &str,
    body: &[u8],
) -> Option<String<MAX_AUTHORIZATION_LEN>> {
    let challenge = strongest_challenge(&mut values.into_iter())?;
    answer_selected(
        digest,
        rng,
        config,
        &challenge,
        &DigestRequest { method, uri, body },
    )
}

/// The strongest challenge this client can answer among header values. Through `dyn Iterator` so that
/// one copy of `select_challenge` serves every caller (header values of a response, a stored value).
fn strongest_challenge<'v>(values: &mut dyn Iterator<Item = &'v str>) -> Option<DigestChallenge<'v>> {
    select_challenge(values, ChallengePreference::Strongest)
}

/// The part of [`answer_challenge`] that does not depend on where the challenges come from: one copy
/// for both callers (REGISTER and the pager's requests) instead of one per iterator type.
#[inline(never)]
fn answer_selected(
    digest: &mut DigestClient,
    rng: &mut impl Rng,
    config: &ClientConfig,
    challenge: &DigestChallenge<'_>,
    request: &DigestRequest<'_>,
) -> Option<String<MAX_AUTHORIZATION_LEN>> {
    let secret = match &config.secret {
        StoredSecret::Password(p) => Secret::Password(p.as_str()),
        StoredSecret::Ha1(h) => Secret::Ha1(h.as_str()),
    };
    let answer = digest
        .respond(challenge, config.username.as_str(), secret, request, rng)
        .map_err(|e| warning!("cannot answer the digest challenge: {:?}", e))
        .ok()?;
    let mut buf = [0u8; MAX_AUTHORIZATION_LEN];
    let len = answer.emit(&mut buf).ok()?;
    let text = core::str::from_utf8(buf.get(..len)?).ok()?;
    let mut out = String::new();
    out.push_str(text).ok()?;
    Some(out)
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// Registers (and keeps the registration refreshed until [`Client::unregister`]).
    pub fn register(&mut self, now: Instant) -> Result<(), CommandError> {
        let expires = self.config.registration_expiry_s;
        self.send_register(now, expires)
    }

    /// Removes the registration (REGISTER with `Expires: 0`); ends with `Unregistered`.
    pub fn unregister(&mut self, now: Instant) -> Result<(), CommandError> {
        self.registration.unregister_retried = false;
        self.send_register(now, 0)
    }

    /// Where the registration stands.
    pub fn registration_state(&self) -> RegistrationState {
        self.registration.state
    }

    fn send_register(&mut self, now: Instant, expires: u32) -> Result<(), CommandError> {
        let uri = wire::registrar_uri(self.config.aor.as_str());
        let transport_token = self.transport_token();
        let reliability = self.reliability();
        let reg = &mut self.registration;
        let authorization = match &reg.challenge {
            Some((proxy, value)) => answer_challenge(
                &mut reg.digest,
                &mut self.rng,
                &self.config,
                [value.as_str()],
                "REGISTER",
                uri.as_str(),
                b"",
            )
            .map(|a| (*proxy, a)),
            None => None,
        };
        reg.cseq = reg.cseq.wrapping_add(1);
        let branch = generate_branch(&mut self.rng);
        let head = RequestHead {
            method: Method::Register,
            uri: uri.as_str(),
            transport: transport_token,
            local: self.local.as_str(),
            branch: branch.as_str(),
            display_name: self.config.display_name.as_str(),
            from_uri: self.config.aor.as_str(),
            from_tag: reg.from_tag.as_str(),
            to: self.config.aor.as_str(),
            call_id: reg.call_id.as_str(),
            cseq: reg.cseq,
        };
        let user = wire::aor_user(self.config.aor.as_str());
        let transport = match self.config.transport {
            super::TransportKind::Udp => "udp",
            super::TransportKind::Tcp => "tcp",
        };
        let mut bytes: Vec<u8, REQ> = Vec::new();
        wire::fill(&mut bytes, |buf| {
            let mut w = wire::start_request(buf, &head)?;
            w.header_parts(
                HeaderName::Contact,
                &[
                    "<sip:",
                    user,
                    "@",
                    self.local.as_str(),
                    ";transport=",
                    transport,
                    ">",
                ],
            )?;
            w.header_parts(HeaderName::Expires, &[Decimal::new(expires.into()).as_str()])?;
            if let Some((proxy, value)) = &authorization {
                let name = if *proxy {
                    HeaderName::ProxyAuthorization
                } else {
                    HeaderName::Authorization
                };
                w.header(name, value.as_str())?;
            }
            w.finish(b"")
        })
        .map_err(|_| CommandError::TooLarge)?;
        let tx = ClientNonInvite::new(now, self.config.timers(), reliability, bytes);
        let mut outgoing = Outgoing {
            tx,
            branch,
            pending: 0,
            authed: authorization.is_some(),
            purpose: Purpose::Register,
            cseq: reg.cseq,
        };
        let _ = outgoing.pump();
        reg.tx = Some(outgoing);
        reg.expires_asked = expires;
        reg.refresh_at = None;
        reg.retry_at = None;
        reg.state = if expires == 0 {
            RegistrationState::Unregistering
        } else {
            RegistrationState::Registering
        };
        Ok(())
    }

    // Not inlined into `handle_response`: 120 B smaller on the pager firmware (measured).
    #[inline(never)]
    pub(crate) fn registration_response(&mut self, now: Instant, status: u16, msg: &Message<'_, '_>) {
        let Some(t) = self.registration.tx.as_mut() else {
            return;
        };
        let was_open = matches!(
            t.tx.state(),
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding
        );
        t.tx.handle_response(now, status);
        let _ = t.pump();
        let authed = t.authed;
        if !was_open || status < 200 {
            return;
        }
        let asked = self.registration.expires_asked;
        match status {
            401 | 407 => {
                let proxy = status == 407;
                let name = if proxy {
                    HeaderName::ProxyAuthenticate
                } else {
                    HeaderName::WwwAuthenticate
                };
                let value = msg
                    .values(name)
                    .find(|v| strongest_challenge(&mut core::iter::once(*v)).is_some());
                let stale = value.is_some_and(|v| contains_ignore_case(v, "stale=true"));
                let cached = value.and_then(|v| {
                    let mut s = String::new();
                    s.push_str(v).ok().map(|_| s)
                });
                // A plain 401 to our credentials usually means a wrong password; but a registrar
                // that retired our nonce may say so without `stale=true`. An un-REGISTER must not
                // be given up on that: it answers the fresh challenge once.
                let unregister_retry = asked == 0 && !self.registration.unregister_retried;
                if authed && !stale && unregister_retry {
                    self.registration.unregister_retried = true;
                }
                match cached {
                    Some(challenge) if !authed || stale || unregister_retry => {
                        self.registration.challenge = Some((proxy, challenge));
                        self.registration.digest.reset();
                        if self.send_register(now, asked).is_err() {
                            self.registration_failed(now, status);
                        }
                    }
                    _ => {
                        self.registration.challenge = None;
                        self.registration_failed(now, status);
                    }
                }
            }
            200..=299 if asked == 0 => {
                self.registration.unregister_retried = false;
                self.registration.state = RegistrationState::Idle;
                self.push_event(ClientEvent::Unregistered);
            }
            200..=299 => {
                let user = wire::aor_user(self.config.aor.as_str());
                let granted = granted_expires(msg, user, self.local.as_str()).unwrap_or(asked);
                let reg = &mut self.registration;
                reg.state = RegistrationState::Registered;
                reg.backoff_s = RETRY_MIN_S;
                reg.refresh_at = Some(now + Duration::from_secs(u64::from((granted / 2).max(1))));
                info!("registered for {} s", granted);
                self.push_event(ClientEvent::Registered { expires: granted });
            }
            _ => self.registration_failed(now, status),
        }
    }

    fn registration_failed(&mut self, now: Instant, status: u16) {
        let reg = &mut self.registration;
        if reg.expires_asked == 0 {
            reg.state = RegistrationState::Idle;
            self.push_event(ClientEvent::Unregistered);
            return;
        }
        reg.state = RegistrationState::RetryWait;
        reg.retry_at = Some(now + Duration::from_secs(u64::from(reg.backoff_s)));
        reg.backoff_s = reg.backoff_s.saturating_mul(2).min(RETRY_MAX_S);
        warning!("registration failed with {}", status);
        self.push_event(ClientEvent::RegistrationFailed { status });
    }

    pub(crate) fn registration_timeout(&mut self, now: Instant) {
        let mut failed = false;
        if let Some(t) = self.registration.tx.as_mut() {
            t.tx.handle_timeout(now);
            failed = t.pump() == Some(TxOutcome::Failed);
        }
        if failed {
            self.registration_failed(now, 408);
        }
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        if due(self.registration.refresh_at) || due(self.registration.retry_at) {
            let expires = self.config.registration_expiry_s;
            if self.send_register(now, expires).is_err() {
                self.registration_failed(now, 0);
            }
        }
    }
}

/// The lifetime of our own binding: its Contact's `expires` (a 2xx lists every binding of the AoR,
/// other devices' first maybe: RFC 3261 §10.2.4), else the `Expires` header.
fn granted_expires(msg: &Message<'_, '_>, user: &str, local: &str) -> Option<u32> {
    msg.values(HeaderName::Contact)
        .filter_map(|v| NameAddr::parse(v).ok())
        .find(|c| is_our_contact(c.uri_text, user, local))
        .and_then(|c| c.expires())
        .or_else(|| {
            msg.header(HeaderName::Expires)
                .and_then(|v| crate::write::parse_decimal(v.trim_ws()))
        })
}

/// Whether `uri` is the Contact we register, `sip:USER@LOCAL` (parameters aside).
fn is_our_contact(uri: &str, user: &str, local: &str) -> bool {
    let Some(rest) = uri.get(4..).filter(|_| starts_with_ignore_case(uri, "sip:")) else {
        return false;
    };
    let Some((u, host_port)) = rest.split_once('@') else {
        return false;
    };
    let host_port = host_port.split([';', '?', '>']).next().unwrap_or("");
    u == user && host_port.eq_ignore_ascii_case(local)
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}
