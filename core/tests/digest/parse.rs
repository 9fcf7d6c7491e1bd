//! Parsing and emitting the four authentication header values.

use super::*;

#[test]
fn rfc7616_3_9_1_challenges_parse() {
    for (value, algorithm) in [
        (RFC7616_CHALLENGE_SHA256, Algorithm::SHA256),
        (RFC7616_CHALLENGE_MD5, Algorithm::MD5),
    ] {
        let c = digest_challenge(value);
        assert!(c.realm.eq_str("http-auth@example.org"));
        assert!(c.nonce.eq_str("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"));
        assert_eq!(
            c.opaque.map(|o| o.to_string()).as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        assert_eq!(c.algorithm, Some(AlgorithmValue::Known(algorithm)));
        let qops: Vec<_> = c.qop.expect("qop").iter().collect();
        assert_eq!(qops, [Qop::Auth, Qop::AuthInt]);
        assert_eq!(c.stale, None);
        assert!(c.other.is_empty());
    }
}

#[test]
fn rfc7616_3_9_1_authorizations_parse() {
    for (value, algorithm, response) in [
        (RFC7616_AUTHORIZATION_MD5, Algorithm::MD5, RFC7616_MD5_RESPONSE),
        (
            RFC7616_AUTHORIZATION_SHA256,
            Algorithm::SHA256,
            RFC7616_SHA256_RESPONSE,
        ),
    ] {
        let c = digest_credentials(value);
        assert_eq!(c.username, Username::Plain(QuotedStr::new("Mufasa")));
        assert!(c.realm.eq_str("http-auth@example.org"));
        assert!(c.uri.eq_str("/dir/index.html"));
        assert_eq!(c.algorithm, Some(AlgorithmValue::Known(algorithm)));
        assert_eq!(c.nonce_count, Some(1));
        assert!(c
            .cnonce
            .expect("cnonce")
            .eq_str("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"));
        assert_eq!(c.qop, Some(Qop::Auth));
        assert!(c.response.eq_str(response));
        assert!(c.opaque.is_some());
    }
}

#[test]
fn rfc2617_3_5_headers_parse() {
    let challenge = digest_challenge(RFC2617_CHALLENGE);
    assert!(challenge.realm.eq_str("testrealm@host.com"));
    assert_eq!(challenge.algorithm, None);
    assert_eq!(challenge.effective_algorithm(), Ok(Algorithm::MD5));
    let credentials = digest_credentials(RFC2617_AUTHORIZATION);
    assert!(credentials.response.eq_str(RFC2617_RESPONSE));
    assert!(credentials.cnonce.expect("cnonce").eq_str("0a4f113b"));
}

#[test]
fn rfc4475_regaut01_unknown_scheme_is_kept() {
    let message = core::str::from_utf8(REGAUT01).expect("regaut01 is ASCII");
    let value = header_value(message, "Authorization").expect("regaut01 has an Authorization header");
    let Ok(Credentials::Other(other)) = Credentials::parse(value) else {
        panic!("regaut01 must parse as an unknown scheme")
    };
    assert_eq!(other.scheme, "NoOneKnowsThisScheme");
    assert_eq!(other.params, "opaque-data=here");
    let params: Vec<_> = other
        .auth_params()
        .collect::<Result<_, _>>()
        .expect("auth-params");
    assert_eq!(params.len(), 1);
    assert_eq!(params[0].name, "opaque-data");
    assert_eq!(params[0].value, ParamValue::Bare("here"));
    // Forwarded unmodified (RFC 4475 §3.3.7): emitting gives the received value back.
    let mut buf = [0u8; 64];
    assert_eq!(emit_credentials(&Credentials::Other(other), &mut buf), value);
}

// ---------------------------------------------------------------------------------------------------
// Lexing details

#[test]
fn quoted_strings_keep_escapes_and_commas_until_read() {
    let c = digest_challenge(r#"Digest realm="a \"quoted\", realm\\", nonce="n,1""#);
    assert_eq!(c.realm.as_plain(), None, "escapes present: no single plain slice");
    assert_eq!(c.realm.to_string(), r#"a "quoted", realm\"#);
    assert!(c.realm.eq_str(r#"a "quoted", realm\"#));
    let mut buf = [0u8; 32];
    assert_eq!(c.realm.unescape_into(&mut buf), Ok(r#"a "quoted", realm\"#));
    assert_eq!(
        c.realm.unescape_into(&mut buf[..5]),
        Err(EmitError::BufferTooSmall)
    );
    assert_eq!(c.nonce.as_plain(), Some("n,1"));
}

#[test]
fn names_and_scheme_are_case_insensitive_and_unknown_params_kept() {
    let c =
        digest_challenge(r#"dIgEsT REALM="r", Nonce=abc, x-extra="1,2", ALGORITHM=sha-256-SESS, flag=on"#);
    assert!(c.realm.eq_str("r"));
    assert!(c.nonce.eq_str("abc"));
    assert_eq!(c.algorithm, Some(AlgorithmValue::Known(Algorithm::SHA256_SESS)));
    let extras: Vec<_> = c
        .other
        .iter()
        .map(|p| (p.name, p.value.content().to_string()))
        .collect();
    assert_eq!(
        extras,
        [("x-extra", "1,2".to_string()), ("flag", "on".to_string())]
    );
    assert_eq!(
        c.other.get("X-EXTRA").map(|v| v.content().to_string()).as_deref(),
        Some("1,2")
    );
}

#[test]
fn unknown_algorithm_is_kept_and_reported() {
    let c = digest_challenge(r#"Digest realm="r", nonce="n", algorithm=SHA3-1024"#);
    assert_eq!(
        c.algorithm,
        Some(AlgorithmValue::Unknown(QuotedStr::new("SHA3-1024")))
    );
    assert_eq!(
        c.effective_algorithm().map_err(|name| name.to_string()),
        Err("SHA3-1024".to_string())
    );
}

#[test]
fn every_registry_algorithm_name_parses() {
    for algorithm in Algorithm::ALL {
        let value = format!(r#"Digest realm="r", nonce="n", algorithm={}"#, algorithm.name());
        assert_eq!(digest_challenge(&value).effective_algorithm(), Ok(algorithm));
    }
}

#[test]
fn stale_and_userhash_are_true_only_when_true() {
    let c = digest_challenge(r#"Digest realm="r", nonce="n", stale=TRUE, userhash="true""#);
    assert!(c.is_stale());
    assert_eq!(c.userhash, Some(true));
    let c = digest_challenge(r#"Digest realm="r", nonce="n", stale=maybe"#);
    assert!(!c.is_stale());
    assert_eq!(c.stale, Some(false));
}

#[test]
fn qop_options_accept_token_form_and_unknown_values() {
    let c = digest_challenge(r#"Digest realm="r", nonce="n", qop=auth"#);
    assert_eq!(c.qop.expect("qop").iter().collect::<Vec<_>>(), [Qop::Auth]);
    let c = digest_challenge("Digest realm=\"r\", nonce=\"n\", qop=\" auth-conf ,, AUTH \"");
    let options: Vec<_> = c.qop.expect("qop").iter().collect();
    assert_eq!(options, [Qop::Other(QuotedStr::new("auth-conf")), Qop::Auth]);
    assert!(c.qop.expect("qop").contains(Qop::Auth));
    assert!(!c.qop.expect("qop").contains(Qop::AuthInt));
}

#[test]
fn domain_lists_split_on_whitespace() {
    let c = digest_challenge(r#"Digest realm="r", nonce="n", domain="sip:a.example  sip:b.example""#);
    assert_eq!(
        c.domain_uris().collect::<Vec<_>>(),
        ["sip:a.example", "sip:b.example"]
    );
}

#[test]
fn nonce_count_must_be_eight_hex_digits() {
    let base = r#"Digest username="u", realm="r", nonce="n", uri="sip:x", response="""#;
    assert_eq!(
        digest_credentials(&format!("{base}, nc=0000000A")).nonce_count,
        Some(10)
    );
    for bad in ["nc=1", "nc=000000001", "nc=0000000g", r#"nc="""#] {
        let err = Credentials::parse(&format!("{base}, {bad}")).expect_err(bad);
        assert_eq!(err.kind, ParseErrorKind::InvalidNonceCount, "{bad}");
        assert_eq!(err.offset, base.len() + 2, "{bad}");
    }
}

#[test]
fn username_star_is_kept_encoded_and_conflicts_with_username() {
    let value =
        r#"Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm="r", nonce="n", uri="/", response="""#;
    let c = digest_credentials(value);
    assert_eq!(
        c.username,
        Username::Extended(QuotedStr::new("UTF-8''J%C3%A4s%C3%B8n%20Doe"))
    );
    let both = r#"Digest username="u", username*=UTF-8''u, realm="r", nonce="n", uri="/", response="""#;
    let err = Credentials::parse(both).expect_err("both usernames");
    assert_eq!(err.kind, ParseErrorKind::ConflictingUsernames);
    assert_eq!(err.offset, 21);
}

#[test]
fn syntax_errors_name_the_problem_and_the_offset() {
    let cases: &[(&str, ParseErrorKind, usize)] = &[
        ("", ParseErrorKind::ExpectedScheme, 0),
        ("  ,x", ParseErrorKind::ExpectedScheme, 2),
        ("Digest,realm=r", ParseErrorKind::ExpectedScheme, 6),
        ("Digest realm", ParseErrorKind::ExpectedEquals, 12),
        ("Digest realm=", ParseErrorKind::ExpectedValue, 13),
        ("Digest =r", ParseErrorKind::ExpectedParamName, 7),
        ("Digest realm=\"abc", ParseErrorKind::UnterminatedQuote, 13),
        ("Digest realm=\"a\\\u{e9}\"", ParseErrorKind::InvalidEscape, 15),
        ("Digest realm=r nonce=n", ParseErrorKind::ExpectedComma, 15),
        (
            "Digest realm=\"a\r\nb\", nonce=n",
            ParseErrorKind::BareLineBreak,
            15,
        ),
        ("Digest realm=r,\nnonce=n", ParseErrorKind::BareLineBreak, 15),
        (
            "Digest realm=r, nonce=n, REALM=s",
            ParseErrorKind::DuplicateParam(KnownParam::Realm),
            25,
        ),
        (
            "Digest realm=r",
            ParseErrorKind::MissingParam(KnownParam::Nonce),
            7,
        ),
        (
            "Digest nonce=n",
            ParseErrorKind::MissingParam(KnownParam::Realm),
            7,
        ),
    ];
    for (value, kind, offset) in cases {
        let err = Challenge::parse(value).expect_err(value);
        assert_eq!((err.kind, err.offset), (*kind, *offset), "{value:?}");
        assert!(!err.to_string().is_empty());
    }
    let err =
        Credentials::parse(r#"Digest username="u", realm="r", nonce="n", response="""#).expect_err("uri");
    assert_eq!(err.kind, ParseErrorKind::MissingParam(KnownParam::Uri));
}

#[test]
fn folds_count_as_whitespace_and_empty_list_elements_are_skipped() {
    let c = digest_challenge("Digest ,realm\r\n\t=\r\n \"r\" ,, nonce=\"a\r\n b\",\r\n");
    assert!(c.realm.eq_str("r"));
    assert!(
        c.nonce.eq_str("a\r\n b"),
        "a fold inside quotes is kept as content"
    );
}

#[test]
fn auth_params_lexer_stops_after_an_error() {
    let mut params = AuthParams::new("a=1, b c=2, d=3");
    assert_eq!(params.next().map(|p| p.map(|p| p.name)), Some(Ok("a")));
    assert!(matches!(params.next(), Some(Err(e)) if e.kind == ParseErrorKind::ExpectedEquals));
    assert!(params.next().is_none());
}

// ---------------------------------------------------------------------------------------------------
// Emitting

#[test]
fn emitting_writes_the_canonical_form() {
    let c = Challenge::parse(RFC7616_CHALLENGE_SHA256).expect("parse");
    let mut buf = [0u8; 512];
    assert_eq!(
        emit_challenge(&c, &mut buf),
        "Digest realm=\"http-auth@example.org\", nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", algorithm=SHA-256, qop=\"auth, auth-int\""
    );
    let c = Credentials::parse(RFC2617_AUTHORIZATION).expect("parse");
    assert_eq!(
        emit_credentials(&c, &mut buf),
        "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         uri=\"/dir/index.html\", response=\"6629fae49393a05397450978507c4ef1\", cnonce=\"0a4f113b\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001"
    );
}

#[test]
fn emitting_escapes_plain_text_and_rejects_line_breaks() {
    let mut c = DigestChallenge::new(QuotedStr::new(r#"say "hi"\"#), QuotedStr::new("n"));
    let mut buf = [0u8; 128];
    let text = emit_challenge(&Challenge::Digest(c), &mut buf);
    assert_eq!(text, r#"Digest realm="say \"hi\"\\", nonce="n""#);
    assert_eq!(digest_challenge(&text).realm, c.realm);
    c.realm = QuotedStr::new("evil\r\nVia: injected");
    assert_eq!(Challenge::Digest(c).emit(&mut buf), Err(EmitError::InvalidValue));
}

#[test]
fn emitting_into_a_short_buffer_is_a_typed_error() {
    let c = Credentials::parse(RFC7616_AUTHORIZATION_SHA256).expect("parse");
    let mut buf = [0u8; 512];
    let full = c.emit(&mut buf).expect("fits");
    for short in [0, 1, 7, full / 2, full - 1] {
        assert_eq!(
            c.emit(&mut buf[..short]),
            Err(EmitError::BufferTooSmall),
            "{short}"
        );
    }
}

#[test]
fn round_trips_parse_emit_parse() {
    let values = [
        RFC7616_CHALLENGE_SHA256,
        RFC7616_CHALLENGE_MD5,
        RFC2617_CHALLENGE,
        r#"Digest realm="a \"b\"", nonce=x, stale=true, algorithm="weird alg", qop="auth,x\,y", ext="v\\""#,
        r#"Digest realm="r", nonce="n", userhash=false, domain="sip:a sip:b", charset=UTF-8"#,
    ];
    let mut buf = [0u8; 512];
    for value in values {
        let parsed = Challenge::parse(value).expect(value);
        let emitted = emit_challenge(&parsed, &mut buf);
        assert_eq!(Challenge::parse(&emitted), Ok(parsed), "{emitted}");
    }
    let values = [
        RFC7616_AUTHORIZATION_MD5,
        RFC7616_AUTHORIZATION_SHA256,
        RFC2617_AUTHORIZATION,
        r#"Digest username*=UTF-8''%C3%A4, realm="r", nonce="n", uri="sip:a@b", response="", qop="auth-conf", x=y"#,
        r#"Digest username="6a", realm="r", nonce="n", uri="sip:a@b", response="00", userhash=true, algorithm=X"#,
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    ];
    for value in values {
        let parsed = Credentials::parse(value).expect(value);
        let emitted = emit_credentials(&parsed, &mut buf);
        assert_eq!(Credentials::parse(&emitted), Ok(parsed), "{emitted}");
    }
}

#[test]
fn qop_options_compare_by_items() {
    assert_eq!(
        QopOptions::new(QuotedStr::new("auth, auth-int")),
        QopOptions::new(QuotedStr::new("auth,auth-int"))
    );
    assert_ne!(
        QopOptions::new(QuotedStr::new("auth")),
        QopOptions::new(QuotedStr::new("auth-int"))
    );
}
