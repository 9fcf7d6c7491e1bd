//! The IM server: the OMA SIMPLE IM server roles over an embedded SIP/IP core, as a pipeline.
//!
//! ```text
//! transport (udp, tcp)  ->  parse once + check (400 on invalid requests)
//!   -> transaction layer (absorbs retransmissions, matches responses)
//!   -> dispatch by method:
//!        REGISTER -> registrar (digest 401) -> location service -> deferred delivery
//!        MESSAGE  -> pager: proxy auth (407), Participating policy (403/413/415, privacy)
//!                    -> proxy to every contact (parallel fork, first 2xx wins)
//!                    -> or Deferred Messaging (store durably, then 202) + system message
//!                    -> not an account: a group or the URI-list service (groups, the Controlling
//!                       IM Function: one copy per member/recipient, delivered or stored)
//!        PUBLISH  -> service settings (incoming-IM barring) into the user's policy
//!        SUBSCRIBE -> conference event package of a group (groups::conference)
//!        INVITE   -> stateful INVITE proxy with Record-Route; CANCEL, ACK, in-dialog by Route (invite)
//!                    MSRP offers/answers rewritten to put the relay in the media path (msrp)
//!        OPTIONS  -> 200 with Allow
//!   -> charging records for every message event
//! ```
//!
//! Each request is handled in its own Tokio task; shared state (transactions, location, nonces) sits
//! behind short-lived mutexes that are never held across an `.await`.

pub mod auth;
pub mod charging;
pub mod deferred;
pub mod deferred_session;
pub mod groups;
pub mod imdn;
pub mod invite;
pub mod location;
pub mod msrp;
pub mod pager;
pub mod participating;
pub mod peer_outbox;
pub mod proxy;
pub mod publish;
pub mod registrar;
pub mod reply;
pub mod rng;
pub mod sip;
pub mod system;
pub mod transaction;
pub mod transport;

use crate::config::Config;
use crate::store::Store;
use simple_im_core::sip::transaction::TransactionKey;
use sip::{Rejected, SipMessage};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use transaction::{Arrival, TransactionLayer};
use transport::{Flow, Inbound, InboundHandler};

/// Settings of the server roles: the `[server]` table of the configuration ([`Config::server_options`])
/// plus the few that only tests change (`expiry_interval`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Content types a MESSAGE may carry (`type/subtype`, lowercase); `None` allows any (pager mode
    /// carries "text and any MIME type"). Others get 415 with Accept listing these.
    pub allowed_content_types: Option<Vec<String>>,
    /// Registrations shorter than this many seconds get 423 Interval Too Brief.
    pub min_expires: u32,
    /// Registrations are capped at this many seconds; also the default when none is asked for.
    pub max_expires: u32,
    /// How often expired deferred messages are collected.
    pub expiry_interval: std::time::Duration,
    /// Digest algorithms challenged with, most preferred first (RFC 8760 §2.4), one challenge each.
    /// The default is SHA-256 then MD5; clients that read only the first challenge and know only MD5
    /// (SIPp 3.6) need MD5 first.
    pub digest_algorithms: Vec<simple_im_core::sip::auth::Algorithm>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allowed_content_types: None,
            min_expires: 60,
            max_expires: 3600,
            expiry_interval: std::time::Duration::from_secs(30),
            digest_algorithms: vec![
                simple_im_core::sip::auth::Algorithm::SHA256,
                simple_im_core::sip::auth::Algorithm::MD5,
            ],
        }
    }
}

/// One received request being handled: the message, its flow, and its server transaction.
#[derive(Clone, Debug)]
pub struct Request {
    /// The message.
    pub msg: SipMessage,
    /// Where it came from (responses go back here).
    pub flow: Flow,
    /// The server transaction (`None` for requests answered statelessly).
    pub key: Option<TransactionKey>,
}

