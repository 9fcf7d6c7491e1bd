//! The server: verification outcomes, stale nonces, replays, tracker eviction.

use super::*;

const REALM: &str = "biloxi.com";
const SECRET: [u8; 32] = [0x5a; 32];
const REGISTER: DigestRequest<'static> = DigestRequest {
    method: "REGISTER",
    uri: "sip:biloxi.com",
    body: b"",
};
const LIFETIME: Duration = DEFAULT_NONCE_LIFETIME;
const T0: Instant = Instant::from_millis(1_000_000);

fn all_algorithms() -> ServerConfig {
    ServerConfig {
        algorithms: Algorithm::ALL.into_iter().collect(),
        ..ServerConfig::default()
    }
}

fn registrar(config: ServerConfig) -> DigestServer {
    DigestServer::new(REALM, SECRET, config).expect("valid setup")
}

/// Issues a nonce at `now` and emits the challenge for `algorithm`.
fn challenge_text<const N: usize>(
    server: &mut DigestServer<N>,
    now: Instant,
    algorithm: Algorithm,
) -> String {
    let nonce = server.issue_nonce(now);
    emit_server_challenge(&server.challenge(&nonce, algorithm, false))
}

fn emit_server_challenge(challenge: &DigestChallenge<'_>) -> String {
    let mut buf = [0u8; 256];
    let len = challenge.emit(&mut buf).expect("emit");
    String::from_utf8(buf[..len].to_vec()).expect("utf-8")
}

/// The client's Authorization value for a challenge value.
fn answer(client: &mut DigestClient, challenge: &str, password: &str, request: &DigestRequest<'_>) -> String {
    let challenge = digest_challenge(challenge);
    let answer = client
        .respond(
            &challenge,
            "bob",
            Secret::Password(password),
            request,
            &mut CountingSource(1),
        )
        .expect("answerable");
    emit_client(&answer)
}

/// Verifies an Authorization value as a registrar that stores bob's HA1 for "zanzibar".
fn verify(
    server: &mut DigestServer,
    authorization: &str,
    request: &DigestRequest<'_>,
    now: Instant,
) -> Verification {
    let credentials = digest_credentials(authorization);
    let algorithm = credentials.effective_algorithm().unwrap_or(Algorithm::MD5);
    let stored = ha1(algorithm, "bob", REALM, "zanzibar");
    server.verify(&credentials, request, stored.as_str(), now)
}

#[test]
fn server_accepts_what_the_client_computes_for_every_algorithm() {
    let mut server = registrar(all_algorithms());
    for algorithm in Algorithm::ALL {
        let challenge = challenge_text(&mut server, T0, algorithm);
        let mut client = DigestClient::new();
        for nc in 1..=3 {
            let authorization = answer(&mut client, &challenge, "zanzibar", &REGISTER);
            assert_eq!(
                verify(&mut server, &authorization, &REGISTER, T0),
                Verification::Ok,
                "{algorithm} nc={nc}"
            );
        }
    }
}

#[test]
fn wrong_password_is_a_response_mismatch() {
    let mut server = registrar(ServerConfig::default());
    let challenge = challenge_text(&mut server, T0, Algorithm::SHA256);
    let authorization = answer(&mut DigestClient::new(), &challenge, "Zanzibar", &REGISTER);
    let outcome = verify(&mut server, &authorization, &REGISTER, T0);
    assert_eq!(outcome, Verification::ResponseMismatch);
    assert_eq!(outcome.suggested_status(), Some(403));
}

#[test]
fn expired_nonce_is_stale_only_for_the_right_password() {
    let mut server = registrar(ServerConfig::default());
    let challenge = challenge_text(&mut server, T0, Algorithm::SHA256);
    let mut client = DigestClient::new();
    let right = answer(&mut client, &challenge, "zanzibar", &REGISTER);
    let wrong = answer(&mut client, &challenge, "wrong", &REGISTER);
    let expired = T0 + LIFETIME + Duration::from_millis(1);
    assert_eq!(
        verify(&mut server, &right, &REGISTER, expired),
        Verification::Stale
    );
    assert_eq!(
        verify(&mut server, &right, &REGISTER, expired).suggested_status(),
        Some(401)
    );
    assert_eq!(
        verify(&mut server, &wrong, &REGISTER, expired),
        Verification::ResponseMismatch
    );
    assert_eq!(
        verify(&mut server, &right, &REGISTER, T0 + LIFETIME),
        Verification::Ok,
        "at the limit"
    );
}

