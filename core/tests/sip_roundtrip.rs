//! Round-trip and totality properties of the SIP codec:
//! - URI, NameAddr and Via values re-parse to the same fields from their text and from their Display;
//! - `parse(emit(parse(x)))` equals `parse(x)` up to the documented canonicalisation, and `emit` is
//!   idempotent; the framer delimits every emitted message and says Partial for every prefix;
//! - no parser, validator or emitter panics on arbitrary or mutated input.

use proptest::prelude::*;
use simple_im_core::sip::builder::emit;
use simple_im_core::sip::framer::{frame, Framed};
use simple_im_core::sip::header::{split_list, CSeq, Contact, ContentType, NameAddr, Param, Via};
use simple_im_core::sip::uri::{Host, Uri};
use simple_im_core::sip::validate::check;
use simple_im_core::sip::{Header, HeaderName, Message, ParseConfig};
use std::net::{Ipv4Addr, Ipv6Addr};

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{0,8}){0,2}",
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
    ]
}

fn uri_params() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    prop::collection::vec(
        ("x[a-z0-9-]{0,6}", prop::option::of("[a-zA-Z0-9._%-]{1,6}")),
        0..4,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(n, val)| (n, val.map(|s| s.replace('%', "%25"))))
            .collect()
    })
}

#[derive(Debug, Clone)]
struct SipParts {
    secure: bool,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    params: Vec<(String, Option<String>)>,
    headers: Option<String>,
}

impl SipParts {
    fn text(&self) -> String {
        let mut s = String::from(if self.secure { "sips:" } else { "sip:" });
        if let Some(u) = &self.user {
            s += u;
            if let Some(p) = &self.password {
                s += ":";
                s += p;
            }
            s += "@";
        }
        s += &self.host;
        if let Some(p) = self.port {
            s += &format!(":{p}");
        }
        for (n, v) in &self.params {
            s += ";";
            s += n;
            if let Some(v) = v {
                s += "=";
                s += v;
            }
        }
        if let Some(h) = &self.headers {
            s += "?";
            s += h;
        }
        s
    }
}

fn sip_parts() -> impl Strategy<Value = SipParts> {
    (
        any::<bool>(),
        prop::option::of("[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,10}(%[0-9A-F]{2})?"),
        prop::option::of("[a-zA-Z0-9&=+$,]{0,6}"),
        host(),
        prop::option::of(any::<u16>()),
        uri_params(),
        prop::option::of("[a-z]{1,5}=[a-z0-9]{0,5}(&[a-z]{1,5}=[a-z0-9%]{0,5})?"),
    )
        .prop_map(|(secure, user, password, host, port, params, headers)| SipParts {
            password: user.as_ref().and(password),
            secure,
            user,
            host,
            port,
            params,
            headers: headers.map(|h| h.replace('%', "%25")),
        })
}

fn lws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", " ", "  ", "\t", "\r\n ", " \r\n\t "])
}

