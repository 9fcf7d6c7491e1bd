//! The server's configuration: defaults that make `simple-im server` work with no file at all, and a
//! TOML file (`--config FILE`) that overrides any of them.
//!
//! ## The file
//!
//! Every key is optional; an unknown key is an error naming the key and its line, so a typo is never
//! silently ignored. Relative paths in the file are relative to the file's own directory (so a
//! service manager's working directory does not matter); the built-in default data directory is
//! relative to the working directory. The global `--data DIR` option overrides `data_dir`.
//!
//! ```toml
//! domain = "example.com"             # the served domain, digest realm and system URI host
//! aliases = ["im.example.com"]       # other domains treated as this one
//! data_dir = "/var/lib/simple-im"    # holds simple-im.db
//! system_uri = "sip:system@example.com"
//! charging_log = "/var/log/simple-im/charging.jsonl"
//! trusted_cores = ["10.0.0.5"]       # SIP/IP cores whose P-Asserted-Identity is believed
//!
//! [sip]
//! udp = ["0.0.0.0:5060"]
//! tcp = ["0.0.0.0:5060"]
//!
//! [limits]
//! max_pager_body_bytes = 1300
//! deferred_expiry_seconds = 604800
//! quota_messages = 1000
//! quota_bytes = 10485760
//! imdn_aggregation_ms = 2000         # the URI-list service's IMDN batch window (at most 16000)
//!
//! [server]
//! digest_algorithms = ["SHA-256", "MD5"]   # challenged in this order; --digest-algorithms overrides
//! allowed_content_types = ["text/plain", "message/cpim"]  # MESSAGE bodies accepted; omit for any
//! min_expires = 60                   # shorter REGISTER/PUBLISH lifetimes get 423
//! max_expires = 3600                 # longer ones are capped; also the default lifetime
//!
//! [msrp]
//! listen = "127.0.0.1:2855"          # the MSRP relay's TCP listener (port 0: any free port)
//! advertise = "10.0.2.2"             # host put in the relay's MSRP URIs and c= lines; default: listen IP
//! media_path = "relay"               # "relay": the server relays MSRP (OMA option 2); "direct": SDP untouched
//! deferred_msrp_listen = "127.0.0.1:0"  # Deferred Messaging's MSRP listener with media_path = "direct" (else the relay's)
//! tls_listen = "127.0.0.1:2856"      # MSRP over TLS (msrps) for the relay's legs; off when absent
//! tls_certificate = "/etc/simple-im/msrp.pem"  # PEM chain, leaf first (required with tls_listen)
//! tls_key = "/etc/simple-im/msrp.key"          # PEM private key (PKCS#8, PKCS#1 or SEC1)
//! tls_ca = "/etc/simple-im/msrp-peers-ca.pem"   # CAs trusted when the relay dials an msrps: endpoint
//! tls_to_callee = false              # true: an msrps caller's callee is offered TLS too, never clear text
//!
//! [[peers]]                          # another domain's server (repeatable)
//! domain = "other.example"           # INVITEs, MESSAGEs and list copies to its users go to it;
//! address = "192.0.2.7:5060"         #   its users' requests are believed only from this IP
//! transport = "tcp"                  # "udp" (default) or "tcp"
//! ```
//!
//! ## Why these defaults
//!
//! - `max_pager_body_bytes = 1300`: RFC 3428 caps a MESSAGE request outside a media session at 1300
//!   bytes unless the path MTU is known, and OMA IM lets the Participating function enforce a
//!   configured maximum (answering 413 with the allowed size). Using the RFC's figure for the body
//!   means a sender that follows the RFC is never refused; larger content belongs in a session (MSRP).
//! - `deferred_expiry_seconds` = 7 days: long enough to outlast a weekend offline, short enough that
//!   an abandoned account's queue does not grow for ever (the quota bounds it too).
//! - quota 1000 messages / 10 MiB per recipient: about 7 days of a busy user's pager traffic at the
//!   default size limit, while 10,000 full mailboxes still fit in 100 GiB.
//! - `imdn_aggregation_ms = 2000`: a recipient's delivery notification is answered only once the
//!   batch holding it went out, so the window must stay well inside the 32 s a SIP client waits
//!   (Timer F); 2 s lets the online recipients of a list answer together in one batch.

use crate::store::Quota;
use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default MSRP relay listen address (2855 is MSRP's registered port).
pub const DEFAULT_MSRP_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 2855);

