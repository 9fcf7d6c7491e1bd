//! `config::Config`: defaults, overrides from TOML, and the errors for bad input.

use simple_im_core::sip::auth::Algorithm;
use simple_im_tokio::config::{Config, ConfigError, DEFAULT_SIP_LISTEN};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

fn syntax_error(text: &str) -> (Option<usize>, Option<usize>, String) {
    match Config::from_toml(text, Path::new("/etc/simple-im")) {
        Err(ConfigError::Syntax {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected a syntax error for {text:?}, got {other:?}"),
    }
}

#[test]
fn no_file_gives_the_documented_defaults() {
    let config = Config::load(None, None).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.domain, "localhost");
    assert_eq!(config.system_uri, "sip:system@localhost");
    assert_eq!(config.data_dir, PathBuf::from("./simple-im-data"));
    assert_eq!(config.db_path(), PathBuf::from("./simple-im-data/simple-im.db"));
    assert_eq!(
        config.charging_log,
        PathBuf::from("./simple-im-data/charging.jsonl")
    );
    let loopback: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    assert_eq!(DEFAULT_SIP_LISTEN, loopback);
    assert_eq!(config.sip.udp, [loopback]);
    assert_eq!(config.sip.tcp, [loopback]);
    assert_eq!(config.limits.max_pager_body_bytes, 1300);
    assert_eq!(config.limits.deferred_expiry().as_secs(), 7 * 24 * 3600);
    assert!(config.trusted_cores.is_empty());
}

#[test]
fn an_empty_file_equals_the_defaults() {
    assert_eq!(Config::from_toml("", Path::new(".")).unwrap(), Config::default());
}

#[test]
fn data_option_moves_the_data_dir_and_the_default_charging_log() {
    let config = Config::load(None, Some(Path::new("/srv/im"))).unwrap();
    assert_eq!(config.data_dir, PathBuf::from("/srv/im"));
    assert_eq!(config.charging_log, PathBuf::from("/srv/im/charging.jsonl"));
}

#[test]
fn file_overrides_every_key() {
    let text = r#"
        domain = "example.com"
        aliases = ["im.example.com"]
        data_dir = "data"
        system_uri = "sip:notices@example.com"
        charging_log = "/var/log/im.jsonl"
        trusted_cores = ["10.0.0.5", "::1"]
        [sip]
        udp = ["0.0.0.0:5070"]
        tcp = []
        [limits]
        max_pager_body_bytes = 4096
        deferred_expiry_seconds = 60
        quota_messages = 5
        quota_bytes = 100
    "#;
    let config = Config::from_toml(text, Path::new("/etc/simple-im")).unwrap();
    assert_eq!(config.domain, "example.com");
    assert!(config.is_local_domain("IM.example.com") && !config.is_local_domain("example.org"));
    assert_eq!(
        config.data_dir,
        PathBuf::from("/etc/simple-im/data"),
        "relative to the file's directory"
    );
    assert_eq!(config.charging_log, PathBuf::from("/var/log/im.jsonl"));
    assert_eq!(config.system_uri, "sip:notices@example.com");
    assert_eq!(
        config.trusted_cores,
        ["10.0.0.5".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
    );
    assert!(config.is_trusted_core("10.0.0.5".parse().unwrap()));
    assert!(!config.is_trusted_core("10.0.0.6".parse().unwrap()));
    assert_eq!(config.sip.udp, ["0.0.0.0:5070".parse::<SocketAddr>().unwrap()]);
    assert!(config.sip.tcp.is_empty());
    assert_eq!(config.limits.max_pager_body_bytes, 4096);
    assert_eq!(config.limits.deferred_expiry().as_secs(), 60);
    assert_eq!(config.limits.quota().max_messages, 5);
    assert_eq!(config.limits.quota().max_bytes, 100);
}

#[test]
fn partial_sections_keep_the_other_defaults() {
    let config = Config::from_toml("[limits]\nquota_messages = 7\n", Path::new(".")).unwrap();
    assert_eq!(config.limits.quota_messages, 7);
    assert_eq!(config.limits.max_pager_body_bytes, 1300);
    assert_eq!(config.sip, Config::default().sip);
}

#[test]
fn domain_sets_the_default_system_uri() {
    let config = Config::from_toml("domain = \"example.net\"", Path::new(".")).unwrap();
    assert_eq!(config.system_uri, "sip:system@example.net");
}

#[test]
fn data_option_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("simple-im.toml");
    std::fs::write(&file, "data_dir = \"from-file\"\n").unwrap();
    assert_eq!(
        Config::load(Some(&file), None).unwrap().data_dir,
        dir.path().join("from-file")
    );
    let config = Config::load(Some(&file), Some(Path::new("/override"))).unwrap();
    assert_eq!(config.data_dir, PathBuf::from("/override"));
}

#[test]
fn unknown_top_level_key_is_named_with_its_line() {
    let (line, column, message) = syntax_error("domain = \"a.b\"\n\ndomian = \"typo\"\n");
    assert_eq!((line, column), (Some(3), Some(1)));
    assert!(message.contains("domian"), "{message}");
}

#[test]
fn unknown_key_in_a_section_is_named_with_its_line() {
    let (line, _, message) = syntax_error("[limits]\nquota_messages = 3\nquota_mesages = 4\n");
    assert_eq!(line, Some(3));
    assert!(message.contains("quota_mesages"), "{message}");
}

#[test]
fn wrong_types_and_bad_addresses_are_syntax_errors_at_their_line() {
    assert_eq!(syntax_error("[limits]\nquota_bytes = \"lots\"\n").0, Some(2));
    assert_eq!(syntax_error("[sip]\nudp = [\"localhost:5060\"]\n").0, Some(2));
    assert_eq!(syntax_error("trusted_cores = [\"10.0.0.300\"]").0, Some(1));
    assert_eq!(syntax_error("domain = ").0, Some(1));
}

#[test]
fn unusable_values_name_their_key() {
    let cases = [
        ("domain = \"\"", "domain"),
        ("domain = \"user@host\"", "domain"),
        ("system_uri = \"mailto:x@y\"", "system_uri"),
        ("[sip]\nudp = []\ntcp = []", "sip"),
        ("[limits]\nquota_messages = 0", "limits.quota_messages"),
        (
            "[limits]\nmax_pager_body_bytes = 0",
            "limits.max_pager_body_bytes",
        ),
    ];
    for (text, expected_key) in cases {
        match Config::from_toml(text, Path::new(".")) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, expected_key, "{text}"),
            other => panic!("expected Invalid for {text:?}, got {other:?}"),
        }
    }
}

