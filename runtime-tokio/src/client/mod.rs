//! `simple-im client`: the core's OMA IM Client ([`simple_im_core::client::Client`]) on Tokio, for
//! people and scripts.
//!
//! | command | what it does | exit code |
//! |---|---|---|
//! | (none) | registers, prints events until Ctrl-C / SIGTERM / end of stdin, then un-registers | 0; 1 when registration fails |
//! | `send TO TEXT` | one pager MESSAGE; with `--wait`, registers first and waits for the IMDNs asked by `--imdn` | 0 on 2xx; 1 with status and reason |
//! | `pending` | asks the server's Deferred Messaging function for the `list` of stored messages | 0 when answered |
//!
//! # Output: one line per event
//!
//! Plain text is `EVENT key=value ...` (values with spaces or quotes are quoted and escaped like JSON
//! strings); `--json` prints `{"event":"EVENT","key":value,...}`. Events and fields:
//!
//! | event | fields |
//! |---|---|
//! | `registered` | `expires` (seconds granted) |
//! | `registration_failed` | `status`, `reason` (the client retries with backoff) |
//! | `unregistered` | |
//! | `message` | `from`, `content_type`, `text`, `id` (IMDN Message-ID, if any), `display=requested` when the sender asked for a display notification |
//! | `sent` | `handle`, `status`, `reason` (the final response to our MESSAGE) |
//! | `send_failed` | `handle`, `status`, `reason` |
//! | `delivered` / `displayed` | `id` (our message's Message-ID), `status` (`delivered`/`displayed`, `failed`, `forbidden`, `error`, `other`), `handle` (pagers), `chat` (when it came inside a chat) |
//! | `invitation` | `chat`, `from` |
//! | `chat_established`, `chat_send_failed`, `chat_aborted` | `chat` |
//! | `chat_sent` | `chat`, `id` (the line's IMDN Message-ID, when it went as CPIM asking for notifications) |
//! | `chat_message` | `chat`, `text`, `id` and `display=requested` as for `message` (see [`chat_imdn`]) |
//! | `chat_closed` | `chat`, `status` |
//! | `chat_failed` | `chat`, `reason` |
//! | `incoming_barred`, `rejected` | (`status`) |
//! | `error` | `reason` (a command on stdin that failed) |
//!
//! # Online commands on stdin
//!
//! `display ID` sends the display notification of a received message (pager or chat); `send TO TEXT` sends a pager
//! (prints `sent`/`send_failed`); `quit` (or end of input) un-registers and exits.
//!
//! The session driver is in [`session`] (SIP link in [`link`], MSRP connections in [`chat`]), the
//! line format in [`output`].

pub mod chat;
pub mod chat_imdn;
pub mod download;
pub mod events;
pub mod incoming;
pub mod link;
pub mod listening;
pub mod online;
pub mod outgoing;
pub mod outgoing_msrp;
pub mod output;
pub mod relay_auth;
pub mod session;
pub mod tls;
pub mod transfer;

use output::Note;
use session::{Account, Control, Session};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Default largest pager body, in bytes (above it, OMA IM uses Large Message mode).
pub const DEFAULT_PAGER_LIMIT: usize = 1300;
/// The largest `--pager-limit`: what fits the core client's request buffer with its headers.
pub const MAX_PAGER_LIMIT: usize = 3000;

/// Options common to every client command.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server, `host:port` (5060 when the port is left out).
    pub server: String,
    /// User name (AoR user part and digest user name).
    pub user: String,
    /// Digest password.
    pub password: String,
    /// The user's domain.
    pub domain: String,
    /// SIP over TCP instead of UDP.
    pub tcp: bool,
    /// JSON lines instead of plain text.
    pub json: bool,
    /// Send display notifications for every received message that asks for one.
    pub auto_display: bool,
    /// Accept chat invitations.
    pub accept_chats: bool,
    /// Offer `a=setup:active` in the sessions this client starts.
    pub msrp_active: bool,
    /// An MSRP relay (RFC 4976) the sessions this client starts go through.
    pub msrp_relay: Option<String>,
    /// MSRP over TLS in the sessions this client starts, trusting the CAs of this PEM file.
    pub msrp_tls: Option<std::path::PathBuf>,
    /// Registration lifetime asked for, in seconds.
    pub expires: u32,
    /// Largest pager body sent or accepted.
    pub pager_limit: usize,
    /// How long one-shot commands wait.
    pub timeout: Duration,
    /// The Deferred Messaging function's command URI (default `sip:system@DOMAIN`).
    pub system_uri: Option<String>,
    /// Where received files are saved (none: file transfers are declined with 603).
    pub download_dir: Option<std::path::PathBuf>,
}