/// The data directory used when neither `--data` nor the file names one.
pub const DEFAULT_DATA_DIR: &str = "./simple-im-data";
/// The charging log's file name inside the data directory, unless `charging_log` says otherwise.
pub const DEFAULT_CHARGING_LOG: &str = "charging.jsonl";
/// The default served domain.
pub const DEFAULT_DOMAIN: &str = "localhost";
/// The default SIP listen address, on UDP and TCP alike.
pub const DEFAULT_SIP_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5060);

/// The resolved configuration of the server and of the CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The served domain: the host part of local users' AoRs and the digest realm.
    pub domain: String,
    /// Other domain names accepted as `domain`.
    pub aliases: Vec<String>,
    /// Where the store lives (`simple-im.db` inside it).
    pub data_dir: PathBuf,
    /// The sender of system messages (e.g. "your message was stored").
    pub system_uri: String,
    /// The JSON-lines file of charging records.
    pub charging_log: PathBuf,
    /// SIP/IP cores whose P-Asserted-Identity is trusted (application-server mode).
    pub trusted_cores: Vec<IpAddr>,
    /// SIP listen addresses.
    pub sip: SipListen,
    /// Participating and Deferred Messaging limits.
    pub limits: Limits,
    /// The MSRP relay and the Deferred Messaging function's MSRP endpoint (`[msrp]`).
    pub msrp: MsrpSettings,
    /// Settings of the server roles (`[server]`).
    pub server: ServerSettings,
    /// Servers of other domains, reached directly (`[[peers]]`).
    pub peers: Vec<PeerDomain>,
}

/// A server of another domain (`[[peers]]`): requests for users or groups of `domain` go to
/// `address` (SIP over UDP, or TCP with `transport = "tcp"`), and a request whose From is of `domain`
/// is believed only when it comes from `address`'s IP (the peer vouches for its own users, as a
/// SIP/IP core would).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerDomain {
    /// The other server's domain.
    pub domain: String,
    /// Its SIP address.
    pub address: SocketAddr,
    /// How pager messages, list copies and notifications reach it (`"udp"`, the default, or `"tcp"`).
    #[serde(default)]
    pub transport: PeerTransport,
}

/// The transport toward a `[[peers]]` server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerTransport {
    /// Datagrams from the server's first UDP socket.
    #[default]
    Udp,
    /// One TCP connection the server opens and keeps while it stays open.
    Tcp,
}

/// The `[server]` table: role settings, resolved into [`crate::server::Options`] by
/// [`Config::server_options`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// Digest algorithms challenged with, most preferred first.
    pub digest_algorithms: Vec<simple_im_core::sip::auth::Algorithm>,
    /// MESSAGE content types accepted (`type/subtype`, lowercase); `None` accepts any.
    pub allowed_content_types: Option<Vec<String>>,
    /// Shortest REGISTER/PUBLISH lifetime accepted (seconds).
    pub min_expires: u32,
    /// Longest REGISTER/PUBLISH lifetime granted (seconds), and the default.
    pub max_expires: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        let options = crate::server::Options::default();
        ServerSettings {
            digest_algorithms: options.digest_algorithms,
            allowed_content_types: options.allowed_content_types,
            min_expires: options.min_expires,
            max_expires: options.max_expires,
        }
    }
}

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServerFile {
    digest_algorithms: Option<Vec<String>>,
    allowed_content_types: Option<Vec<String>>,
    min_expires: Option<u32>,
    max_expires: Option<u32>,
}

/// Where the server listens for SIP.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipListen {
    /// UDP sockets.
    pub udp: Vec<SocketAddr>,
    /// TCP listeners.
    pub tcp: Vec<SocketAddr>,
}

impl Default for SipListen {
    fn default() -> Self {
        SipListen {
            udp: vec![DEFAULT_SIP_LISTEN],
            tcp: vec![DEFAULT_SIP_LISTEN],
        }
    }
}

/// Whether session media goes through the server (OMA SIMPLE IM media-path options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaPath {
    /// Option 2: the Participating functions relay MSRP; SDP is rewritten to point at the server.
    #[default]
    Relay,
    /// Option 1: endpoints connect to each other; SDP passes untouched.
    Direct,
}