#[test]
fn errors_read_as_file_line_column_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "\n  colour = 1\n").unwrap();
    let shown = Config::load(Some(&file), None).unwrap_err().to_string();
    assert!(shown.starts_with(&format!("{}:2:3: ", file.display())), "{shown}");
    assert!(shown.contains("colour"), "{shown}");
    let missing = Config::load(Some(&dir.path().join("absent.toml")), None).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
    assert!(missing.to_string().contains("absent.toml"));
}

#[test]
fn server_table_defaults_match_the_server_options() {
    let config = Config::from_toml("", Path::new(".")).unwrap();
    assert_eq!(
        config.server_options(),
        simple_im_tokio::server::Options::default()
    );
}

#[test]
fn server_table_sets_the_role_options() {
    let text = r#"
        [server]
        digest_algorithms = ["MD5", "SHA-256"]
        allowed_content_types = ["Text/Plain", "message/cpim"]
        min_expires = 30
        max_expires = 7200
    "#;
    let options = Config::from_toml(text, Path::new(".")).unwrap().server_options();
    assert_eq!(options.digest_algorithms, [Algorithm::MD5, Algorithm::SHA256]);
    assert_eq!(
        options.allowed_content_types,
        Some(vec!["text/plain".to_owned(), "message/cpim".to_owned()]),
        "lowercased, as the Participating check compares them"
    );
    assert_eq!((options.min_expires, options.max_expires), (30, 7200));
    assert_eq!(
        options.expiry_interval,
        simple_im_tokio::server::Options::default().expiry_interval
    );
}

#[test]
fn unknown_key_in_the_server_table_is_named_with_its_line() {
    let (line, _, message) = syntax_error("[server]\nmin_expires = 30\nmax_expire = 60\n");
    assert_eq!(line, Some(3));
    assert!(message.contains("max_expire"), "{message}");
    assert_eq!(syntax_error("[server]\nmin_expires = -1\n").0, Some(2));
}

