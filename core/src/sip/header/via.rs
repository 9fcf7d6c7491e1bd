//! `Via` values (RFC 3261 §20.42, §18.2.1; rport from RFC 3581).

use super::error::{HeaderError, HeaderErrorKind};
use super::lex::Cursor;
use super::params::Params;
use crate::sip::uri::Host;
use core::fmt;

/// The RFC 3261 branch prefix that marks a globally unique transaction id (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One via-parm (split a multi-valued `Via` line with [`super::split_list`] or
/// [`crate::sip::message::Message::values`] first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name, normally `SIP`.
    pub protocol: &'a str,
    /// Protocol version, normally `2.0`.
    pub version: &'a str,
    /// Transport as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or an unknown token).
    pub transport: &'a str,
    /// sent-by host.
    pub host: Host<'a>,
    /// sent-by port.
    pub port: Option<u16>,
    /// All parameters, including the ones extracted below.
    pub params: Params<'a>,
    /// `branch`.
    pub branch: Option<&'a str>,
    /// `received`.
    pub received: Option<&'a str>,
    /// `rport`: `Some(None)` when requested without a value, `Some(Some(port))` when filled in.
    pub rport: Option<Option<u16>>,
    /// `maddr`.
    pub maddr: Option<&'a str>,
    /// `ttl`.
    pub ttl: Option<u8>,
}

impl<'a> Via<'a> {
    /// Parses one via-parm. LWS is allowed around `/`, `:` and parameter separators.
    pub fn parse(value: &'a str) -> Result<Via<'a>, HeaderError> {
        let mut c = Cursor::new(value);
        c.skip_lws();
        if c.at_end() {
            return Err(c.err(HeaderErrorKind::Empty));
        }
        let protocol = c.token("a protocol name")?;
        c.expect_sep(b'/', "'/' after the protocol name")?;
        let version = c.token("a protocol version")?;
        c.expect_sep(b'/', "'/' after the protocol version")?;
        let transport = c.token("a transport")?;
        if !c.skip_lws() {
            return Err(c.err(HeaderErrorKind::Expected("whitespace before the sent-by host")));
        }
        let (host, port) = sent_by(&mut c)?;
        let params = Params::from_raw(c.params()?);
        c.finish()?;
        let mut via = Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
            branch: None,
            received: None,
            rport: None,
            maddr: None,
            ttl: None,
        };
        for p in params {
            let bad = |what| HeaderError::new(HeaderErrorKind::Expected(what), 0);
            match (p.name, p.value) {
                (n, Some(v)) if n.eq_ignore_ascii_case("branch") => via.branch = Some(v),
                (n, Some(v)) if n.eq_ignore_ascii_case("received") => via.received = Some(v),
                (n, Some(v)) if n.eq_ignore_ascii_case("maddr") => via.maddr = Some(v),
                (n, v) if n.eq_ignore_ascii_case("rport") => {
                    via.rport = Some(match v {
                        None => None,
                        Some(v) => Some(
                            crate::write::parse_decimal(v)
                                .and_then(|n| u16::try_from(n).ok())
                                .ok_or_else(|| bad("a port number in rport"))?,
                        ),
                    })
                }
                (n, Some(v)) if n.eq_ignore_ascii_case("ttl") => {
                    via.ttl = Some(
                        crate::write::parse_decimal(v)
                            .and_then(|n| u8::try_from(n).ok())
                            .ok_or_else(|| bad("a ttl from 0 to 255"))?,
                    )
                }
                _ => {}
            }
        }
        Ok(via)
    }

    /// The transaction id part of an RFC 3261 branch: the text after the magic cookie, when the branch
    /// has the cookie and something after it (RFC 4475 badbranch has the bare cookie, which identifies
    /// nothing and so gives `None`).
    pub fn rfc3261_branch_id(&self) -> Option<&'a str> {
        self.branch
            .and_then(|b| b.strip_prefix(MAGIC_COOKIE))
            .filter(|id| !id.is_empty())
    }

    /// Whether the branch starts with the RFC 3261 magic cookie.
    pub fn has_magic_cookie(&self) -> bool {
        self.branch.is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }
}

fn sent_by<'a>(c: &mut Cursor<'a>) -> Result<(Host<'a>, Option<u16>), HeaderError> {
    let rest = c.s.get(c.pos..).unwrap_or("");
    let (host, used) = Host::parse_prefix(rest).ok_or(c.err(HeaderErrorKind::Expected("a sent-by host")))?;
    c.pos += used;
    // RFC 3261 COLON = SWS ":" SWS, so LWS may surround the port's colon.
    let save = c.pos;
    c.skip_lws();
    if c.eat(b':') {
        c.skip_lws();
        let port = c.number(u64::from(u16::MAX), "the sent-by port")?;
        return Ok((host, u16::try_from(port).ok()));
    }
    c.pos = save;
    Ok((host, None))
}

impl fmt::Display for Via<'_> {
    /// Writes the canonical form: no LWS except one SP before sent-by; parameters as parsed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        )?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for p in self.params {
            write!(f, ";{}", p.name)?;
            if let Some(v) = p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn parses_folded_via_with_lws_everywhere() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "UDP"));
        assert_eq!(v.host, Host::Ipv4(Ipv4Addr::new(192, 0, 2, 2)));
        assert_eq!(v.branch, Some("390skdjuw"));
        assert!(!v.has_magic_cookie());
        let v = Via::parse(" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239").unwrap();
        assert_eq!(v.rfc3261_branch_id(), Some("30239"));
    }

    #[test]
    fn extracts_well_known_params_and_ipv6_sent_by() {
        let v = Via::parse("SIP/2.0/TCP [2001:db8::9] : 5070;rport;received=192.0.2.1;maddr=224.2.0.1;ttl=16;branch=z9hG4bKx").unwrap();
        assert_eq!(v.host, Host::Ipv6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9)));
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.rport, Some(None));
        assert_eq!(
            (v.received, v.maddr, v.ttl),
            (Some("192.0.2.1"), Some("224.2.0.1"), Some(16))
        );
        assert_eq!(
            Via::parse("SIP/2.0/UDP h;rport=5061").unwrap().rport,
            Some(Some(5061))
        );
    }

    #[test]
    fn rejects_malformed_vias() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP h;ttl=300").is_err());
        assert!(Via::parse("SIP/2.0/UDP h:99999").is_err());
        assert!(Via::parse("SIP/2.0/UDP h junk").is_err());
        assert_eq!(Via::parse("  ").unwrap_err().kind, HeaderErrorKind::Empty);
    }
}