/// What to do once connected.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Stay online printing events.
    Online,
    /// Send one pager.
    Send {
        /// Recipient (SIP URI, or `user` meaning `sip:user@DOMAIN`).
        to: String,
        /// The text.
        text: String,
        /// Ask for delivery and display notifications.
        imdn: bool,
        /// Register first and wait for the notifications.
        wait: bool,
    },
    /// List the pending deferred messages.
    Pending,
    /// Open a chat and send each stdin line.
    Chat {
        /// Recipient.
        to: String,
    },
    /// Push a file (RFC 5547).
    SendFile {
        /// Recipient.
        to: String,
        /// The file.
        path: std::path::PathBuf,
    },
}

/// Runs `simple-im client`.
pub fn run(options: Options, mode: Mode) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("simple-im client: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        match run_async(&options, mode).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("simple-im client: {e}");
                ExitCode::from(1)
            }
        }
    })
}

async fn run_async(options: &Options, mode: Mode) -> Result<(), String> {
    if options.pager_limit > MAX_PAGER_LIMIT {
        return Err(format!(
            "--pager-limit {} is over the maximum, {MAX_PAGER_LIMIT}",
            options.pager_limit
        ));
    }
    let server = resolve(&options.server).await?;
    let account = Account {
        server,
        tcp: options.tcp,
        aor: format!("sip:{}@{}", options.user, options.domain),
        user: options.user.clone(),
        password: options.password.clone(),
        max_pager_size: u16::try_from(options.pager_limit).unwrap_or(u16::MAX),
        download_dir: options.download_dir.clone(),
        accept_chats: options.accept_chats,
        offer_active: options.msrp_active,
        msrp_relay: options.msrp_relay.clone(),
        msrp_tls: match &options.msrp_tls {
            Some(ca) => Some(tls::client_config(ca)?),
            None => None,
        },
        expires: options.expires,
    };
    let mut session = Session::open(&account).await?;
    watch_signals(&session);
    match mode {
        Mode::Online => online::online(options, &mut session).await,
        Mode::Send { to, text, imdn, wait } => {
            send(
                options,
                &mut session,
                &uri_of(&to, &options.domain),
                &text,
                imdn,
                wait,
            )
            .await
        }
        Mode::Pending => pending(options, &mut session).await,
        Mode::Chat { to } => transfer::chat(options, &mut session, &uri_of(&to, &options.domain)).await,
        Mode::SendFile { to, path } => {
            transfer::send_file(options, &mut session, &uri_of(&to, &options.domain), &path).await
        }
    }
}

/// `user` alone means `sip:user@DOMAIN`.
fn uri_of(to: &str, domain: &str) -> String {
    if to.contains(':') {
        to.to_owned()
    } else if to.contains('@') {
        format!("sip:{to}")
    } else {
        format!("sip:{to}@{domain}")
    }
}

async fn resolve(server: &str) -> Result<std::net::SocketAddr, String> {
    let with_port = if server
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        server.to_owned()
    } else {
        format!("{server}:5060")
    };
    let mut addresses = tokio::net::lookup_host(with_port.as_str())
        .await
        .map_err(|e| format!("--server {server}: {e}"))?;
    addresses
        .next()
        .ok_or_else(|| format!("--server {server}: no address"))
}

fn watch_signals(session: &Session) {
    let stop = session.control_sender();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    let _ = stop.send(Control::Stop);
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        let _ = stop.send(Control::Stop);
    });
}

fn print(options: &Options, note: &Note) {
    println!("{}", note.line(options.json));
}

