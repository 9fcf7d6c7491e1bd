//! Hosts and host:port pairs (RFC 3261 §25.1 `hostport`).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::ip::{parse_ipv4, parse_ipv6};

/// A host: a domain name, an IPv4 address, or an IPv6 reference (written `[...]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    /// A domain name as written (compare with [`Host::eq_host`], which ignores case).
    Domain(&'a str),
    /// A dotted-quad IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference; written with brackets.
    Ipv6(Ipv6Addr),
}

#[cfg(feature = "defmt")]
impl defmt::Format for Host<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Host::Domain(d) => defmt::write!(f, "{}", d),
            Host::Ipv4(a) => defmt::write!(f, "{}", a.octets()),
            Host::Ipv6(a) => defmt::write!(f, "[{}]", a.segments()),
        }
    }
}

/// Whether `b` may appear in a domain name. `_` is accepted although RFC 1034 forbids it, because it
/// occurs in deployed names and rejecting it helps no one.
fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

impl<'a> Host<'a> {
    /// Parses a host at the start of `s`; returns it and the number of bytes it used.
    pub fn parse_prefix(s: &'a str) -> Option<(Host<'a>, usize)> {
        if let Some(rest) = s.strip_prefix('[') {
            let close = memchr::memchr(b']', rest.as_bytes())?;
            let addr = parse_ipv6(rest.get(..close)?)?;
            return Some((Host::Ipv6(addr), close + 2));
        }
        let len = s.bytes().position(|b| !is_domain_byte(b)).unwrap_or(s.len());
        let text = s.get(..len)?;
        if text.is_empty() || text.starts_with(['.', '-']) || text.contains("..") {
            return None;
        }
        let host = match parse_ipv4(text) {
            Some(addr) => Host::Ipv4(addr),
            None => Host::Domain(text),
        };
        Some((host, len))
    }

    /// Parses a whole string as a host.
    pub fn parse(s: &'a str) -> Option<Host<'a>> {
        match Host::parse_prefix(s) {
            Some((host, used)) if used == s.len() => Some(host),
            _ => None,
        }
    }

    /// Host equality per RFC 3261 §19.1.4: domain names compare case-insensitively, addresses by value.
    pub fn eq_host(&self, other: &Host<'_>) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
            (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Parses `host [":" port]` at the start of `s`, returning host, port and bytes used.
pub(crate) fn parse_hostport(s: &str) -> Option<(Host<'_>, Option<u16>, usize)> {
    let (host, mut used) = Host::parse_prefix(s)?;
    let mut port = None;
    if s.as_bytes().get(used) == Some(&b':') {
        let digits = s.get(used + 1..)?;
        let n = digits.bytes().take_while(u8::is_ascii_digit).count();
        port = Some(digits.get(..n)?.parse::<u16>().ok()?);
        used += 1 + n;
    }
    Some((host, port, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_host_forms() {
        assert_eq!(
            Host::parse("192.0.2.2"),
            Some(Host::Ipv4(Ipv4Addr::new(192, 0, 2, 2)))
        );
        assert_eq!(
            Host::parse("[2001:db8::10]"),
            Some(Host::Ipv6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)))
        );
        assert_eq!(Host::parse("Example.COM"), Some(Host::Domain("Example.COM")));
        assert!(Host::parse("example.com")
            .unwrap()
            .eq_host(&Host::Domain("EXAMPLE.com")));
        assert_eq!(Host::parse(""), None);
        assert_eq!(Host::parse("[::1"), None);
        assert_eq!(Host::parse("a..b"), None);
    }

    #[test]
    fn hostport_reads_the_port_and_rejects_overflow() {
        assert_eq!(
            parse_hostport("[::1]:5060;x"),
            Some((Host::Ipv6(Ipv6Addr::LOCALHOST), Some(5060), 10))
        );
        assert_eq!(parse_hostport("h:99999"), None);
        assert_eq!(parse_hostport("h:"), None);
    }
}
