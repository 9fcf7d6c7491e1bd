//! Content-Type, Event, Subscription-State, token lists (Allow, Supported, Require, Proxy-Require,
//! Unsupported, Allow-Events) and Accept-Contact feature sets.

use super::error::{HeaderError, HeaderErrorKind};
use super::lex::{split_list, Cursor, SplitList};
use super::params::Params;
use super::scalar::parse_number;
use crate::sip::method::is_token_byte;

/// `Content-Type: type/subtype;params` (RFC 3261 §20.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ContentType<'a> {
    /// Top-level type (`application`).
    pub kind: &'a str,
    /// Subtype (`sdp`).
    pub subtype: &'a str,
    /// Parameters (`boundary`, `charset`).
    pub params: Params<'a>,
}

impl<'a> ContentType<'a> {
    /// Parses a media type (also usable for one Accept item).
    pub fn parse(value: &'a str) -> Result<ContentType<'a>, HeaderError> {
        let mut c = Cursor::new(value);
        c.skip_lws();
        let kind = c.token("a media type")?;
        c.expect_sep(b'/', "'/' in the media type")?;
        let subtype = c.token("a media subtype")?;
        let params = Params::from_raw(c.params()?);
        c.finish()?;
        Ok(ContentType {
            kind,
            subtype,
            params,
        })
    }

    /// Case-insensitive comparison with `type/subtype`.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

/// `Event: package[.template];id=...` (RFC 6665 §8.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Event<'a> {
    /// Event package with any template (`presence`, `presence.winfo`).
    pub package: &'a str,
    /// Parameters.
    pub params: Params<'a>,
}

impl<'a> Event<'a> {
    /// Parses an Event / Allow-Events item.
    pub fn parse(value: &'a str) -> Result<Event<'a>, HeaderError> {
        let mut c = Cursor::new(value);
        c.skip_lws();
        let package = c.token("an event package")?;
        let params = Params::from_raw(c.params()?);
        c.finish()?;
        Ok(Event { package, params })
    }

    /// The `id` parameter.
    pub fn id(&self) -> Option<&'a str> {
        self.params.get("id").flatten()
    }
}

/// The state in a Subscription-State header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SubState<'a> {
    /// `active`.
    Active,
    /// `pending`.
    Pending,
    /// `terminated`.
    Terminated,
    /// An extension state.
    Other(&'a str),
}

/// `Subscription-State` (RFC 6665 §8.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SubscriptionState<'a> {
    /// The state.
    pub state: SubState<'a>,
    /// `expires` parameter.
    pub expires: Option<u32>,
    /// `reason` parameter.
    pub reason: Option<&'a str>,
    /// `retry-after` parameter.
    pub retry_after: Option<u32>,
    /// All parameters.
    pub params: Params<'a>,
}

impl<'a> SubscriptionState<'a> {
    /// Parses a Subscription-State value.
    pub fn parse(value: &'a str) -> Result<SubscriptionState<'a>, HeaderError> {
        let mut c = Cursor::new(value);
        c.skip_lws();
        let token = c.token("a subscription state")?;
        let params = Params::from_raw(c.params()?);
        c.finish()?;
        let state = match token {
            t if t.eq_ignore_ascii_case("active") => SubState::Active,
            t if t.eq_ignore_ascii_case("pending") => SubState::Pending,
            t if t.eq_ignore_ascii_case("terminated") => SubState::Terminated,
            t => SubState::Other(t),
        };
        let seconds = |name: &'static str| -> Result<Option<u32>, HeaderError> {
            match params.get(name).flatten() {
                None => Ok(None),
                Some(v) => parse_number(v, u64::from(u32::MAX), name)
                    .map(|n| Some(u32::try_from(n).unwrap_or(u32::MAX)))
                    .map_err(|e| HeaderError::new(e.kind, 0)),
            }
        };
        Ok(SubscriptionState {
            state,
            expires: seconds("expires")?,
            reason: params.get("reason").flatten(),
            retry_after: seconds("retry-after")?,
            params,
        })
    }
}

/// Iterates over the tokens of a token-list header value (Allow, Supported, Require, Proxy-Require,
/// Unsupported, Allow-Events): comma-separated, LWS-trimmed, empty items skipped.
pub fn tokens(value: &str) -> SplitList<'_> {
    split_list(value)
}

/// Checks that a token-list value holds only tokens.
pub fn check_tokens(value: &str) -> Result<(), HeaderError> {
    for t in split_list(value) {
        if !t.bytes().all(is_token_byte) {
            let at = (t.as_ptr() as usize).saturating_sub(value.as_ptr() as usize);
            return Err(HeaderError::new(HeaderErrorKind::Expected("a token"), at));
        }
    }
    Ok(())
}

/// One Accept-Contact / Reject-Contact item: `*` followed by feature parameters (RFC 3841 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FeatureSet<'a> {
    /// Feature parameters (`+sip.message`, `require`, `explicit`).
    pub params: Params<'a>,
}

impl<'a> FeatureSet<'a> {
    /// Parses one item.
    pub fn parse(value: &'a str) -> Result<FeatureSet<'a>, HeaderError> {
        let mut c = Cursor::new(value);
        c.skip_lws();
        if !c.eat(b'*') {
            return Err(c.err(HeaderErrorKind::Expected("'*'")));
        }
        let params = Params::from_raw(c.params()?);
        c.finish()?;
        Ok(FeatureSet { params })
    }

    /// Whether the `require` flag is present.
    pub fn require(&self) -> bool {
        self.params.contains("require")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_with_params() {
        let ct = ContentType::parse("multipart/mixed;boundary=7a9cbec02ceef655").unwrap();
        assert!(ct.is("Multipart", "MIXED"));
        assert_eq!(ct.params.get("boundary"), Some(Some("7a9cbec02ceef655")));
        assert!(ContentType::parse("application").is_err());
    }

    #[test]
    fn event_and_subscription_state() {
        let e = Event::parse("presence.winfo;id=12").unwrap();
        assert_eq!((e.package, e.id()), ("presence.winfo", Some("12")));
        let s = SubscriptionState::parse("terminated;reason=timeout;retry-after=30").unwrap();
        assert_eq!(
            (s.state, s.reason, s.retry_after, s.expires),
            (SubState::Terminated, Some("timeout"), Some(30), None)
        );
        assert!(SubscriptionState::parse("active;expires=99999999999").is_err());
    }

    #[test]
    fn token_lists_and_feature_sets() {
        assert!(tokens("nothingSupportsThis, nothingSupportsThisEither")
            .eq(["nothingSupportsThis", "nothingSupportsThisEither"]));
        assert!(check_tokens("a b").is_err());
        let f = FeatureSet::parse("*;+sip.message;require;explicit").unwrap();
        assert!(f.require() && f.params.contains("+sip.message"));
    }
}