/// The running server's shared state.
pub struct Server {
    /// The configuration it runs with.
    pub config: Config,
    /// Role settings beyond the configuration.
    pub options: Options,
    /// The durable store.
    pub store: Arc<dyn Store>,
    /// Transactions (and through them, the transports).
    pub transactions: Arc<TransactionLayer>,
    /// Digest authentication.
    pub auth: auth::Authenticator,
    /// Registered contacts.
    pub location: location::Location,
    /// Charging records.
    pub charging: charging::Charging,
    /// Users whose deferred messages are being pushed right now.
    pub deliveries: deferred::Deliveries,
    /// Live PUBLISHed service settings.
    pub publications: publish::Publications,
    /// INVITE transactions of the proxy.
    pub invites: invite::Invites,
    /// The Deferred Messaging function for session mode.
    pub deferred_sessions: deferred_session::DeferredSessions,
    /// Group chats: participants and conference-event subscriptions.
    pub focus: groups::focus::Focus,
    /// IMDN aggregation of the URI-list service.
    pub aggregate: groups::imdn_aggregate::Aggregator,
    /// Notification routes of pager messages into groups.
    pub group_routes: groups::imdn_route::GroupRoutes,
    /// The MSRP relay in the media path (`None` when `msrp.media_path = "direct"`).
    pub msrp: Option<Arc<msrp::MsrpRelay>>,
    /// The durable queue of the server's own MESSAGEs to `[[peers]]` domains.
    pub peer_outbox: peer_outbox::PeerOutbox,
}

/// A started server: its addresses and a handle to stop it.
pub struct Running {
    /// The server.
    pub server: Arc<Server>,
    /// Bound UDP addresses.
    pub udp: Vec<SocketAddr>,
    /// Bound TCP addresses.
    pub tcp: Vec<SocketAddr>,
    /// The MSRP relay's bound address (`None` with a direct media path).
    pub msrp: Option<SocketAddr>,
    /// The relay's MSRP-over-TLS address (`None` without `[msrp] tls_listen`).
    pub msrp_tls: Option<SocketAddr>,
}

/// Where endpoints reach the relay: its advertised host when that is an IP address, else its listen
/// address (loopback for an unspecified one), on its port.
fn relay_address(relay: &msrp::MsrpRelay) -> std::net::SocketAddr {
    let local = relay.local_addr();
    let ip = match relay.advertised_host().parse::<std::net::IpAddr>() {
        Ok(ip) => ip,
        Err(_) if local.ip().is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        Err(_) => local.ip(),
    };
    std::net::SocketAddr::new(ip, local.port())
}