/// The `[msrp]` table: the MSRP relay in the media path.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsrpSettings {
    /// Where the relay listens (TCP).
    pub listen: SocketAddr,
    /// The host the relay names in its MSRP URIs and SDP `c=` lines, when not the listen IP.
    pub advertise: Option<String>,
    /// Relay or direct media path.
    pub media_path: MediaPath,
    /// Where the Deferred Messaging function accepts MSRP connections when there is no relay
    /// (`media_path = "direct"`; with the relay it shares the relay's port). Port 0 picks a free port.
    pub deferred_msrp_listen: SocketAddr,
    /// Where the relay accepts MSRP over TLS (`msrps`, RFC 4975 §14); no TLS when `None`.
    pub tls_listen: Option<SocketAddr>,
    /// The relay's TLS certificate chain (PEM, leaf first).
    pub tls_certificate: Option<PathBuf>,
    /// The private key of the TLS certificate (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) trusted when the relay dials an endpoint whose path is `msrps:` (a
    /// passive one); without it such endpoints cannot be reached.
    pub tls_ca: Option<PathBuf>,
    /// Offer the callee TLS (`msrps:` on `tls_listen`) when the caller's path is `msrps:`, with no
    /// clear-text fall-back; off: the callee is offered TCP.
    pub tls_to_callee: bool,
}

impl Default for MsrpSettings {
    fn default() -> Self {
        MsrpSettings {
            listen: DEFAULT_MSRP_LISTEN,
            advertise: None,
            media_path: MediaPath::Relay,
            deferred_msrp_listen: SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0),
            tls_listen: None,
            tls_certificate: None,
            tls_key: None,
            tls_ca: None,
            tls_to_callee: false,
        }
    }
}

/// Limits enforced by the Participating and Deferred Messaging functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest pager-mode body accepted; larger is refused with 413 telling this figure.
    pub max_pager_body_bytes: u64,
    /// How long a deferred message waits for its recipient before it expires.
    pub deferred_expiry_seconds: u64,
    /// The most deferred messages one recipient may have pending.
    pub quota_messages: u64,
    /// The most deferred body bytes one recipient may have pending.
    pub quota_bytes: u64,
    /// How long the URI-list service collects delivery notifications before it sends the sender one
    /// aggregated notification (RFC 5438 §8.3); a batch goes at once when every recipient has answered.
    pub imdn_aggregation_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pager_body_bytes: 1300,
            deferred_expiry_seconds: 7 * 24 * 3600,
            quota_messages: 1000,
            quota_bytes: 10 * 1024 * 1024,
            imdn_aggregation_ms: 2000,
        }
    }
}

/// The longest IMDN batch window accepted (see `imdn_aggregation_ms`).
pub const MAX_IMDN_AGGREGATION_MS: u64 = 16_000;

impl Limits {
    /// The URI-list service's IMDN batch window.
    pub fn imdn_aggregation(&self) -> Duration {
        Duration::from_millis(self.imdn_aggregation_ms)
    }

    /// The per-recipient deferred quota, as the store takes it.
    pub fn quota(&self) -> Quota {
        Quota {
            max_messages: self.quota_messages,
            max_bytes: self.quota_bytes,
        }
    }

    /// How long a deferred message is kept.
    pub fn deferred_expiry(&self) -> Duration {
        Duration::from_secs(self.deferred_expiry_seconds)
    }
}

/// The file as written: everything optional, resolved into [`Config`] afterwards.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ConfigFile {
    domain: Option<String>,
    aliases: Vec<String>,
    data_dir: Option<PathBuf>,
    system_uri: Option<String>,
    charging_log: Option<PathBuf>,
    trusted_cores: Vec<IpAddr>,
    sip: SipListen,
    limits: Limits,
    server: ServerFile,
    msrp: MsrpSettings,
    peers: Vec<PeerDomain>,
}