#[test]
fn unusable_server_values_name_their_key() {
    let cases = [
        (
            "[server]\ndigest_algorithms = [\"SHA-1\"]",
            "server.digest_algorithms",
            "SHA-1",
        ),
        (
            "[server]\ndigest_algorithms = []",
            "server.digest_algorithms",
            "at least one",
        ),
        (
            "[server]\nallowed_content_types = []",
            "server.allowed_content_types",
            "leave the key out",
        ),
        (
            "[server]\nallowed_content_types = [\"text\"]",
            "server.allowed_content_types",
            "'text'",
        ),
        (
            "[server]\nmin_expires = 0",
            "server.min_expires",
            "greater than 0",
        ),
        (
            "[server]\nmin_expires = 120\nmax_expires = 60",
            "server.max_expires",
            "below",
        ),
    ];
    for (text, expected_key, expected_reason) in cases {
        match Config::from_toml(text, Path::new(".")) {
            Err(ConfigError::Invalid { key, reason }) => {
                assert_eq!(key, expected_key, "{text}");
                assert!(reason.contains(expected_reason), "{text}: {reason}");
            }
            other => panic!("expected Invalid for {text:?}, got {other:?}"),
        }
    }
}

#[test]
fn msrp_table_defaults_and_overrides() {
    use simple_im_tokio::config::{MediaPath, DEFAULT_MSRP_LISTEN};
    let defaults = Config::default().msrp;
    assert_eq!(
        DEFAULT_MSRP_LISTEN,
        "127.0.0.1:2855".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(defaults.listen, DEFAULT_MSRP_LISTEN);
    assert_eq!(
        (defaults.advertise, defaults.media_path),
        (None, MediaPath::Relay)
    );
    let text = "[msrp]\nlisten = \"0.0.0.0:0\"\nadvertise = \"10.0.2.2\"\nmedia_path = \"direct\"\n";
    let msrp = Config::from_toml(text, Path::new(".")).unwrap().msrp;
    assert_eq!(msrp.listen, "0.0.0.0:0".parse::<SocketAddr>().unwrap());
    assert_eq!(msrp.advertise.as_deref(), Some("10.0.2.2"));
    assert_eq!(msrp.media_path, MediaPath::Direct);
    let (line, _, message) = syntax_error("[msrp]\nmedia_path = \"sideways\"\n");
    assert_eq!(line, Some(2), "{message}");
    assert!(
        message.contains("relay") && message.contains("direct"),
        "{message}"
    );
    let (line, _, message) = syntax_error("[msrp]\nport = 1\n");
    assert_eq!(line, Some(2), "{message}");
}

#[test]
fn msrp_tls_needs_a_certificate_and_a_key_relative_to_the_config_file() {
    assert_eq!(Config::default().msrp.tls_listen, None);
    let text = "[msrp]\ntls_listen = \"127.0.0.1:2856\"\ntls_certificate = \"msrp.pem\"\ntls_key = \"/keys/msrp.key\"\n";
    let msrp = Config::from_toml(text, Path::new("/etc/simple-im")).unwrap().msrp;
    assert_eq!(
        msrp.tls_listen,
        Some("127.0.0.1:2856".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(
        msrp.tls_certificate.as_deref(),
        Some(Path::new("/etc/simple-im/msrp.pem"))
    );
    assert_eq!(msrp.tls_key.as_deref(), Some(Path::new("/keys/msrp.key")));
    for (text, missing) in [
        (
            "[msrp]\ntls_listen = \"127.0.0.1:0\"\ntls_key = \"k.pem\"\n",
            "msrp.tls_certificate",
        ),
        (
            "[msrp]\ntls_listen = \"127.0.0.1:0\"\ntls_certificate = \"c.pem\"\n",
            "msrp.tls_key",
        ),
    ] {
        match Config::from_toml(text, Path::new(".")) {
            Err(ConfigError::Invalid { key, reason }) => {
                assert_eq!(key, missing, "{text}");
                assert!(reason.contains("tls_listen"), "{reason}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn msrp_tls_to_callee_is_off_by_default_and_needs_the_tls_listener() {
    assert!(!Config::default().msrp.tls_to_callee);
    let text = "[msrp]\ntls_listen = \"127.0.0.1:0\"\ntls_certificate = \"c.pem\"\ntls_key = \"k.pem\"\n\
tls_to_callee = true\n";
    assert!(
        Config::from_toml(text, Path::new("."))
            .unwrap()
            .msrp
            .tls_to_callee
    );
    match Config::from_toml("[msrp]\ntls_to_callee = true\n", Path::new(".")) {
        Err(ConfigError::Invalid { key, reason }) => {
            assert_eq!(key, "msrp.tls_to_callee");
            assert!(reason.contains("tls_listen"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