/// Binds the configured addresses and starts serving. Returns once the sockets are bound.
pub async fn start(config: Config, options: Options, store: Arc<dyn Store>) -> Result<Running, String> {
    let cell: Arc<OnceLock<std::sync::Weak<Server>>> = Arc::new(OnceLock::new());
    let handler_cell = cell.clone();
    let handler: InboundHandler = Arc::new(move |inbound: Inbound| {
        if let Some(server) = handler_cell.get().and_then(|weak| weak.upgrade()) {
            server.receive(inbound);
        }
    });
    let transports = transport::start(&config.sip.udp, &config.sip.tcp, handler)
        .await
        .map_err(|e| format!("cannot bind the SIP listen addresses: {e}"))?;
    let udp = transports.udp_addrs();
    let tcp = transports.tcp_addrs();
    let charging = charging::Charging::open(&config.charging_log).map_err(|e| {
        format!(
            "cannot open the charging log {}: {e}",
            config.charging_log.display()
        )
    })?;
    let msrp = match config.msrp.media_path {
        crate::config::MediaPath::Relay => Some(
            msrp::MsrpRelay::start(config.msrp.listen, config.msrp.advertise.as_deref())
                .await
                .map_err(|e| format!("cannot bind the MSRP listen address {}: {e}", config.msrp.listen))?,
        ),
        crate::config::MediaPath::Direct => None,
    };
    let mut msrp_tls = None;
    if let (Some(relay), Some(listen)) = (&msrp, config.msrp.tls_listen) {
        let (Some(certificate), Some(key)) = (&config.msrp.tls_certificate, &config.msrp.tls_key) else {
            return Err("msrp.tls_listen needs msrp.tls_certificate and msrp.tls_key".into());
        };
        let acceptor = msrp::tls::acceptor(certificate, key)?;
        let bound = relay
            .start_tls(listen, acceptor)
            .await
            .map_err(|e| format!("cannot bind the MSRP TLS listen address {listen}: {e}"))?;
        msrp_tls = Some(bound);
        relay.set_tls_to_callee(config.msrp.tls_to_callee);
    }
    if let (Some(relay), Some(ca)) = (&msrp, &config.msrp.tls_ca) {
        relay.set_tls_connector(msrp::tls::connector(ca)?);
    }
    let msrp_addr = msrp.as_ref().map(|relay| relay.local_addr());
    // The Deferred Messaging function takes its connections on the relay's port; only without a
    // relay does it listen on its own (`deferred_msrp_listen`).
    let (deferred_sessions, msrp_listener) = match &msrp {
        Some(relay) => (
            deferred_session::DeferredSessions::new(relay_address(relay)),
            None,
        ),
        None => {
            let (sessions, listener) =
                deferred_session::DeferredSessions::bind(config.msrp.deferred_msrp_listen)
                    .await
                    .map_err(|e| format!("cannot bind msrp.deferred_msrp_listen: {e}"))?;
            (sessions, Some(listener))
        }
    };
    let server = Arc::new(Server {
        msrp,
        auth: auth::Authenticator::new(&config.domain, &options.digest_algorithms)?,
        config,
        options,
        store,
        transactions: TransactionLayer::new(transports),
        location: location::Location::default(),
        charging,
        deliveries: deferred::Deliveries::default(),
        publications: publish::Publications::default(),
        invites: invite::Invites::default(),
        deferred_sessions,
        focus: groups::focus::Focus::default(),
        aggregate: groups::imdn_aggregate::Aggregator::default(),
        group_routes: groups::imdn_route::GroupRoutes::default(),
        peer_outbox: peer_outbox::PeerOutbox::default(),
    });
    match (&server.msrp, msrp_listener) {
        (Some(relay), _) => deferred_session::DeferredSessions::join_relay(Arc::downgrade(&server), relay),
        (None, Some(listener)) => {
            deferred_session::DeferredSessions::serve(Arc::downgrade(&server), listener)
        }
        (None, None) => {}
    }
    let _ = cell.set(Arc::downgrade(&server));
    tokio::spawn(deferred::expiry_loop(
        Arc::downgrade(&server),
        server.options.expiry_interval,
    ));
    tokio::spawn(peer_outbox::run(Arc::downgrade(&server)));
    Ok(Running {
        server,
        udp,
        tcp,
        msrp: msrp_addr,
        msrp_tls,
    })
}

impl Server {
    /// The transport callback: parse once, validate, then hand to the transaction layer.
    pub fn receive(self: &Arc<Self>, inbound: Inbound) {
        let Inbound { bytes, flow } = inbound;
        match SipMessage::parse(bytes, flow.is_reliable()) {
            Ok(msg) if msg.status().is_some() => {
                if let Some(msg) =
                    invite::response(self, msg).and_then(|m| deferred_session::response(self, m))
                {
                    self.transactions.response(msg);
                }
            }
            Ok(msg) => self.dispatch(msg, flow),
            Err(Rejected::Invalid { message, reason }) => {
                // Never answer a response or an ACK (RFC 3261 §17.2.1, §8.2.6).
                if message.method().is_some_and(|m| m != "ACK") {
                    let request = Request {
                        msg: *message,
                        flow,
                        key: None,
                    };
                    reply::send(self, &request, 400, &format!("Bad Request ({reason})"), &[], None);
                }
            }
            Err(Rejected::Unparsable(_)) => {}
        }
    }