#[test]
fn stale_challenge_says_so_and_the_client_recovers() {
    let mut server = registrar(ServerConfig::default());
    let nonce = server.issue_nonce(T0);
    let text = emit_server_challenge(&server.challenge(&nonce, Algorithm::SHA256, true));
    assert!(digest_challenge(&text).is_stale(), "{text}");
    let authorization = answer(&mut DigestClient::new(), &text, "zanzibar", &REGISTER);
    assert_eq!(
        verify(&mut server, &authorization, &REGISTER, T0),
        Verification::Ok
    );
}

#[test]
fn replayed_nonce_count_is_rejected() {
    let mut server = registrar(ServerConfig::default());
    let challenge = challenge_text(&mut server, T0, Algorithm::SHA256);
    let mut client = DigestClient::new();
    let first = answer(&mut client, &challenge, "zanzibar", &REGISTER);
    assert_eq!(verify(&mut server, &first, &REGISTER, T0), Verification::Ok);
    let replay = verify(&mut server, &first, &REGISTER, T0);
    assert_eq!(replay, Verification::Replay(1));
    assert_eq!(replay.suggested_status(), Some(401));
    let second = answer(&mut client, &challenge, "zanzibar", &REGISTER);
    assert_eq!(verify(&mut server, &second, &REGISTER, T0), Verification::Ok);
    assert_eq!(
        verify(&mut server, &first, &REGISTER, T0),
        Verification::Replay(1),
        "older nc after a newer one"
    );
}

#[test]
fn tampered_uri_is_rejected() {
    let mut server = registrar(ServerConfig::default());
    let challenge = challenge_text(&mut server, T0, Algorithm::SHA256);
    let authorization = answer(&mut DigestClient::new(), &challenge, "zanzibar", &REGISTER);
    // Sent to another Request-URI than the one signed.
    let elsewhere = DigestRequest {
        uri: "sip:evil.example",
        ..REGISTER
    };
    let outcome = verify(&mut server, &authorization, &elsewhere, T0);
    assert_eq!(outcome, Verification::UriMismatch);
    assert_eq!(outcome.suggested_status(), Some(400));
    // The uri parameter rewritten to match: the digest no longer does.
    let rewritten = authorization.replace("uri=\"sip:biloxi.com\"", "uri=\"sip:evil.example\"");
    assert_ne!(rewritten, authorization);
    assert_eq!(
        verify(&mut server, &rewritten, &elsewhere, T0),
        Verification::ResponseMismatch
    );
}

#[test]
fn realm_mismatch_is_rejected() {
    let mut server = registrar(ServerConfig::default());
    let mut other = DigestServer::<4>::new("atlanta.com", SECRET, ServerConfig::default()).expect("setup");
    let challenge = challenge_text(&mut other, T0, Algorithm::SHA256);
    let authorization = answer(&mut DigestClient::new(), &challenge, "zanzibar", &REGISTER);
    assert_eq!(
        verify(&mut server, &authorization, &REGISTER, T0),
        Verification::RealmMismatch
    );
}

#[test]
fn nonce_not_issued_by_this_server_is_foreign() {
    let mut server = registrar(ServerConfig::default());
    let mut restarted = DigestServer::<4>::new(REALM, [0x11; 32], ServerConfig::default()).expect("setup");
    let challenge = challenge_text(&mut restarted, T0, Algorithm::SHA256);
    let authorization = answer(&mut DigestClient::new(), &challenge, "zanzibar", &REGISTER);
    assert_eq!(
        verify(&mut server, &authorization, &REGISTER, T0),
        Verification::ForeignNonce
    );

    // A nonce of ours with its timestamp pushed forward (to dodge expiry) fails its MAC.
    let ours = challenge_text(&mut server, T0, Algorithm::SHA256);
    let nonce = digest_challenge(&ours).nonce.to_string();
    let mut forged = nonce.clone().into_bytes();
    forged[10] = if forged[10] == b'f' { b'e' } else { b'f' };
    let forged = String::from_utf8(forged).expect("hex");
    let authorization = answer(
        &mut DigestClient::new(),
        &ours.replace(&nonce, &forged),
        "zanzibar",
        &REGISTER,
    );
    let outcome = verify(&mut server, &authorization, &REGISTER, T0);
    assert_eq!(outcome, Verification::ForeignNonce);
    assert_eq!(outcome.suggested_status(), Some(401));
}

