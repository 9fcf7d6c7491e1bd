//! Hosts and host:port pairs (RFC 3261 §25.1 `hostport`).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::ip::{parse_ipv4, parse_ipv6};
use crate::write::{hex_pair, Decimal, TextSink};

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
            let close = crate::substring::memchr(b']', rest.as_bytes())?;
            let addr = parse_ipv6(rest.get(..close)?)?;
            return Some((Host::Ipv6(addr), close + 2));
        }
        let len = s.bytes().position(|b| !is_domain_byte(b)).unwrap_or(s.len());
        let text = s.get(..len)?;
        if text.is_empty() || text.starts_with(['.', '-']) || crate::substring::find_str(text, "..").is_some()
        {
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
        crate::write::display_pieces(f, |out| self.describe(out))
    }
}

impl Host<'_> {
    /// Hands the host's text to `out` piece by piece, without `core::fmt` (see [`crate::write`]):
    /// a domain as written, an IPv4 address dotted, an IPv6 address in brackets in the RFC 5952 form
    /// that `Ipv6Addr`'s `Display` writes.
    #[inline(never)]
    pub fn describe(&self, out: TextSink<'_>) {
        match self {
            Host::Domain(d) => out(d),
            Host::Ipv4(a) => describe_ipv4(a, out),
            Host::Ipv6(a) => {
                out("[");
                describe_ipv6(a, out);
                out("]");
            }
        }
    }
}

fn describe_ipv4(address: &Ipv4Addr, out: TextSink<'_>) {
    for (i, octet) in address.octets().into_iter().enumerate() {
        if i > 0 {
            out(".");
        }
        out(Decimal::new(octet.into()).as_str());
    }
}

/// RFC 5952 §4: lowercase hex without leading zeros, the longest run of two or more zero groups (the
/// first of equal runs) written `::`, and an IPv4-mapped address as `::ffff:a.b.c.d`.
fn describe_ipv6(address: &Ipv6Addr, out: TextSink<'_>) {
    if let Some(v4) = address.to_ipv4_mapped() {
        out("::ffff:");
        describe_ipv4(&v4, out);
        return;
    }
    let groups = address.segments();
    let (mut best_start, mut best_len, mut run_start, mut run_len) = (0, 0, 0, 0);
    for (i, &group) in groups.iter().enumerate() {
        if group != 0 {
            run_len = 0;
            continue;
        }
        if run_len == 0 {
            run_start = i;
        }
        run_len += 1;
        if run_len > best_len {
            (best_start, best_len) = (run_start, run_len);
        }
    }
    // One pass: the run (when two groups or longer) becomes "::", other groups are joined by ":".
    let compress = best_len > 1;
    let mut i = 0;
    while let Some(&group) = groups.get(i) {
        if compress && i == best_start {
            out("::");
            i += best_len;
            continue;
        }
        if i > 0 && !(compress && i == best_start + best_len) {
            out(":");
        }
        let digits = [group >> 12, group >> 8, group >> 4, group].map(|n| hex_pair((n & 0xf) as u8)[1]);
        let first = digits.iter().position(|&d| d != b'0').unwrap_or(digits.len() - 1);
        out(core::str::from_utf8(digits.get(first..).unwrap_or(&[])).unwrap_or("0"));
        i += 1;
    }
}

/// Parses `host [":" port]` at the start of `s`, returning host, port and bytes used.
pub(crate) fn parse_hostport(s: &str) -> Option<(Host<'_>, Option<u16>, usize)> {
    let (host, mut used) = Host::parse_prefix(s)?;
    let mut port = None;
    if s.as_bytes().get(used) == Some(&b':') {
        let digits = s.get(used + 1..)?;
        let n = digits.bytes().take_while(u8::is_ascii_digit).count();
        port = Some(u16::try_from(crate::write::parse_decimal(digits.get(..n)?)?).ok()?);
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

    /// The text written without `core::fmt` equals what std's address `Display` writes, for every
    /// shape of zero runs, IPv4-mapped and IPv4-compatible addresses and the extremes.
    #[test]
    fn describe_writes_what_std_displays() {
        let mut cases = std::vec![
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0280),
            Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0xc000, 0x0280),
            Ipv6Addr::new(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1),
            Ipv6Addr::new(0x2001, 0, 0, 1, 0, 0, 0x0a0b, 0),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1),
            Ipv6Addr::new(1, 0, 0, 0, 0, 0, 0, 0),
        ];
        // Every pattern of zero and non-zero groups, with varied digit counts.
        for mask in 0u16..256 {
            let mut groups = [0u16; 8];
            for (i, g) in groups.iter_mut().enumerate() {
                if mask & (1 << i) != 0 {
                    *g = [0x1, 0x2f, 0x3a0, 0xbeef][i % 4];
                }
            }
            cases.push(Ipv6Addr::from(groups));
        }
        for address in cases {
            let mut text = std::string::String::new();
            Host::Ipv6(address).describe(&mut |piece| text.push_str(piece));
            assert_eq!(text, std::format!("[{address}]"));
        }
        for address in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(192, 0, 2, 255),
            Ipv4Addr::BROADCAST,
        ] {
            assert_eq!(std::format!("{}", Host::Ipv4(address)), std::format!("{address}"));
        }
        assert_eq!(std::format!("{}", Host::Domain("Example.COM")), "Example.COM");
    }
}