/// Why the configuration could not be loaded. Every variant names the file when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not valid TOML or does not fit the schema (unknown key, wrong type).
    Syntax {
        /// The file, or `<text>` when parsed from a string.
        path: PathBuf,
        /// 1-based line of the offending text, when known.
        line: Option<usize>,
        /// 1-based column (in characters), when known.
        column: Option<usize>,
        /// What is wrong, as the TOML parser says it.
        message: String,
    },
    /// A value is well-formed but unusable.
    Invalid {
        /// The key, as written in the file (`limits.quota_messages`).
        key: &'static str,
        /// Why, and what would be accepted.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, reason } => write!(f, "cannot read {}: {reason}", path.display()),
            ConfigError::Syntax {
                path,
                line: Some(line),
                column,
                message,
            } => {
                write!(f, "{}:{line}", path.display())?;
                if let Some(column) = column {
                    write!(f, ":{column}")?;
                }
                write!(f, ": {message}")
            }
            ConfigError::Syntax {
                path,
                line: None,
                message,
                ..
            } => {
                write!(f, "{}: {message}", path.display())
            }
            ConfigError::Invalid { key, reason } => write!(f, "configuration key `{key}`: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The built-in defaults; equal to loading an empty file (a test checks that they agree).
impl Default for Config {
    fn default() -> Self {
        Config {
            domain: DEFAULT_DOMAIN.into(),
            aliases: Vec::new(),
            data_dir: DEFAULT_DATA_DIR.into(),
            system_uri: format!("sip:system@{DEFAULT_DOMAIN}"),
            charging_log: Path::new(DEFAULT_DATA_DIR).join(DEFAULT_CHARGING_LOG),
            trusted_cores: Vec::new(),
            sip: SipListen::default(),
            limits: Limits::default(),
            server: ServerSettings::default(),
            msrp: MsrpSettings::default(),
            peers: Vec::new(),
        }
    }
}

impl Config {
    /// The configuration for the command line: the file if `--config` named one (else the defaults),
    /// then `--data` over its data directory.
    pub fn load(config_file: Option<&Path>, data_dir: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = config_file else {
            return resolve(ConfigFile::default(), Path::new("."), data_dir);
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file = parse_file(&text, path)?;
        resolve(file, base, data_dir)
    }

    /// Parses configuration text; relative paths in it are taken relative to `base_dir`.
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        resolve(parse_file(text, Path::new("<text>"))?, base_dir, None)
    }

    /// The database file inside the data directory.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(crate::store::DB_FILE_NAME)
    }

    /// Whether a request from `source` comes from a trusted SIP/IP core, whose P-Asserted-Identity the
    /// server may take as the sender's identity.
    pub fn is_trusted_core(&self, source: IpAddr) -> bool {
        self.trusted_cores.contains(&source)
    }

    /// The configured server of `domain` (another domain's), if any.
    pub fn peer_for(&self, domain: &str) -> Option<&PeerDomain> {
        self.peers.iter().find(|p| p.domain.eq_ignore_ascii_case(domain))
    }

    /// The server role options: the `[server]` settings over [`crate::server::Options::default`].
    pub fn server_options(&self) -> crate::server::Options {
        crate::server::Options {
            digest_algorithms: self.server.digest_algorithms.clone(),
            allowed_content_types: self.server.allowed_content_types.clone(),
            min_expires: self.server.min_expires,
            max_expires: self.server.max_expires,
            ..crate::server::Options::default()
        }
    }

    /// Whether `host` names this server's domain or one of its aliases (case-insensitive, as DNS).
    pub fn is_local_domain(&self, host: &str) -> bool {
        self.domain.eq_ignore_ascii_case(host) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(host))
    }
}

fn parse_file(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let position = e.span().map(|span| line_and_column(text, span.start));
        ConfigError::Syntax {
            path: path.to_owned(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            message: e.message().trim_end().to_owned(),
        }
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count());
    (before.matches('\n').count() + 1, column + 1)
}

fn resolve(file: ConfigFile, base: &Path, data_override: Option<&Path>) -> Result<Config, ConfigError> {
    let domain = file.domain.unwrap_or_else(|| DEFAULT_DOMAIN.to_owned());
    if domain.is_empty() || domain.contains(|c: char| c.is_whitespace() || c == '@' || c == ':') {
        return Err(ConfigError::Invalid {
            key: "domain",
            reason: format!("'{domain}' is not a host name (e.g. \"example.com\")"),
        });
    }
    let system_uri = file.system_uri.unwrap_or_else(|| format!("sip:system@{domain}"));
    if !(system_uri.starts_with("sip:") || system_uri.starts_with("sips:")) {
        return Err(ConfigError::Invalid {
            key: "system_uri",
            reason: format!("'{system_uri}' is not a SIP URI (it must start with sip: or sips:)"),
        });
    }
    if file.sip.udp.is_empty() && file.sip.tcp.is_empty() {
        return Err(ConfigError::Invalid {
            key: "sip",
            reason: "no listen address: give at least one in sip.udp or sip.tcp".into(),
        });
    }
    let positive = [
        ("limits.max_pager_body_bytes", file.limits.max_pager_body_bytes),
        (
            "limits.deferred_expiry_seconds",
            file.limits.deferred_expiry_seconds,
        ),
        ("limits.quota_messages", file.limits.quota_messages),
        ("limits.quota_bytes", file.limits.quota_bytes),
        ("limits.imdn_aggregation_ms", file.limits.imdn_aggregation_ms),
    ];
    if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
        return Err(ConfigError::Invalid {
            key,
            reason: "must be greater than 0".into(),
        });
    }
    if file.limits.imdn_aggregation_ms > MAX_IMDN_AGGREGATION_MS {
        return Err(ConfigError::Invalid {
            key: "limits.imdn_aggregation_ms",
            reason: format!(
                "at most {MAX_IMDN_AGGREGATION_MS} (a recipient's notification waits for its batch, within SIP's 32 s)"
            ),
        });
    }
    let server = resolve_server(file.server)?;
    let data_dir = match (data_override, file.data_dir) {
        (Some(dir), _) => dir.to_owned(),
        (None, Some(dir)) => base.join(dir),
        (None, None) => PathBuf::from(DEFAULT_DATA_DIR),
    };
    let charging_log = match file.charging_log {
        Some(path) => base.join(path),
        None => data_dir.join(DEFAULT_CHARGING_LOG),
    };
    Ok(Config {
        domain,
        aliases: file.aliases,
        data_dir,
        system_uri,
        charging_log,
        trusted_cores: file.trusted_cores,
        sip: file.sip,
        limits: file.limits,
        server,
        msrp: resolve_msrp_tls(file.msrp, base)?,
        peers: file.peers,
    })
}

