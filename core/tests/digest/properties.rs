//! Property tests: the parser is total and canonical; client and server agree.

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
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..24).prop_map(|parts| parts.concat())
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

/// Parameter names: the known ones of both headers (some in odd case) and extensions.
const NAMES: &[&str] = &[
    "realm",
    "NONCE",
    "domain",
    "opaque",
    "stale",
    "algorithm",
    "qop",
    "userhash",
    "username",
    "username*",
    "uri",
    "response",
    "cnonce",
    "nc",
    "x-ext",
    "charset",
];

/// Values: tokens, base64, quoted with escapes, folds, commas and non-ASCII, valid and invalid nc.
const VALUES: &[&str] = &[
    "true",
    "FALSE",
    "MD5",
    "sha-256-sess",
    "SHA-512-256",
    "weird",
    "auth",
    "\"auth,auth-int\"",
    "\"auth, x\\,y\"",
    "00000001",
    "0000000g",
    "abc/def==",
    "\"\"",
    "\"a\\\"b\"",
    "\"c,d\"",
    "\"f\r\n g\"",
    "\"\u{e9}\u{1f600}\"",
    "UTF-8''%C3%A4",
    "\"sip:bob@biloxi.com\"",
];

/// A `Digest` header that often parses: the required parameters of both headers, plus random ones,
/// shuffled and joined with assorted separators.
fn noisy_digest_header() -> impl Strategy<Value = String> {
    let required = [
        "realm=\"r\"",
        "nonce=n",
        "username=\"u\"",
        "uri=\"sip:a\"",
        "response=\"\"",
    ];
    let random = prop::collection::vec(
        (prop::sample::select(NAMES), prop::sample::select(VALUES)).prop_map(|(n, v)| format!("{n}={v}")),
        0..5,
    );
    let separators = prop::collection::vec(prop::sample::select(&[", ", ",", " ,\r\n\t", ",, "][..]), 12);
    (
        random,
        prop::sample::select(&["Digest ", "dIgEsT\r\n "][..]),
        separators,
    )
        .prop_flat_map(move |(random, scheme, separators)| {
            let params: Vec<String> = required.iter().map(|p| p.to_string()).chain(random).collect();
            (Just(params).prop_shuffle(), Just(scheme), Just(separators))
        })
        .prop_map(|(params, scheme, separators)| {
            let mut text = scheme.to_string();
            for (i, param) in params.iter().enumerate() {
                if i > 0 {
                    text.push_str(separators[i % separators.len()]);
                }
                text.push_str(param);
            }
            text
        })
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
    fn server_verifies_exactly_the_right_password(
        username in quoted_text(),
        password in "\\PC{0,16}",
        other_password in "\\PC{0,16}",
        method in token(),
        uri in quoted_text(),
        algorithm in prop::sample::select(Algorithm::ALL.to_vec()),
        cnonce_seed in any::<u8>(),
    ) {
        let config = ServerConfig { algorithms: Algorithm::ALL.into_iter().collect(), ..ServerConfig::default() };
        let mut server = DigestServer::<4>::new("realm", [9; 32], config).expect("setup");
        let nonce = server.issue_nonce(Instant::from_millis(5));
        let mut challenge_buf = [0u8; 256];
        let len = server.challenge(&nonce, algorithm, false).emit(&mut challenge_buf).expect("emit");
        let challenge_text = std::str::from_utf8(&challenge_buf[..len]).expect("utf-8").to_string();
        let challenge = digest_challenge(&challenge_text);
        let request = DigestRequest { method: &method, uri: &uri, body: b"" };
        let stored = ha1(algorithm, &username, "realm", &password);
        // One client: the second attempt uses nc=2, as a real retry with the same nonce would.
        let mut client = DigestClient::new();
        for (attempt, (tried, expected)) in [(&other_password, false), (&password, true)].into_iter().enumerate() {
            let answer = client
                .respond(&challenge, &username, Secret::Password(tried), &request, &mut CountingSource(cnonce_seed))
                .expect("answerable");
            let mut buf = [0u8; 1024];
            let len = answer.emit(&mut buf).expect("emit");
            let text = std::str::from_utf8(&buf[..len]).expect("utf-8");
            let credentials = digest_credentials(text);
            let outcome = server.verify(&credentials, &request, stored.as_str(), Instant::from_millis(6 + attempt as u64));
            let want = if expected || tried == &password { Verification::Ok } else { Verification::ResponseMismatch };
            prop_assert_eq!(outcome, want, "{}", text);
        }
    }

    #[test]
    fn parsing_fragments_never_panics_and_round_trips(text in fragment_text()) {
        check_total(&text)?;
    }

    #[test]
    fn noisy_digest_headers_round_trip(text in noisy_digest_header()) {
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

/// The noisy generator must reach the `Digest` parsers and emitters, not just their error paths.
#[test]
fn noisy_digest_headers_mostly_parse() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = noisy_digest_header();
    let (mut challenges, mut credentials) = (0, 0);
    let samples = 1000;
    for _ in 0..samples {
        let text = strategy.new_tree(&mut runner).expect("strategy").current();
        challenges += usize::from(matches!(Challenge::parse(&text), Ok(Challenge::Digest(_))));
        credentials += usize::from(matches!(Credentials::parse(&text), Ok(Credentials::Digest(_))));
    }
    println!("digest parses out of {samples}: challenges {challenges}, credentials {credentials}");
    assert!(
        challenges > samples / 4 && credentials > samples / 4,
        "{challenges} {credentials}"
    );
}