async fn register(options: &Options, session: &mut Session) -> Result<Note, String> {
    session.register()?;
    let deadline = Instant::now() + options.timeout;
    let note = session
        .wait_for(
            deadline,
            |n| matches!(n.event, "registered" | "registration_failed"),
            |_, _| {},
        )
        .await
        .map_err(|e| format!("registration: {e}"))?;
    if note.event == "registered" {
        Ok(note)
    } else {
        let status = note.number("status").unwrap_or(0);
        Err(format!(
            "registration failed: {status} {}",
            note.text("reason").unwrap_or("")
        ))
    }
}

/// The `sent` note completed with the final response's status and reason.
fn sent_note(session: &Session, note: Note) -> Note {
    match &session.last_final {
        Some(f) if (200..300).contains(&f.status) => {
            note.with("status", f.status).with("reason", f.reason.as_str())
        }
        _ => note,
    }
}

async fn send(
    options: &Options,
    session: &mut Session,
    to: &str,
    text: &str,
    imdn: bool,
    wait: bool,
) -> Result<(), String> {
    if text.len() > options.pager_limit {
        return transfer::large_message(options, session, to, text).await;
    }
    if wait {
        register(options, session).await?;
    }
    let handle = session.send_pager(to, text, imdn)?;
    let deadline = Instant::now() + options.timeout;
    let mine = |n: &Note| n.number("handle") == Some(u64::from(handle.0));
    let (mut sent, mut delivered, mut displayed) = (false, !(imdn && wait), !(imdn && wait));
    let mut failure = None;
    while !(sent && delivered && displayed) && failure.is_none() {
        let note = match session.wait_for(deadline, |_| true, |_, _| {}).await {
            Ok(note) => note,
            Err(e) => {
                let missing = if !sent {
                    "the server's answer"
                } else if !delivered {
                    "the delivery notification"
                } else {
                    "the display notification"
                };
                failure = Some(format!("{e} waiting for {missing}"));
                break;
            }
        };
        match note.event {
            "sent" if mine(&note) => {
                sent = true;
                print(options, &sent_note(session, note));
            }
            "send_failed" if mine(&note) => {
                failure = Some(format!(
                    "{to}: {} {}",
                    note.number("status").unwrap_or(0),
                    note.text("reason").unwrap_or("")
                ));
            }
            "delivered" | "displayed" if mine(&note) => {
                let ok = note.text("status") == Some(note.event);
                if note.event == "delivered" {
                    delivered = true;
                } else {
                    displayed = true;
                }
                print(options, &note);
                if !ok {
                    failure = Some(format!(
                        "{to}: {} {}",
                        note.event,
                        note.text("status").unwrap_or("")
                    ));
                }
            }
            "registered" | "unregistered" => {}
            _ => print(options, &note),
        }
    }
    if wait {
        session.shut_down().await;
    }
    failure.map_or(Ok(()), Err)
}

async fn pending(options: &Options, session: &mut Session) -> Result<(), String> {
    let system = options
        .system_uri
        .clone()
        .unwrap_or_else(|| format!("sip:system@{}", options.domain));
    let handle = session.send_pager(&system, "list", false)?;
    let deadline = Instant::now() + options.timeout;
    let mine = |n: &Note| n.number("handle") == Some(u64::from(handle.0));
    let note = session
        .wait_for(
            deadline,
            |n| mine(n) && matches!(n.event, "sent" | "send_failed"),
            |_, _| {},
        )
        .await?;
    let answer = session.last_final.clone().unwrap_or_default();
    if note.event == "send_failed" {
        return Err(format!("{system}: {} {}", answer.status, answer.reason));
    }
    if options.json {
        let mut lines = answer.body.lines();
        let count = lines.next().unwrap_or("");
        print(options, &Note::new("pending").with("summary", count));
        for line in lines {
            let mut cols = line.split('\t');
            let mut note = Note::new("pending_message");
            for key in ["store_id", "from", "content_type"] {
                note = note.with(key, cols.next().unwrap_or(""));
            }
            let bytes = cols.next().and_then(|b| b.parse::<u64>().ok()).unwrap_or(0);
            note = note.with("bytes", bytes);
            print(options, &note);
        }
    } else {
        print!("{}", answer.body);
    }
    Ok(())
}