/// `[msrp] tls_listen` needs a certificate and a key; their paths are relative to the config file.
fn resolve_msrp_tls(mut msrp: MsrpSettings, base: &Path) -> Result<MsrpSettings, ConfigError> {
    msrp.tls_certificate = msrp.tls_certificate.map(|p| base.join(p));
    msrp.tls_key = msrp.tls_key.map(|p| base.join(p));
    msrp.tls_ca = msrp.tls_ca.map(|p| base.join(p));
    if msrp.tls_to_callee && msrp.tls_listen.is_none() {
        return Err(ConfigError::Invalid {
            key: "msrp.tls_to_callee",
            reason: "needs msrp.tls_listen (the callee would have no TLS port to connect to)".into(),
        });
    }
    if msrp.tls_listen.is_some() {
        for (key, value) in [
            ("msrp.tls_certificate", &msrp.tls_certificate),
            ("msrp.tls_key", &msrp.tls_key),
        ] {
            if value.is_none() {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "required when msrp.tls_listen is set".into(),
                });
            }
        }
    }
    Ok(msrp)
}

/// Digest algorithm names as `--digest-algorithms` and `server.digest_algorithms` take them.
pub fn digest_algorithms(names: &[String]) -> Result<Vec<simple_im_core::sip::auth::Algorithm>, String> {
    if names.is_empty() {
        return Err("needs at least one algorithm (MD5, SHA-256)".into());
    }
    names
        .iter()
        .map(|name| {
            simple_im_core::sip::auth::Algorithm::from_name(name.trim())
                .ok_or_else(|| format!("unknown algorithm '{name}' (try MD5, SHA-256)"))
        })
        .collect()
}

fn resolve_server(file: ServerFile) -> Result<ServerSettings, ConfigError> {
    let defaults = ServerSettings::default();
    let digest_algorithms = match file.digest_algorithms {
        Some(names) => digest_algorithms(&names).map_err(|reason| ConfigError::Invalid {
            key: "server.digest_algorithms",
            reason,
        })?,
        None => defaults.digest_algorithms,
    };
    let allowed_content_types = match file.allowed_content_types {
        Some(types) if types.is_empty() => {
            return Err(ConfigError::Invalid {
                key: "server.allowed_content_types",
                reason: "an empty list would refuse every MESSAGE; leave the key out to allow any type"
                    .into(),
            })
        }
        Some(types) => {
            let types: Vec<String> = types.iter().map(|t| t.trim().to_ascii_lowercase()).collect();
            if let Some(bad) = types.iter().find(|t| !is_media_type(t)) {
                return Err(ConfigError::Invalid {
                    key: "server.allowed_content_types",
                    reason: format!("'{bad}' is not a type/subtype (e.g. \"text/plain\")"),
                });
            }
            Some(types)
        }
        None => defaults.allowed_content_types,
    };
    let min_expires = file.min_expires.unwrap_or(defaults.min_expires);
    let max_expires = file.max_expires.unwrap_or(defaults.max_expires);
    if min_expires == 0 {
        return Err(ConfigError::Invalid {
            key: "server.min_expires",
            reason: "must be greater than 0 (an Expires of 0 means removal)".into(),
        });
    }
    if max_expires < min_expires {
        return Err(ConfigError::Invalid {
            key: "server.max_expires",
            reason: format!("{max_expires} is below server.min_expires ({min_expires})"),
        });
    }
    Ok(ServerSettings {
        digest_algorithms,
        allowed_content_types,
        min_expires,
        max_expires,
    })
}

/// `type/subtype` with both parts non-empty and no parameters or spaces.
fn is_media_type(text: &str) -> bool {
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"/;,\"".contains(&b));
    text.split_once('/')
        .is_some_and(|(kind, sub)| token(kind) && token(sub))
}
