//! Digest authentication: header parsing and emitting, the RFC 7616 / RFC 2617 examples, RFC 4475
//! regaut01, client/server agreement, and property tests.

use simple_im_core::sip::auth::{
    compute_response, ha1, select_challenge, userhash, Algorithm, AlgorithmValue, AuthParams,
    Challenge, ChallengePreference, ClientCredentials, ClientError, CnonceSource, Credentials,
    DigestChallenge, DigestClient, DigestCredentials, DigestRequest, EmitError, HashFunction,
    KnownParam, ParamValue, ParseErrorKind, Qop, QopOptions, QuotedStr, ResponseInputs, Secret,
    Username, CNONCE_RANDOM_BYTES, MAX_CNONCE_LEN, MD5_LEN,
};

// ---------------------------------------------------------------------------------------------------
// Vectors

/// The RFC 7616 §3.9.1 challenges, folded over lines the way the RFC prints them.
const RFC7616_CHALLENGE_SHA256: &str = "Digest\r\n    realm=\"http-auth@example.org\",\r\n    \
    qop=\"auth, auth-int\",\r\n    algorithm=SHA-256,\r\n    \
    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    \
    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
const RFC7616_CHALLENGE_MD5: &str = "Digest\r\n    realm=\"http-auth@example.org\",\r\n    \
    qop=\"auth, auth-int\",\r\n    algorithm=MD5,\r\n    \
    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    \
    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
/// RFC 7616 §3.9.1, the MD5 Authorization header as printed.
const RFC7616_AUTHORIZATION_MD5: &str =
    "Digest username=\"Mufasa\",\r\n    realm=\"http-auth@example.org\",\r\n    \
    uri=\"/dir/index.html\",\r\n    algorithm=MD5,\r\n    \
    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    nc=00000001,\r\n    \
    cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n    qop=auth,\r\n    \
    response=\"8ca523f5e9506fed4657c9700eebdbec\",\r\n    \
    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
/// RFC 7616 §3.9.1, the SHA-256 Authorization header. The RFC breaks the 64-digit response across two
/// lines inside the quotes (page layout, not a fold of the header): it is joined here.
const RFC7616_AUTHORIZATION_SHA256: &str =
    "Digest username=\"Mufasa\",\r\n    realm=\"http-auth@example.org\",\r\n    \
    uri=\"/dir/index.html\",\r\n    algorithm=SHA-256,\r\n    \
    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    nc=00000001,\r\n    \
    cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n    qop=auth,\r\n    \
    response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\",\r\n    \
    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
const RFC7616_MD5_RESPONSE: &str = "8ca523f5e9506fed4657c9700eebdbec";
const RFC7616_SHA256_RESPONSE: &str =
    "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";

/// RFC 2617 §3.5.
const RFC2617_CHALLENGE: &str = "Digest\r\n        realm=\"testrealm@host.com\",\r\n        \
    qop=\"auth,auth-int\",\r\n        nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n        \
    opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
const RFC2617_AUTHORIZATION: &str =
    "Digest username=\"Mufasa\",\r\n        realm=\"testrealm@host.com\",\r\n        \
    nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n        uri=\"/dir/index.html\",\r\n        \
    qop=auth,\r\n        nc=00000001,\r\n        cnonce=\"0a4f113b\",\r\n        \
    response=\"6629fae49393a05397450978507c4ef1\",\r\n        \
    opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
const RFC2617_RESPONSE: &str = "6629fae49393a05397450978507c4ef1";

const REGAUT01: &[u8] = include_bytes!("vectors/rfc4475/application/regaut01.dat");

/// The value of the first header called `name` in a SIP message, by simple line scanning.
fn header_value<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.split("\r\n").find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field
            .trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim())
    })
}

fn digest_challenge(value: &str) -> DigestChallenge<'_> {
    match Challenge::parse(value) {
        Ok(Challenge::Digest(challenge)) => challenge,
        other => panic!("not a digest challenge: {other:?}"),
    }
}

fn digest_credentials(value: &str) -> DigestCredentials<'_> {
    match Credentials::parse(value) {
        Ok(Credentials::Digest(credentials)) => credentials,
        other => panic!("not digest credentials: {other:?}"),
    }
}

fn emit_challenge(challenge: &Challenge<'_>, buf: &mut [u8]) -> String {
    let len = challenge.emit(buf).expect("emit");
    String::from_utf8(buf[..len].to_vec()).expect("utf-8")
}