    fn dispatch(self: &Arc<Self>, msg: SipMessage, flow: Flow) {
        // INVITE, ACK, CANCEL of an INVITE, and in-dialog requests have their own transactions.
        let Some((msg, flow)) = invite::dispatch(self, msg, flow) else {
            return;
        };
        let method = msg.method().unwrap_or("").to_owned();
        let key = match self.transactions.arrive(&msg, flow) {
            Some(Arrival::New(key)) => Some(key),
            Some(Arrival::Retransmission) => return,
            None => None,
        };
        let request = Request { msg, flow, key };
        let server = self.clone();
        tokio::spawn(async move {
            match method.as_str() {
                "REGISTER" => registrar::register(&server, &request).await,
                "MESSAGE" => pager::message(&server, &request).await,
                "PUBLISH" => publish::publish(&server, &request).await,
                "SUBSCRIBE" => groups::conference::subscribe(&server, &request).await,
                // A BYE ending a group-chat participant's dialog; any other is refused as before.
                "BYE" if groups::focus::is_participant_dialog(&server, &request.msg) => {
                    groups::focus::bye(&server, &request).await;
                }
                // The owner expelling a group-chat participant (REFER with method=BYE).
                "REFER" if groups::expel::refer(&server, &request).await => {}
                "OPTIONS" => reply::send(
                    &server,
                    &request,
                    200,
                    "OK",
                    &[("Allow", reply::ALLOW.into())],
                    None,
                ),
                "CANCEL" => reply::send(
                    &server,
                    &request,
                    481,
                    "Call/Transaction Does Not Exist",
                    &[],
                    None,
                ),
                _ => reply::send(
                    &server,
                    &request,
                    405,
                    "Method Not Allowed",
                    &[("Allow", reply::ALLOW.into())],
                    None,
                ),
            }
        });
    }

    /// Whether `host` is one of this server's domains.
    pub fn is_local(&self, host: &str) -> bool {
        self.config.is_local_domain(host)
    }
}

/// `simple-im server`: opens the store, starts serving, prints the start-up lines, and runs until
/// Ctrl-C or SIGTERM. Returns the process exit code.
pub fn run(config: Config, options: Options) -> std::process::ExitCode {
    use std::io::Write;
    // One thread runs every task: a relayed MESSAGE is a handful of short steps, and handing them
    // between worker threads cost more in wake-ups (futex calls, cross-core cache traffic) than the
    // steps themselves (measured with `cargo xtask bench pager`: 122 -> 74 us of CPU per relayed
    // MESSAGE). Blocking work runs elsewhere: store writes on the store's writer thread, store reads
    // on the blocking pool, the charging log on its own thread.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("simple-im server: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let store = match crate::store::SqliteStore::open(&config.data_dir) {
            Ok(store) => Arc::new(store) as Arc<dyn Store>,
            Err(e) => {
                eprintln!("simple-im server: {e}");
                return std::process::ExitCode::from(1);
            }
        };
        let data_dir = config.data_dir.clone();
        let running = match start(config, options, store).await {
            Ok(running) => running,
            Err(e) => {
                eprintln!("simple-im server: {e}");
                return std::process::ExitCode::from(1);
            }
        };
        let mut out = std::io::stdout().lock();
        for addr in &running.udp {
            let _ = writeln!(out, "simple-im: listening on udp {addr}");
        }
        for addr in &running.tcp {
            let _ = writeln!(out, "simple-im: listening on tcp {addr}");
        }
        if let Some(addr) = running.msrp {
            let _ = writeln!(out, "simple-im: msrp on tcp {addr}");
        }
        if let Some(addr) = running.msrp_tls {
            let _ = writeln!(out, "simple-im: msrps on tls {addr}");
        }
        let _ = writeln!(out, "simple-im: data in {}", data_dir.display());
        let _ = writeln!(out, "simple-im: ready");
        let _ = out.flush();
        drop(out);
        shutdown_signal().await;
        std::process::ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