#[cfg(feature = "digest-sha512-256")]
#[test]
fn algorithms_outside_the_policy_are_rejected() {
    let mut permissive = registrar(all_algorithms());
    let challenge = challenge_text(&mut permissive, T0, Algorithm::SHA512_256);
    let authorization = answer(&mut DigestClient::new(), &challenge, "zanzibar", &REGISTER);
    let mut strict = registrar(ServerConfig::default());
    assert_eq!(
        verify(&mut strict, &authorization, &REGISTER, T0),
        Verification::AlgorithmNotAllowed(Algorithm::SHA512_256)
    );
    let unknown = authorization.replace("algorithm=SHA-512-256", "algorithm=SHA3-256");
    assert_eq!(
        verify(&mut strict, &unknown, &REGISTER, T0),
        Verification::UnknownAlgorithm
    );
}

#[test]
fn credentials_without_qop_need_the_rfc2069_allowance() {
    for allow_no_qop in [false, true] {
        let mut server = registrar(ServerConfig {
            allow_no_qop,
            ..ServerConfig::default()
        });
        let nonce = server.issue_nonce(T0);
        let mut challenge = server.challenge(&nonce, Algorithm::MD5, false);
        challenge.qop = None;
        let authorization = bob_answers(&challenge, &REGISTER);
        let expected = if allow_no_qop {
            Verification::Ok
        } else {
            Verification::QopNotAcceptable
        };
        assert_eq!(verify(&mut server, &authorization, &REGISTER, T0), expected);
    }
}

#[test]
fn auth_int_is_accepted_only_when_offered() {
    for offer_auth_int in [false, true] {
        let config = ServerConfig {
            offer_auth_int,
            ..ServerConfig::default()
        };
        let mut server = registrar(config);
        let nonce = server.issue_nonce(T0);
        let mut challenge = server.challenge(&nonce, Algorithm::SHA256, false);
        challenge.qop = Some(QopOptions::new(QuotedStr::new("auth-int")));
        let request = DigestRequest {
            body: b"<xml/>",
            ..REGISTER
        };
        let authorization = bob_answers(&challenge, &request);
        let expected = if offer_auth_int {
            Verification::Ok
        } else {
            Verification::QopNotAcceptable
        };
        assert_eq!(verify(&mut server, &authorization, &request, T0), expected);
        if offer_auth_int {
            let tampered = DigestRequest {
                body: b"<xml>",
                ..REGISTER
            };
            let outcome = server.verify(
                &digest_credentials(&authorization),
                &tampered,
                ha1(Algorithm::SHA256, "bob", REALM, "zanzibar").as_str(),
                T0,
            );
            assert_eq!(outcome, Verification::ResponseMismatch, "the body is covered");
        }
    }
}

#[test]
fn malformed_credentials_are_reported_with_the_defect() {
    let mut server = registrar(ServerConfig::default());
    let challenge = challenge_text(&mut server, T0, Algorithm::SHA256);
    let authorization = answer(&mut DigestClient::new(), &challenge, "zanzibar", &REGISTER);
    let parsed = digest_credentials(&authorization);
    let stored = ha1(Algorithm::SHA256, "bob", REALM, "zanzibar");
    let mut check =
        |credentials: DigestCredentials<'_>| server.verify(&credentials, &REGISTER, stored.as_str(), T0);
    let outcome = check(DigestCredentials {
        cnonce: None,
        ..parsed
    });
    assert_eq!(
        outcome,
        Verification::MalformedHeader(CredentialsDefect::MissingCnonce)
    );
    assert_eq!(outcome.suggested_status(), Some(400));
    assert_eq!(
        check(DigestCredentials {
            nonce_count: None,
            ..parsed
        }),
        Verification::MalformedHeader(CredentialsDefect::MissingNonceCount)
    );
    for response in ["", "xyz", "0123456789abcdef0123456789abcdef"] {
        assert_eq!(
            check(DigestCredentials {
                response: QuotedStr::new(response),
                ..parsed
            }),
            Verification::MalformedHeader(CredentialsDefect::InvalidResponse),
            "{response:?}"
        );
    }
    assert_eq!(
        check(DigestCredentials {
            qop: Some(Qop::Other(QuotedStr::new("x"))),
            ..parsed
        }),
        Verification::QopNotAcceptable
    );
    assert_eq!(
        check(parsed),
        Verification::Ok,
        "the unmodified credentials are fine"
    );
}