fn params_of(v: impl IntoIterator<Item = Param<'static>>) -> Vec<(String, Option<String>)> {
    v.into_iter()
        .map(|p| (p.name.to_owned(), p.value.map(str::to_owned)))
        .collect()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

proptest! {
    #[test]
    fn sip_uri_round_trips(parts in sip_parts()) {
        let text = leak(parts.text());
        let uri = Uri::parse(text).unwrap();
        let sip = *uri.as_sip().unwrap();
        prop_assert_eq!(sip.secure, parts.secure);
        prop_assert_eq!(sip.user, parts.user.as_deref());
        prop_assert_eq!(sip.password, parts.password.as_deref());
        prop_assert_eq!(sip.host, Host::parse(&parts.host).unwrap());
        prop_assert_eq!(sip.port, parts.port);
        prop_assert_eq!(params_of(sip.params), parts.params.clone());
        prop_assert_eq!(sip.headers, parts.headers.as_deref());
        prop_assert_eq!(uri.to_string(), text);
        prop_assert!(uri.equivalent(&uri));
    }

    #[test]
    fn name_addr_round_trips(
        parts in sip_parts(),
        display in prop::option::of(prop_oneof![
            "[a-zA-Z0-9 ,<>;:@\\\\\"\u{e9}\u{4e2d}]{0,10}".prop_map(|s| (true, s)),
            "[a-zA-Z][a-zA-Z0-9.!%*_+`'~-]{0,5}( [a-zA-Z0-9]{1,5}){0,2}".prop_map(|s| (false, s)),
        ]),
        bracket in any::<bool>(),
        params in prop::collection::vec(("[a-z][a-z0-9-]{0,6}", prop::option::of(prop_oneof![
            "[a-zA-Z0-9.-]{1,6}",
            "[a-z ;,]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ])), 0..4),
        sep in lws(),
    ) {
        let uri_text = parts.text();
        let bracketed = bracket || display.is_some() || uri_text.contains([';', '?', ',']);
        let mut text = String::new();
        let mut display_raw = None;
        if let Some((quoted, d)) = &display {
            if *quoted {
                let escaped = d.replace('\\', "\\\\").replace('"', "\\\"");
                text += &format!("\"{escaped}\"{sep}");
                display_raw = Some(escaped);
            } else {
                text += &format!("{d} ");
                display_raw = Some(d.clone());
            }
        }
        text += &if bracketed { format!("<{uri_text}>") } else { uri_text.clone() };
        for (n, v) in &params {
            text += &format!("{sep};{sep}{n}");
            if let Some(v) = v {
                text += &format!("{sep}={sep}{v}");
            }
        }
        let text = leak(text);
        let na = NameAddr::parse(text).unwrap();
        prop_assert_eq!(na.display_name.map(|d| d.raw.to_owned()), display_raw);
        if let Some((_, d)) = &display {
            if display.as_ref().is_some_and(|(q, _)| *q) {
                prop_assert_eq!(na.display_name.unwrap().chars().collect::<String>(), d.clone());
            }
        }
        prop_assert_eq!(na.uri, Uri::parse(leak(uri_text)).unwrap());
        prop_assert_eq!(params_of(na.params), params.clone());
        let canonical = leak(na.to_string());
        let again = NameAddr::parse(canonical).unwrap();
        prop_assert_eq!(again.uri, na.uri);
        prop_assert_eq!(params_of(again.params), params);
        prop_assert_eq!(again.display_name.map(|d| d.raw), na.display_name.map(|d| d.raw));
    }

    #[test]
    fn via_round_trips(
        transport in "[A-Z]{2,5}",
        host in host(),
        port in prop::option::of(any::<u16>()),
        params in prop::collection::vec(("x[a-z0-9]{0,5}", prop::option::of("[a-zA-Z0-9.-]{1,8}")), 0..4),
        branch in prop::option::of("z9hG4bK[a-zA-Z0-9.-]{0,10}"),
        s in lws(),
    ) {
        let mut text = format!("SIP{s}/{s}2.0{s}/{s}{transport} {s}{host}");
        if let Some(p) = port {
            text += &format!("{s}:{s}{p}");
        }
        let mut all = params.clone();
        if let Some(b) = &branch {
            all.insert(0, ("branch".to_owned(), Some(b.clone())));
        }
        for (n, v) in &all {
            text += &format!("{s};{s}{n}");
            if let Some(v) = v {
                text += &format!("{s}={s}{v}");
            }
        }
        let text = leak(text);
        let via = Via::parse(text).unwrap();
        prop_assert_eq!((via.protocol, via.version, via.transport), ("SIP", "2.0", transport.as_str()));
        prop_assert_eq!(via.host, Host::parse(&host).unwrap());
        prop_assert_eq!(via.port, port);
        prop_assert_eq!(via.branch, branch.as_deref());
        prop_assert_eq!(params_of(via.params), all.clone());
        let canonical = leak(via.to_string());
        let again = Via::parse(canonical).unwrap();
        prop_assert_eq!((again.host, again.port, again.branch), (via.host, via.port, via.branch));
        prop_assert_eq!(params_of(again.params), all);
    }
}

fn header_value() -> impl Strategy<Value = String> {
    (
        "[A-Za-z0-9;=,<>@.:\"/-]{1,8}",
        prop::collection::vec((lws(), "[A-Za-z0-9;=,<>@.:\"/-]{1,8}"), 0..3),
    )
        .prop_map(|(first, rest)| {
            let mut v = first;
            for (sep, word) in rest {
                v += if sep.is_empty() { " " } else { sep };
                v += &word;
            }
            v
        })
}

/// Replaces each LWS run containing a line break with one SP (the canonical form's unfolding).
fn unfold(v: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in v.chars() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            run.push(c);
        } else {
            if run.contains(['\r', '\n']) {
                out.push(' ');
            } else {
                out += &run;
            }
            run.clear();
            out.push(c);
        }
    }
    out
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    let start = prop_oneof![
        ("[A-Z][A-Za-z0-9.!%*_+`'~-]{0,8}", sip_parts())
            .prop_map(|(m, u)| format!("{m} {} SIP/2.0", u.text())),
        (100u16..700, "[A-Za-z]{0,6}( [A-Za-z]{1,6}){0,2}").prop_map(|(c, r)| format!("SIP/2.0 {c} {r}")),
    ];
    let names = prop::sample::select(vec![
        "Via", "v", "To", "t", "Call-ID", "i", "X-Custom", "Subject", "s", "CSeq", "VIA",
    ]);
    (
        start,
        prop::collection::vec((names, header_value()), 0..8),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(start, headers, body)| {
            let mut text = start + "\r\n";
            for (n, v) in headers {
                text += &format!("{n}: {v}\r\n");
            }
            text += &format!("Content-Length: {}\r\n\r\n", body.len());
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&body);
            bytes
        })
}

proptest! {
    #[test]
    fn emit_then_parse_gives_the_canonical_message(bytes in message()) {
        let cfg = ParseConfig::default();
        let mut slots = [Header::EMPTY; 16];
        let m1 = Message::parse_stream(&bytes, &mut slots, &cfg).unwrap();
        let mut out = vec![0u8; bytes.len() + 256];
        let n = emit(&m1, &mut out).unwrap();
        let e1 = &out[..n];
        let mut slots2 = [Header::EMPTY; 16];
        let m2 = Message::parse_stream(e1, &mut slots2, &cfg).unwrap();
        prop_assert_eq!(m2.start_line(), m1.start_line());
        prop_assert_eq!(m2.body(), m1.body());
        let not_cl = |h: &&Header| !HeaderName::ContentLength.matches(h.name);
        let h1: Vec<_> = m1.headers().iter().filter(not_cl).collect();
        let h2: Vec<_> = m2.headers().iter().filter(not_cl).collect();
        prop_assert_eq!(h1.len(), h2.len());
        for (a, b) in h1.iter().zip(&h2) {
            prop_assert_eq!(HeaderName::parse(a.name), HeaderName::parse(b.name));
            prop_assert_eq!(HeaderName::parse(a.name).as_str(), b.name);
            prop_assert_eq!(unfold(a.value), b.value);
        }
        let mut out2 = vec![0u8; n + 16];
        let n2 = emit(&m2, &mut out2).unwrap();
        prop_assert_eq!(&out2[..n2], e1);
        // The framer delimits the emitted message and waits on every prefix.
        prop_assert_eq!(frame(e1), Ok(Framed::Complete(n)));
        for cut in 0..n {
            prop_assert_eq!(frame(&e1[..cut]), Ok(Framed::Partial));
        }
        prop_assert!(emit(&m1, &mut out[..n - 1]).is_err());
    }

    #[test]
    fn nothing_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        exercise(&bytes);
    }

    #[test]
    fn nothing_panics_on_mutated_torture_messages(
        which in 0usize..VECTORS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = VECTORS[which].to_vec();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let len = cut.index(bytes.len() + 1);
        exercise(&bytes[..len]);
        exercise(&bytes);
    }

    #[test]
    fn typed_parsers_are_total(s in "\\PC{0,60}") {
        let _ = Via::parse(&s);
        let _ = NameAddr::parse(&s);
        let _ = Contact::parse(&s);
        let _ = CSeq::parse(&s);
        let _ = ContentType::parse(&s);
        let _ = Uri::parse(&s);
        let _ = split_list(&s).count();
    }
}

const VECTORS: &[&[u8]] = &[
    include_bytes!("vectors/rfc4475/wellformed/wsinv.dat"),
    include_bytes!("vectors/rfc4475/wellformed/intmeth.dat"),
    include_bytes!("vectors/rfc4475/wellformed/esc01.dat"),
    include_bytes!("vectors/rfc4475/wellformed/longreq.dat"),
    include_bytes!("vectors/rfc4475/wellformed/mpart01.dat"),
    include_bytes!("vectors/rfc4475/malformed/badinv01.dat"),
    include_bytes!("vectors/rfc4475/malformed/quotbal.dat"),
    include_bytes!("vectors/rfc4475/application/regescrt.dat"),
];

fn exercise(bytes: &[u8]) {
    let _ = frame(bytes);
    for cfg in [
        ParseConfig::default(),
        ParseConfig {
            allow_bare_lf: true,
            datagram_body_to_end: false,
            allow_missing_blank_line: true,
        },
    ] {
        let mut slots = [Header::EMPTY; 64];
        if let Ok(m) = Message::parse_datagram(bytes, &mut slots, &cfg) {
            let _ = check(&m);
            let mut out = vec![0u8; bytes.len() * 2 + 64];
            let n = emit(&m, &mut out).expect("a buffer twice the input always fits the canonical form");
            let mut slots2 = [Header::EMPTY; 64];
            let _ = Message::parse_datagram(&out[..n], &mut slots2, &cfg);
            for h in m.headers() {
                let _ = Via::parse(h.value);
                let _ = NameAddr::parse(h.value);
                let _ = CSeq::parse(h.value);
                let _ = split_list(h.value).count();
            }
            if let Some(uri) = m.request_uri() {
                let _ = Uri::parse(uri);
            }
        }
        let mut slots = [Header::EMPTY; 4];
        let _ = Message::parse_stream(bytes, &mut slots, &cfg);
    }
}