fn emit_credentials(credentials: &Credentials<'_>, buf: &mut [u8]) -> String {
    let len = credentials.emit(buf).expect("emit");
    String::from_utf8(buf[..len].to_vec()).expect("utf-8")
}

// ---------------------------------------------------------------------------------------------------
// Parsing the RFC examples

#[test]
fn rfc7616_3_9_1_challenges_parse() {
    for (value, algorithm) in [
        (RFC7616_CHALLENGE_SHA256, Algorithm::SHA256),
        (RFC7616_CHALLENGE_MD5, Algorithm::MD5),
    ] {
        let c = digest_challenge(value);
        assert!(c.realm.eq_str("http-auth@example.org"));
        assert!(c
            .nonce
            .eq_str("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"));
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
        (
            RFC7616_AUTHORIZATION_MD5,
            Algorithm::MD5,
            RFC7616_MD5_RESPONSE,
        ),
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
    let value =
        header_value(message, "Authorization").expect("regaut01 has an Authorization header");
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
    assert_eq!(
        emit_credentials(&Credentials::Other(other), &mut buf),
        value
    );
}

// ---------------------------------------------------------------------------------------------------
// Lexing details

#[test]
fn quoted_strings_keep_escapes_and_commas_until_read() {
    let c = digest_challenge(r#"Digest realm="a \"quoted\", realm\\", nonce="n,1""#);
    assert_eq!(
        c.realm.as_plain(),
        None,
        "escapes present: no single plain slice"
    );
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
    let c = digest_challenge(
        r#"dIgEsT REALM="r", Nonce=abc, x-extra="1,2", ALGORITHM=sha-256-SESS, flag=on"#,
    );
    assert!(c.realm.eq_str("r"));
    assert!(c.nonce.eq_str("abc"));
    assert_eq!(
        c.algorithm,
        Some(AlgorithmValue::Known(Algorithm::SHA256_SESS))
    );
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
        c.other
            .get("X-EXTRA")
            .map(|v| v.content().to_string())
            .as_deref(),
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
        let value = format!(
            r#"Digest realm="r", nonce="n", algorithm={}"#,
            algorithm.name()
        );
        assert_eq!(
            digest_challenge(&value).effective_algorithm(),
            Ok(algorithm)
        );
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
    assert_eq!(
        options,
        [Qop::Other(QuotedStr::new("auth-conf")), Qop::Auth]
    );
    assert!(c.qop.expect("qop").contains(Qop::Auth));
    assert!(!c.qop.expect("qop").contains(Qop::AuthInt));
}

#[test]
fn domain_lists_split_on_whitespace() {
    let c =
        digest_challenge(r#"Digest realm="r", nonce="n", domain="sip:a.example  sip:b.example""#);
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
    let value = r#"Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm="r", nonce="n", uri="/", response="""#;
    let c = digest_credentials(value);
    assert_eq!(
        c.username,
        Username::Extended(QuotedStr::new("UTF-8''J%C3%A4s%C3%B8n%20Doe"))
    );
    let both =
        r#"Digest username="u", username*=UTF-8''u, realm="r", nonce="n", uri="/", response="""#;
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
        (
            "Digest realm=\"a\\\u{e9}\"",
            ParseErrorKind::InvalidEscape,
            15,
        ),
        ("Digest realm=r nonce=n", ParseErrorKind::ExpectedComma, 15),
        (
            "Digest realm=\"a\r\nb\", nonce=n",
            ParseErrorKind::BareLineBreak,
            15,
        ),
        (
            "Digest realm=r,\nnonce=n",
            ParseErrorKind::BareLineBreak,
            15,
        ),
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
    let err = Credentials::parse(r#"Digest username="u", realm="r", nonce="n", response="""#)
        .expect_err("uri");
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
    assert_eq!(
        Challenge::Digest(c).emit(&mut buf),
        Err(EmitError::InvalidValue)
    );
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

// ---------------------------------------------------------------------------------------------------
// Client

/// A deterministic cnonce source for tests: counts up from a seed.
struct CountingSource(u8);

impl CnonceSource for CountingSource {
    fn fill(&mut self, buf: &mut [u8]) {
        for byte in buf {
            *byte = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
}

const GET_INDEX: DigestRequest<'static> = DigestRequest {
    method: "GET",
    uri: "/dir/index.html",
    body: b"",
};

fn emit_client(credentials: &ClientCredentials<'_>) -> String {
    let mut buf = [0u8; 1024];
    let len = credentials.emit(&mut buf).expect("emit");
    String::from_utf8(buf[..len].to_vec()).expect("utf-8")
}

/// Answers an RFC 7616 §3.9.1 challenge as the RFC's client does and compares with the RFC's header.
fn check_rfc7616_3_9_1(challenge: &str, authorization: &str, response: &str) {
    let challenge = digest_challenge(challenge);
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let password = Secret::Password("Circle of Life");
    let answer = DigestClient::new()
        .respond_with_cnonce(&challenge, "Mufasa", password, &GET_INDEX, cnonce)
        .expect("answerable");
    assert_eq!(answer.response(), response);
    let emitted = emit_client(&answer);
    assert_eq!(
        digest_credentials(&emitted),
        digest_credentials(authorization)
    );
}

#[test]
fn rfc7616_3_9_1_md5_response_matches_the_rfc() {
    check_rfc7616_3_9_1(
        RFC7616_CHALLENGE_MD5,
        RFC7616_AUTHORIZATION_MD5,
        RFC7616_MD5_RESPONSE,
    );
}

#[test]
fn rfc7616_3_9_1_sha256_response_matches_the_rfc() {
    check_rfc7616_3_9_1(
        RFC7616_CHALLENGE_SHA256,
        RFC7616_AUTHORIZATION_SHA256,
        RFC7616_SHA256_RESPONSE,
    );
}

#[test]
fn rfc2617_3_5_response_matches_the_rfc() {
    let challenge = digest_challenge(RFC2617_CHALLENGE);
    let mut client = DigestClient::new();
    let answer = client
        .respond_with_cnonce(
            &challenge,
            "Mufasa",
            Secret::Password("Circle Of Life"),
            &GET_INDEX,
            "0a4f113b",
        )
        .expect("answerable");
    assert_eq!(answer.response(), RFC2617_RESPONSE);
    assert_eq!(
        digest_credentials(&emit_client(&answer)),
        digest_credentials(RFC2617_AUTHORIZATION)
    );
}

#[test]
fn rfc2617_3_5_response_from_a_stored_ha1() {
    let challenge = digest_challenge(RFC2617_CHALLENGE);
    let stored = ha1(
        Algorithm::MD5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    let upper = stored.as_str().to_ascii_uppercase();
    for secret in [stored.as_str(), upper.as_str()] {
        let answer = DigestClient::new()
            .respond_with_cnonce(
                &challenge,
                "Mufasa",
                Secret::Ha1(secret),
                &GET_INDEX,
                "0a4f113b",
            )
            .expect("answerable");
        assert_eq!(answer.response(), RFC2617_RESPONSE);
    }
    let short = &stored.as_str()[..30];
    let err = DigestClient::new().respond_with_cnonce(
        &challenge,
        "Mufasa",
        Secret::Ha1(short),
        &GET_INDEX,
        "c",
    );
    assert_eq!(err.err(), Some(ClientError::InvalidHa1));
}

#[test]
fn compute_response_reproduces_rfc2617_3_5() {
    let stored = ha1(
        Algorithm::MD5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    let response = compute_response(&ResponseInputs {
        algorithm: Algorithm::MD5,
        ha1: stored.as_str(),
        nonce: QuotedStr::new("dcd98b7102dd2f0e8b11d0f600bfb0c093"),
        cnonce: QuotedStr::new("0a4f113b"),
        nonce_count: 1,
        qop: Some(Qop::Auth),
        method: "GET",
        uri: QuotedStr::new("/dir/index.html"),
        body: b"",
    })
    .expect("computable");
    assert_eq!(response.to_hex().as_str(), RFC2617_RESPONSE);
    assert_eq!(response.as_bytes().len(), MD5_LEN);
}

/// H(data) in hex, computed with the hash crates directly, independently of the module under test.
fn reference_hex(algorithm: Algorithm, data: &str) -> String {
    use sha2::Digest;
    let bytes: Vec<u8> = match algorithm.hash {
        HashFunction::Md5 => md5::Md5::digest(data).to_vec(),
        HashFunction::Sha256 => sha2::Sha256::digest(data).to_vec(),
        HashFunction::Sha512_256 => sha2::Sha512_256::digest(data).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn rfc2069_challenge_without_qop_gets_the_old_computation() {
    let challenge = digest_challenge(r#"Digest realm="biloxi.com", nonce="abc123""#);
    let request = DigestRequest {
        method: "REGISTER",
        uri: "sip:biloxi.com",
        body: b"",
    };
    let answer = DigestClient::new()
        .respond(
            &challenge,
            "bob",
            Secret::Password("zanzibar"),
            &request,
            &mut CountingSource(0),
        )
        .expect("answerable");
    let ha1 = reference_hex(Algorithm::MD5, "bob:biloxi.com:zanzibar");
    let ha2 = reference_hex(Algorithm::MD5, "REGISTER:sip:biloxi.com");
    assert_eq!(
        answer.response(),
        reference_hex(Algorithm::MD5, &format!("{ha1}:abc123:{ha2}"))
    );
    let emitted = emit_client(&answer);
    let sent = digest_credentials(&emitted);
    assert_eq!(
        (sent.qop, sent.cnonce, sent.nonce_count),
        (None, None, None)
    );
}

#[test]
fn auth_int_hashes_the_body_when_auth_is_not_offered() {
    let challenge =
        digest_challenge(r#"Digest realm="r", nonce="n", qop="auth-int", algorithm=SHA-256"#);
    let body = b"v=0\r\n";
    let request = DigestRequest {
        method: "MESSAGE",
        uri: "sip:a@b",
        body,
    };
    let answer = DigestClient::new()
        .respond_with_cnonce(&challenge, "u", Secret::Password("p"), &request, "cn")
        .expect("answerable");
    assert_eq!(answer.qop(), Some(Qop::AuthInt));
    let sha = Algorithm::SHA256;
    let ha1 = reference_hex(sha, "u:r:p");
    let ha2 = reference_hex(
        sha,
        &format!("MESSAGE:sip:a@b:{}", reference_hex(sha, "v=0\r\n")),
    );
    let expected = reference_hex(sha, &format!("{ha1}:n:00000001:cn:auth-int:{ha2}"));
    assert_eq!(answer.response(), expected);
}

#[test]
fn sess_algorithms_mix_the_nonces_into_ha1() {
    let challenge =
        digest_challenge(r#"Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess"#);
    let request = DigestRequest {
        method: "REGISTER",
        uri: "sip:r",
        body: b"",
    };
    let answer = DigestClient::new()
        .respond_with_cnonce(&challenge, "u", Secret::Password("p"), &request, "cn")
        .expect("answerable");
    let md5 = Algorithm::MD5;
    let ha1 = reference_hex(md5, &format!("{}:n:cn", reference_hex(md5, "u:r:p")));
    let ha2 = reference_hex(md5, "REGISTER:sip:r");
    assert_eq!(
        answer.response(),
        reference_hex(md5, &format!("{ha1}:n:00000001:cn:auth:{ha2}"))
    );
}

#[test]
fn nonce_count_increments_per_nonce_and_restarts_with_a_new_one() {
    let first = digest_challenge(r#"Digest realm="r", nonce="one", qop="auth""#);
    let second = digest_challenge(r#"Digest realm="r", nonce="two", qop="auth""#);
    let request = DigestRequest {
        method: "MESSAGE",
        uri: "sip:x@r",
        body: b"",
    };
    let mut client = DigestClient::new();
    let mut source = CountingSource(7);
    let mut answer = |c: &DigestChallenge<'static>| {
        client
            .respond(c, "u", Secret::Password("p"), &request, &mut source)
            .expect("answerable")
            .nonce_count()
    };
    assert_eq!([answer(&first), answer(&first), answer(&first)], [1, 2, 3]);
    assert_eq!([answer(&second), answer(&second)], [1, 2]);
    assert_eq!(answer(&first), 1);
    client.reset();
    assert_eq!(client.nonce_count(), 0);
}

#[test]
fn generated_cnonce_is_hex_of_the_random_bytes() {
    let challenge = digest_challenge(r#"Digest realm="r", nonce="n", qop="auth""#);
    let request = DigestRequest {
        method: "REGISTER",
        uri: "sip:r",
        body: b"",
    };
    let answer = DigestClient::new()
        .respond(
            &challenge,
            "u",
            Secret::Password("p"),
            &request,
            &mut CountingSource(0xf0),
        )
        .expect("answerable");
    let expected: String = (0..CNONCE_RANDOM_BYTES)
        .map(|i| format!("{:02x}", 0xf0u8.wrapping_add(i as u8)))
        .collect();
    assert_eq!(answer.cnonce(), expected);
}

#[test]
fn userhash_replaces_the_username_when_the_server_asks() {
    let challenge = digest_challenge(
        r#"Digest realm="api@example.org", nonce="n", qop="auth", algorithm=SHA-256, userhash=true"#,
    );
    let request = DigestRequest {
        method: "REGISTER",
        uri: "sip:r",
        body: b"",
    };
    let answer = DigestClient::new()
        .respond_with_cnonce(&challenge, "Mufasa", Secret::Password("p"), &request, "c")
        .expect("answerable");
    let emitted = emit_client(&answer);
    let sent = digest_credentials(&emitted);
    let expected = reference_hex(Algorithm::SHA256, "Mufasa:api@example.org");
    assert_eq!(sent.username, Username::Plain(QuotedStr::new(&expected)));
    assert_eq!(sent.userhash, Some(true));
    assert_eq!(
        userhash(
            HashFunction::Sha256,
            "Mufasa",
            QuotedStr::new("api@example.org")
        )
        .as_str(),
        expected
    );
}

#[test]
fn unanswerable_challenges_are_typed_errors() {
    let request = DigestRequest {
        method: "REGISTER",
        uri: "sip:r",
        body: b"",
    };
    let cases = [
        (
            r#"Digest realm="r", nonce="n", algorithm=SHA3"#,
            ClientError::UnsupportedAlgorithm,
        ),
        (
            r#"Digest realm="r", nonce="n", qop="auth-conf""#,
            ClientError::UnsupportedQop,
        ),
        (
            r#"Digest realm="r", nonce="n", algorithm=SHA-256-sess"#,
            ClientError::SessionWithoutQop,
        ),
    ];
    for (value, error) in cases {
        let challenge = digest_challenge(value);
        let result = DigestClient::new().respond_with_cnonce(
            &challenge,
            "u",
            Secret::Password("p"),
            &request,
            "c",
        );
        assert_eq!(result.err(), Some(error), "{value}");
        assert!(!error.to_string().is_empty());
    }
    let challenge = digest_challenge(r#"Digest realm="r", nonce="n", qop="auth""#);
    let long = "c".repeat(MAX_CNONCE_LEN + 1);
    let result = DigestClient::new().respond_with_cnonce(
        &challenge,
        "u",
        Secret::Password("p"),
        &request,
        &long,
    );
    assert_eq!(result.err(), Some(ClientError::CnonceTooLong));
}

#[test]
fn the_strongest_supported_challenge_is_chosen() {
    let values = [
        "Basic realm=\"r\"",
        RFC7616_CHALLENGE_MD5,
        r#"Digest realm="r", nonce="n", algorithm=SHA3-512"#,
        RFC7616_CHALLENGE_SHA256,
        "Digest garbage",
    ];
    let strongest =
        select_challenge(values, ChallengePreference::Strongest).expect("one is supported");
    assert_eq!(strongest.effective_algorithm(), Ok(Algorithm::SHA256));
    let topmost = select_challenge(values, ChallengePreference::Topmost).expect("one is supported");
    assert_eq!(topmost.effective_algorithm(), Ok(Algorithm::MD5));
    let none = select_challenge(
        [
            "Basic realm=\"r\"",
            r#"Digest realm="r", nonce="n", algorithm=X"#,
        ],
        Default::default(),
    );
    assert_eq!(none, None);
    // Equal strength: the topmost wins.
    let tie = [
        r#"Digest realm="a", nonce="n", algorithm=SHA-256"#,
        r#"Digest realm="b", nonce="n", algorithm=SHA-256-sess, qop=auth"#,
    ];
    assert!(select_challenge(tie, ChallengePreference::Strongest)
        .expect("supported")
        .realm
        .eq_str("a"));
}

// ---------------------------------------------------------------------------------------------------
// Properties

mod properties {
    use super::*;
    use proptest::prelude::*;
    use simple_im_core::sip::auth::OtherParams;

    /// Pieces that steer generated text into every branch of the lexer.
    const FRAGMENTS: &[&str] = &[
        "Digest",
        "digest",
        "Basic",
        " ",
        "\t",
        "\r\n ",
        "\r\n",
        "\r",
        "\n",
        ",",
        "=",
        "\"",
        "\\",
        "\\\"",
        "realm",
        "nonce",
        "qop",
        "auth",
        "auth-int",
        "algorithm",
        "SHA-256",
        "md5-sess",
        "stale",
        "true",
        "nc",
        "00000001",
        "username",
        "username*",
        "uri",
        "response",
        "cnonce",
        "opaque",
        "userhash",
        "domain",
        "x",
        "é",
        "/",
        "=\"v\"",
        "realm=\"r\"",
        "nonce=\"n\"",
        "uri=\"sip:a\"",
        "response=\"\"",
        "username=\"u\"",
    ];

    fn fragment_text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..24)
            .prop_map(|parts| parts.concat())
    }

    /// Parsing any text never panics; whatever parses emits, and the emitted text re-parses equal.
    fn check_total(text: &str) -> Result<(), TestCaseError> {
        let mut buf = vec![0u8; 4 * text.len() + 64];
        if let Ok(challenge) = Challenge::parse(text) {
            let len = challenge
                .emit(&mut buf)
                .map_err(|e| TestCaseError::fail(format!("{e} for {text:?}")))?;
            let emitted = std::str::from_utf8(&buf[..len]).expect("utf-8");
            prop_assert_eq!(
                Challenge::parse(emitted),
                Ok(challenge),
                "{:?} -> {:?}",
                text,
                emitted
            );
        }
        if let Ok(credentials) = Credentials::parse(text) {
            let len = credentials
                .emit(&mut buf)
                .map_err(|e| TestCaseError::fail(format!("{e} for {text:?}")))?;
            let emitted = std::str::from_utf8(&buf[..len]).expect("utf-8");
            prop_assert_eq!(
                Credentials::parse(emitted),
                Ok(credentials),
                "{:?} -> {:?}",
                text,
                emitted
            );
        }
        for _ in AuthParams::new(text) {}
        Ok(())
    }

    fn quoted_text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 \"\\\\,=@:/.\t\u{e9}\u{1f600}-]{0,24}"
    }

    fn token() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9.!%*_+`'~-]{1,12}"
    }

    prop_compose! {
        fn generated_challenge()(
            realm in quoted_text(),
            nonce in quoted_text(),
            opaque in prop::option::of(quoted_text()),
            domain in prop::option::of(quoted_text()),
            stale in prop::option::of(any::<bool>()),
            userhash in prop::option::of(any::<bool>()),
            algorithm in prop::option::of(prop_oneof![
                (0..Algorithm::ALL.len()).prop_map(|i| Algorithm::ALL[i].name().to_string()),
                token(),
            ]),
            qop in prop::option::of(prop::collection::vec(prop_oneof![Just("auth".to_string()), Just("auth-int".to_string()), token()], 1..4)),
            extras in prop::collection::vec((token(), prop_oneof![token(), quoted_text().prop_map(|q| format!("{q:?}"))]), 0..3),
        ) -> (String, String, Option<String>, Option<String>, Option<bool>, Option<bool>, Option<String>, Option<String>, String) {
            let qop = qop.map(|items| items.join(","));
            // Extension names get a prefix so they never collide with the digest parameters.
            let extras = extras.iter().map(|(n, v)| format!("x-{n}={v}")).collect::<Vec<_>>().join(", ");
            (realm, nonce, opaque, domain, stale, userhash, algorithm, qop, extras)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn parsing_fragments_never_panics_and_round_trips(text in fragment_text()) {
            check_total(&text)?;
        }

        #[test]
        fn parsing_arbitrary_text_never_panics_and_round_trips(text in "\\PC{0,64}") {
            check_total(&text)?;
        }

        #[test]
        fn generated_challenges_round_trip(
            (realm, nonce, opaque, domain, stale, userhash, algorithm, qop, extras) in generated_challenge()
        ) {
            fn quoted(s: &Option<String>) -> Option<QuotedStr<'_>> {
                s.as_deref().map(QuotedStr::new)
            }
            let mut challenge = DigestChallenge::new(QuotedStr::new(&realm), QuotedStr::new(&nonce));
            challenge.opaque = quoted(&opaque);
            challenge.domain = quoted(&domain);
            challenge.stale = stale;
            challenge.userhash = userhash;
            challenge.algorithm = algorithm.as_deref().map(|name| match Algorithm::from_name(name) {
                Some(known) => AlgorithmValue::Known(known),
                None => AlgorithmValue::Unknown(QuotedStr::new(name)),
            });
            challenge.qop = quoted(&qop).map(QopOptions::new);
            challenge.other = OtherParams::new(&extras).expect("generated extras are valid");
            let mut buf = [0u8; 1024];
            let len = challenge.emit(&mut buf).expect("emit");
            let emitted = std::str::from_utf8(&buf[..len]).expect("utf-8");
            prop_assert_eq!(Challenge::parse(emitted), Ok(Challenge::Digest(challenge)), "{}", emitted);
        }
    }
}
