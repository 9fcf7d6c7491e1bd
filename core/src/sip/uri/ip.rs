//! IPv4 and IPv6 address text, parsed without `core::net`'s generic parser.
//!
//! They accept exactly what `Ipv4Addr::from_str` and `Ipv6Addr::from_str` accept (a property test
//! compares them on random text), in a fraction of the code: on a Cortex-M device the standard parser
//! and its helpers are about 2.5 KB, which a firmware budgeted at 64 KiB for the whole client notices.
//!
//! | form | rule |
//! |---|---|
//! | IPv4 | four decimal octets separated by `.`, each 1-3 digits, at most 255, no leading zero (`01`) |
//! | IPv6 group | 1-4 hex digits (leading zeros allowed), groups separated by `:` |
//! | IPv6 `::` | at most once, standing for at least one zero group |
//! | IPv6 tail | an IPv4 address may take the place of the last two groups |

use core::net::{Ipv4Addr, Ipv6Addr};

/// Parses a whole string as an IPv4 address (`192.0.2.1`).
pub fn parse_ipv4(text: &str) -> Option<Ipv4Addr> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let addr = cursor.ipv4()?;
    cursor.at_end().then_some(addr)
}

/// Parses a whole string as an IPv6 address, without brackets (`2001:db8::1`, `::ffff:192.0.2.1`).
pub fn parse_ipv6(text: &str) -> Option<Ipv6Addr> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let addr = cursor.ipv6()?;
    cursor.at_end().then_some(addr)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        if matched {
            self.at += 1;
        }
        matched
    }

    /// Up to `max_digits` digits of `radix`; none, or a leading zero when not allowed, is `None` with
    /// the cursor unmoved.
    fn number(&mut self, radix: u32, max_digits: usize, allow_zero_prefix: bool) -> Option<u32> {
        let start = self.at;
        let mut value = 0u32;
        let mut digits = 0;
        while digits < max_digits {
            let Some(digit) = self.peek().and_then(|b| char::from(b).to_digit(radix)) else {
                break;
            };
            value = value * radix + digit;
            self.at += 1;
            digits += 1;
        }
        let leading_zero = self.bytes.get(start) == Some(&b'0');
        if digits == 0 || (!allow_zero_prefix && leading_zero && digits > 1) {
            self.at = start;
            return None;
        }
        Some(value)
    }

    fn ipv4(&mut self) -> Option<Ipv4Addr> {
        let start = self.at;
        let mut octets = [0u8; 4];
        for (i, octet) in octets.iter_mut().enumerate() {
            let parsed = (i == 0 || self.eat(b'.'))
                .then(|| self.number(10, 3, false))
                .flatten()
                .and_then(|n| u8::try_from(n).ok());
            match parsed {
                Some(value) => *octet = value,
                None => {
                    self.at = start;
                    return None;
                }
            }
        }
        Some(Ipv4Addr::from(octets))
    }

    /// Reads up to `groups.len()` groups; returns how many, and whether the last two came from an
    /// embedded IPv4 address (which must end the address).
    fn groups(&mut self, groups: &mut [u16]) -> (usize, bool) {
        let limit = groups.len();
        for i in 0..limit {
            let start = self.at;
            if i + 1 < limit {
                // Like a group, the address follows a `:` unless it comes first.
                if let Some(v4) = (i == 0 || self.eat(b':')).then(|| self.ipv4()).flatten() {
                    let [a, b, c, d] = v4.octets();
                    if let Some(pair) = groups.get_mut(i..i + 2) {
                        pair.copy_from_slice(&[u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])]);
                    }
                    return (i + 2, true);
                }
                self.at = start;
            }
            let group = (i == 0 || self.eat(b':'))
                .then(|| self.number(16, 4, true))
                .flatten();
            match (group, groups.get_mut(i)) {
                (Some(value), Some(slot)) => *slot = value as u16, // at most 4 hex digits
                _ => {
                    self.at = start;
                    return (i, false);
                }
            }
        }
        (limit, false)
    }

    fn ipv6(&mut self) -> Option<Ipv6Addr> {
        let mut head = [0u16; 8];
        let (head_len, head_v4) = self.groups(&mut head);
        if head_len == 8 {
            return Some(Ipv6Addr::from(head));
        }
        if head_v4 || !(self.eat(b':') && self.eat(b':')) {
            return None;
        }
        // `::` stands for at least one zero group, so the tail has room for 7 - head groups.
        let mut tail = [0u16; 7];
        let room = 7 - head_len;
        let (tail_len, _) = self.groups(tail.get_mut(..room)?);
        let mut all = [0u16; 8];
        all.get_mut(..head_len)?.copy_from_slice(head.get(..head_len)?);
        all.get_mut(8 - tail_len..)?
            .copy_from_slice(tail.get(..tail_len)?);
        Some(Ipv6Addr::from(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::str::FromStr;
    use proptest::prelude::*;
    use std::format;
    use std::string::ToString;
    use std::vec::Vec;

    fn same_as_core(text: &str) {
        assert_eq!(parse_ipv4(text), Ipv4Addr::from_str(text).ok(), "IPv4 {text:?}");
        assert_eq!(parse_ipv6(text), Ipv6Addr::from_str(text).ok(), "IPv6 {text:?}");
    }

    #[test]
    fn agrees_with_core_on_the_corner_cases() {
        for text in [
            "",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4.5",
            "1..2.3",
            "0001.2.3.4",
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::8",
            "1:2:3:4:5:6::7",
            "::1:2:3:4:5:6:7",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            ":::",
            "1:::2",
            "::ffff:192.0.2.1",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1.2.3.4::",
            "::1.2.3.4:5",
            "00000::1",
            "0000::1",
            "fFfF::",
            "2001:db8::10",
            ":1::",
            "1:",
            ":1",
            "1::2::3",
            "::01.2.3.4",
            "g::",
            "1:2:3:4:5:6:7:8::",
            "::1.2.3",
        ] {
            same_as_core(text);
        }
    }

    proptest! {
        #[test]
        fn agrees_with_core_on_random_text(text in "[0-9a-fA-Fg:.]{0,46}") {
            same_as_core(&text);
        }

        #[test]
        fn agrees_with_core_on_every_written_form_of_an_address(segments in any::<[u16; 8]>(), zeros in 0usize..8) {
            let mut segments = segments;
            for s in segments.iter_mut().take(zeros) {
                *s = 0;
            }
            segments.rotate_left(zeros / 2);
            let v6 = Ipv6Addr::from(segments);
            same_as_core(&v6.to_string());
            same_as_core(&Ipv4Addr::from(u32::from(segments[0]) << 16 | u32::from(segments[1])).to_string());
            let full = segments.iter().map(|s| format!("{s:04x}")).collect::<Vec<_>>().join(":");
            same_as_core(&full);
        }
    }
}
