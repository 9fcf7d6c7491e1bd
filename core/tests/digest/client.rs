//! The client: RFC response vectors, qop/nc/cnonce handling, challenge selection.

use super::*;

const GET_INDEX: DigestRequest<'static> = DigestRequest {
    method: "GET",
    uri: "/dir/index.html",
    body: b"",
};

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
    assert_eq!(digest_credentials(&emitted), digest_credentials(authorization));
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
    let stored = ha1(Algorithm::MD5, "Mufasa", "testrealm@host.com", "Circle Of Life");
    let upper = stored.as_str().to_ascii_uppercase();
    for secret in [stored.as_str(), upper.as_str()] {
        let answer = DigestClient::new()
            .respond_with_cnonce(&challenge, "Mufasa", Secret::Ha1(secret), &GET_INDEX, "0a4f113b")
            .expect("answerable");
        assert_eq!(answer.response(), RFC2617_RESPONSE);
    }
    let short = &stored.as_str()[..30];
    let err =
        DigestClient::new().respond_with_cnonce(&challenge, "Mufasa", Secret::Ha1(short), &GET_INDEX, "c");
    assert_eq!(err.err(), Some(ClientError::InvalidHa1));
}

#[test]
fn compute_response_reproduces_rfc2617_3_5() {
    let stored = ha1(Algorithm::MD5, "Mufasa", "testrealm@host.com", "Circle Of Life");
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
        #[cfg(feature = "digest-sha512-256")]
        HashFunction::Sha512_256 => sha2::Sha512_256::digest(data).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-512 truncated to its first 256 bits, in hex: what the RFC 7616 §3.9.2 example computed.
#[cfg(feature = "digest-sha512-256")]
fn truncated_sha512_hex(data: &str) -> String {
    use sha2::Digest;
    sha2::Sha512::digest(data)[..32]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Devices build the core without `digest-sha512-256`: the algorithm is then unknown, so a challenge
/// naming it is skipped like any other unsupported one (RFC 7616 §3.7).
#[cfg(not(feature = "digest-sha512-256"))]
#[test]
fn without_the_sha512_256_feature_that_algorithm_is_unknown() {
    let challenge = digest_challenge(RFC7616_3_9_2_CHALLENGE);
    let unknown = challenge
        .effective_algorithm()
        .expect_err("SHA-512-256 is not built in");
    assert!(unknown.eq_str("SHA-512-256"));
    assert_eq!(Algorithm::from_name("SHA-512-256-sess"), None);
    assert_eq!(Algorithm::ALL.first(), Some(&Algorithm::SHA256));
}

#[cfg(feature = "digest-sha512-256")]
#[test]
fn rfc7616_3_9_2_printed_values_are_truncated_sha512_not_sha512_256() {
    let challenge = digest_challenge(RFC7616_3_9_2_CHALLENGE);
    assert_eq!(challenge.effective_algorithm(), Ok(Algorithm::SHA512_256));
    assert_eq!(challenge.userhash, Some(true));
    assert_eq!(challenge.other.get("charset"), Some(ParamValue::Bare("UTF-8")));
    let username = "J\u{e4}s\u{f8}n Doe";
    let (nonce, cnonce) = (
        "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
        "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    );
    let request = DigestRequest {
        method: "GET",
        uri: "/doe.json",
        body: b"",
    };
    let answer = DigestClient::new()
        .respond_with_cnonce(
            &challenge,
            username,
            Secret::Password("Secret, or not?"),
            &request,
            cnonce,
        )
        .expect("answerable");
    let emitted = emit_client(&answer);
    let sent = digest_credentials(&emitted);

    // The RFC's printed values follow from truncated SHA-512 ...
    let digest_of = |hash: &dyn Fn(&str) -> String| {
        let ha1 = hash(&format!("{username}:api@example.org:Secret, or not?"));
        let ha2 = hash("GET:/doe.json");
        (
            hash(&format!("{username}:api@example.org")),
            hash(&format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")),
        )
    };
    assert_eq!(
        digest_of(&truncated_sha512_hex),
        (
            RFC7616_3_9_2_USERHASH.to_string(),
            RFC7616_3_9_2_RESPONSE.to_string()
        )
    );
    // ... while SHA-512/256 proper, which this implementation computes, gives other values.
    let (userhash, response) = digest_of(&|data: &str| reference_hex(Algorithm::SHA512_256, data));
    assert_eq!(answer.response(), response);
    assert_ne!(answer.response(), RFC7616_3_9_2_RESPONSE);
    assert_eq!(sent.username, Username::Plain(QuotedStr::new(&userhash)));
    assert_ne!(userhash, RFC7616_3_9_2_USERHASH);

    // The username* form of the same credentials decodes to the user's name.
    let ext = digest_credentials(RFC7616_3_9_2_AUTHORIZATION_EXT);
    let mut buf = [0u8; 32];
    assert_eq!(ext.username.decode_into(&mut buf), Ok(username));
    assert_eq!(ext.userhash, Some(false));
}

#[test]
fn rfc2069_challenge_without_qop_gets_the_old_computation() {
    let challenge = digest_challenge(r#"Digest realm="biloxi.com", nonce="abc123""#);
    let request = DigestRequest {
        method: "REGISTER",
        uri: "sip:biloxi.com",
        body: b"",
    };
    let emitted = bob_answers(&challenge, &request);
    let sent = digest_credentials(&emitted);
    let ha1 = reference_hex(Algorithm::MD5, "bob:biloxi.com:zanzibar");
    let ha2 = reference_hex(Algorithm::MD5, "REGISTER:sip:biloxi.com");
    let expected = reference_hex(Algorithm::MD5, &format!("{ha1}:abc123:{ha2}"));
    assert!(sent.response.eq_str(&expected), "{emitted}");
    assert_eq!((sent.qop, sent.cnonce, sent.nonce_count), (None, None, None));
}

#[test]
fn auth_int_hashes_the_body_when_auth_is_not_offered() {
    let challenge = digest_challenge(r#"Digest realm="r", nonce="n", qop="auth-int", algorithm=SHA-256"#);
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
    let ha2 = reference_hex(sha, &format!("MESSAGE:sip:a@b:{}", reference_hex(sha, "v=0\r\n")));
    let expected = reference_hex(sha, &format!("{ha1}:n:00000001:cn:auth-int:{ha2}"));
    assert_eq!(answer.response(), expected);
}

#[test]
fn sess_algorithms_mix_the_nonces_into_ha1() {
    let challenge = digest_challenge(r#"Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess"#);
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
        userhash(HashFunction::Sha256, "Mufasa", QuotedStr::new("api@example.org")).as_str(),
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
        let result =
            DigestClient::new().respond_with_cnonce(&challenge, "u", Secret::Password("p"), &request, "c");
        assert_eq!(result.err(), Some(error), "{value}");
        assert!(!error.to_string().is_empty());
    }
    let challenge = digest_challenge(r#"Digest realm="r", nonce="n", qop="auth""#);
    let long = "c".repeat(MAX_CNONCE_LEN + 1);
    let result =
        DigestClient::new().respond_with_cnonce(&challenge, "u", Secret::Password("p"), &request, &long);
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
    let strongest = select_challenge(values, ChallengePreference::Strongest).expect("one is supported");
    assert_eq!(strongest.effective_algorithm(), Ok(Algorithm::SHA256));
    let topmost = select_challenge(values, ChallengePreference::Topmost).expect("one is supported");
    assert_eq!(topmost.effective_algorithm(), Ok(Algorithm::MD5));
    let none = select_challenge(
        ["Basic realm=\"r\"", r#"Digest realm="r", nonce="n", algorithm=X"#],
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