#[test]
fn unusable_stored_ha1_is_a_provisioning_error() {
    let mut server = registrar(ServerConfig::default());
    let challenge = challenge_text(&mut server, T0, Algorithm::SHA256);
    let authorization = answer(&mut DigestClient::new(), &challenge, "zanzibar", &REGISTER);
    let md5_ha1 = ha1(Algorithm::MD5, "bob", REALM, "zanzibar");
    let outcome = server.verify(
        &digest_credentials(&authorization),
        &REGISTER,
        md5_ha1.as_str(),
        T0,
    );
    assert_eq!(outcome, Verification::InvalidStoredHa1);
    assert_eq!(outcome.suggested_status(), Some(500));
}

#[test]
fn challenges_come_in_preference_order_with_one_nonce() {
    let mut server = registrar(ServerConfig::default());
    let nonce = server.issue_nonce(T0);
    let values: Vec<String> = server
        .challenges(&nonce, false)
        .map(|c| emit_server_challenge(&c))
        .collect();
    let parsed: Vec<_> = values.iter().map(|v| digest_challenge(v)).collect();
    let algorithms: Vec<_> = parsed.iter().map(|c| c.effective_algorithm()).collect();
    assert_eq!(algorithms, [Ok(Algorithm::SHA256), Ok(Algorithm::MD5)]);
    assert!(parsed
        .iter()
        .all(|c| c.nonce.eq_str(nonce.as_str()) && c.realm.eq_str(REALM)));
    assert!(
        parsed
            .iter()
            .all(|c| c.qop.is_some_and(|q| q.contains(Qop::Auth))),
        "RFC 8760: always a qop"
    );
    let chosen = select_challenge(
        values.iter().map(String::as_str).rev(),
        ChallengePreference::Strongest,
    )
    .expect("supported");
    assert_eq!(chosen.effective_algorithm(), Ok(Algorithm::SHA256));
}

#[test]
fn nonces_are_distinct_hex_of_the_documented_length() {
    let mut server = registrar(ServerConfig::default());
    let first = server.issue_nonce(T0);
    let second = server.issue_nonce(T0);
    assert_ne!(first, second, "same millisecond, different nonces");
    for nonce in [first, second] {
        assert_eq!(nonce.as_str().len(), NONCE_LEN);
        assert!(nonce.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

#[test]
fn nonces_forgotten_by_a_full_tracker_are_answered_stale() {
    let mut server = DigestServer::<2>::new(REALM, SECRET, ServerConfig::default()).expect("setup");
    let challenges: Vec<String> = (0..3)
        .map(|_| challenge_text(&mut server, T0, Algorithm::SHA256))
        .collect();
    let stored = ha1(Algorithm::SHA256, "bob", REALM, "zanzibar");
    let mut clients = [DigestClient::new(), DigestClient::new(), DigestClient::new()];
    for (client, challenge) in clients.iter_mut().zip(&challenges) {
        let authorization = answer(client, challenge, "zanzibar", &REGISTER);
        let outcome = server.verify(
            &digest_credentials(&authorization),
            &REGISTER,
            stored.as_str(),
            T0,
        );
        assert_eq!(outcome, Verification::Ok);
    }
    assert_eq!(server.nonce_counts().len(), 2);
    // The first nonce was evicted: its next use must not be accepted blindly.
    let again = answer(&mut clients[0], &challenges[0], "zanzibar", &REGISTER);
    let outcome = server.verify(&digest_credentials(&again), &REGISTER, stored.as_str(), T0);
    assert_eq!(outcome, Verification::Stale);
}

#[test]
fn server_setup_errors_are_typed() {
    let long = "r".repeat(MAX_REALM_LEN + 1);
    let no_algorithms = ServerConfig {
        algorithms: Default::default(),
        ..ServerConfig::default()
    };
    let twice = ServerConfig {
        algorithms: [Algorithm::SHA256, Algorithm::MD5, Algorithm::SHA256]
            .into_iter()
            .collect(),
        ..ServerConfig::default()
    };
    let cases = [
        (
            "r",
            twice,
            ServerSetupError::DuplicateAlgorithm(Algorithm::SHA256),
        ),
        (
            long.as_str(),
            ServerConfig::default(),
            ServerSetupError::RealmTooLong,
        ),
        ("a\r\nb", ServerConfig::default(), ServerSetupError::RealmInvalid),
        ("r", no_algorithms, ServerSetupError::NoAlgorithms),
    ];
    for (realm, config, error) in cases {
        assert_eq!(DigestServer::<4>::new(realm, SECRET, config).err(), Some(error));
    }
}
