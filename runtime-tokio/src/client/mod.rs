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
//! | `delivered` / `displayed` | `id` (our message's Message-ID), `status` (`delivered`/`displayed`, `failed`, `forbidden`, `error`, `other`), `handle` |
//! | `invitation` | `chat`, `from` |
//! | `chat_established`, `chat_sent`, `chat_send_failed`, `chat_aborted` | `chat` |
//! | `chat_message` | `chat`, `text` |
//! | `chat_closed` | `chat`, `status` |
//! | `chat_failed` | `chat`, `reason` |
//! | `incoming_barred`, `rejected` | (`status`) |
//! | `error` | `reason` (a command on stdin that failed) |
//!
//! # Online commands on stdin
//!
//! `display ID` sends the display notification of a received message; `send TO TEXT` sends a pager
//! (prints `sent`/`send_failed`); `quit` (or end of input) un-registers and exits.
//!
//! The session driver is in [`session`] (SIP link in [`link`], MSRP connections in [`chat`]), the
//! line format in [`output`].

pub mod chat;
pub mod incoming;
pub mod link;
pub mod outgoing;
pub mod output;
pub mod session;

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
    };
    let mut session = Session::open(&account).await?;
    watch_signals(&session);
    match mode {
        Mode::Online => online(options, &mut session).await,
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
        Mode::Chat { to } => chat(options, &mut session, &uri_of(&to, &options.domain)).await,
        Mode::SendFile { to, path } => {
            send_file(options, &mut session, &uri_of(&to, &options.domain), &path).await
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

async fn online(options: &Options, session: &mut Session) -> Result<(), String> {
    let registered = register(options, session).await?;
    print(options, &registered);
    read_stdin(session);
    loop {
        while let Some(note) = session.notes.pop_front() {
            online_note(options, session, note);
        }
        let far = Instant::now() + Duration::from_secs(3600);
        match session.step(far).await? {
            None => {}
            Some(Control::Stop | Control::EndOfInput) => break,
            Some(Control::Line(line)) => {
                if line.trim() == "quit" {
                    break;
                }
                if let Err(reason) = online_command(options, session, line.trim()) {
                    print(options, &Note::new("error").with("reason", reason));
                }
            }
        }
    }
    session.shut_down().await;
    print(options, &Note::new("unregistered"));
    Ok(())
}

/// Feeds standard input to the session as [`Control`]s, from a blocking reader thread (standard
/// input is not pollable everywhere: files, terminals).
fn read_stdin(session: &Session) {
    let lines = session.control_sender();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines.send(Control::Line(line)).is_err() {
                return;
            }
        }
        let _ = lines.send(Control::EndOfInput);
    });
}

fn online_note(options: &Options, session: &mut Session, note: Note) {
    let note = if note.event == "sent" {
        sent_note(session, note)
    } else {
        note
    };
    if matches!(note.event, "unregistered" | "registered") {
        // Refreshes are silent; the session's first and last lines are printed by `online`.
        return;
    }
    print(options, &note);
    if note.event == "message" && options.auto_display && note.text("display").is_some() {
        if let Some(id) = note.text("id") {
            if let Err(reason) = session.mark_displayed(id) {
                print(options, &Note::new("error").with("reason", reason));
            }
        }
    }
    if note.event == "invitation" && options.accept_chats {
        if let Some(chat) = note.number("chat").and_then(|c| u32::try_from(c).ok()) {
            let now = session.now();
            if let Err(e) = session
                .core()
                .accept_chat(now, simple_im_core::client::ChatId(chat))
            {
                print(
                    options,
                    &Note::new("error").with("reason", format!("accept chat {chat}: {e}")),
                );
            }
            session.drain_events(&[]);
        }
    }
}

fn online_command(options: &Options, session: &mut Session, line: &str) -> Result<(), String> {
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    match command {
        "display" => session.mark_displayed(rest.trim()),
        "send" => {
            let (to, text) = rest.trim_start().split_once(' ').ok_or("usage: send TO TEXT")?;
            if text.len() > options.pager_limit {
                return Err(format!(
                    "text over the pager limit ({} bytes)",
                    options.pager_limit
                ));
            }
            session
                .send_pager(&uri_of(to, &options.domain), text, false)
                .map(|_| ())
        }
        "chat" => {
            let (chat, text) = rest.trim_start().split_once(' ').ok_or("usage: chat CHAT TEXT")?;
            let chat: u32 = chat
                .parse()
                .map_err(|_| format!("'{chat}' is not a chat number"))?;
            if chat >= outgoing::FIRST_OUTGOING_ID {
                return session.say(chat, text);
            }
            let now = session.now();
            let sent = session
                .core()
                .send_chat(now, simple_im_core::client::ChatId(chat), text)
                .map_err(|e| format!("chat {chat}: {e}"));
            session.drain_events(&[]);
            sent
        }
        "bye" => {
            let chat: u32 = rest.trim().parse().map_err(|_| "usage: bye CHAT".to_owned())?;
            if chat >= outgoing::FIRST_OUTGOING_ID {
                session.hang_up(chat);
                return Ok(());
            }
            let now = session.now();
            let closed = session
                .core()
                .close_chat(now, simple_im_core::client::ChatId(chat))
                .map_err(|e| format!("bye {chat}: {e}"));
            session.drain_events(&[]);
            closed
        }
        "" => Ok(()),
        other => Err(format!(
            "unknown command '{other}' (display ID, send TO TEXT, chat CHAT TEXT, bye CHAT, quit)"
        )),
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
        return large_message(options, session, to, text).await;
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

/// Large Message mode (OMA IM): the text goes in its own MSRP session: INVITE, one SEND, BYE once
/// the receiver's success REPORT covers every byte.
async fn large_message(options: &Options, session: &mut Session, to: &str, text: &str) -> Result<(), String> {
    let deadline = Instant::now() + options.timeout;
    let id = session.invite(to).await?;
    session.say(id, text)?;
    let mine = |n: &Note| n.number("chat") == Some(u64::from(id));
    let mut result = Err("timed out waiting for the Large Message session".to_owned());
    loop {
        let note = match session.wait_for(deadline, |_| true, |_, _| {}).await {
            Ok(note) => note,
            Err(e) => {
                result = Err(format!("{to}: {e} (Large Message)"));
                break;
            }
        };
        match note.event {
            "chat_delivered" if mine(&note) && session.all_confirmed(id) => {
                print(
                    options,
                    &Note::new("sent")
                        .with("mode", "large")
                        .with("bytes", text.len() as u64)
                        .with("status", 200u16)
                        .with("reason", "OK"),
                );
                result = Ok(());
                session.hang_up(id);
            }
            "chat_closed" if mine(&note) => {
                if result.is_err() {
                    result = Err(format!(
                        "{to}: {} {} (Large Message)",
                        note.number("status").unwrap_or(0),
                        note.text("reason").unwrap_or("")
                    ));
                }
                break;
            }
            "chat_send_failed" | "chat_failed" if mine(&note) => {
                result = Err(format!(
                    "{to}: {} (Large Message)",
                    note.text("reason").unwrap_or("failed")
                ));
                session.hang_up(id);
            }
            _ => {}
        }
    }
    result
}

/// `chat TO`: registers, invites, sends each stdin line, prints the peer's lines; ends with BYE at
/// the end of input (or when the peer hangs up).
async fn chat(options: &Options, session: &mut Session, to: &str) -> Result<(), String> {
    let registered = register(options, session).await?;
    print(options, &registered);
    let id = session.invite(to).await?;
    read_stdin(session);
    let mine = |n: &Note| n.number("chat") == Some(u64::from(id));
    let mut established = false;
    let mut result = Ok(());
    let mut ending_since: Option<Instant> = None;
    loop {
        let mut closed = false;
        while let Some(note) = session.notes.pop_front() {
            if matches!(note.event, "registered" | "unregistered") {
                continue;
            }
            print(options, &note);
            if mine(&note) && note.event == "chat_established" {
                established = true;
            }
            if mine(&note) && note.event == "chat_closed" {
                closed = true;
                if !established {
                    result = Err(format!(
                        "{to}: {} {}",
                        note.number("status").unwrap_or(0),
                        note.text("reason").unwrap_or("")
                    ));
                }
            }
        }
        if closed || ending_since.is_some_and(|t| t.elapsed() > Duration::from_secs(5)) {
            break;
        }
        let far = Instant::now() + Duration::from_secs(3600);
        match session.step(far).await? {
            None => {}
            Some(Control::Line(line)) => {
                if let Err(reason) = session.say(id, &line) {
                    print(options, &Note::new("error").with("reason", reason));
                }
            }
            Some(Control::EndOfInput | Control::Stop) => {
                ending_since.get_or_insert_with(Instant::now);
                // Let queued lines reach the peer before the BYE.
                let drained = Instant::now() + Duration::from_secs(3);
                while !session.all_confirmed(id) && Instant::now() < drained && session.outgoing_is_open(id) {
                    if session.step(drained).await? == Some(Control::Stop) {
                        break;
                    }
                }
                session.hang_up(id);
            }
        }
    }
    session.shut_down().await;
    result
}

/// `send-file TO PATH`: offers the file, streams it once accepted, draws progress on stderr (bytes
/// handed to the connection; 100% when the receiver's success REPORT covers the whole file), then BYE.
async fn send_file(
    options: &Options,
    session: &mut Session,
    to: &str,
    path: &std::path::Path,
) -> Result<(), String> {
    let offer = outgoing::FileOffer::open(path)?;
    let size = offer.size;
    let id = session.invite_file(to, offer).await?;
    let mine = |n: &Note| n.number("chat") == Some(u64::from(id));
    let mut result: Result<(), String> = Err("the transfer did not complete".into());
    let mut shown = u64::MAX;
    let mut last_draw = Instant::now();
    let mut confirmed = false;
    loop {
        let far = Instant::now() + options.timeout;
        let before = Instant::now();
        if session.step(far).await? == Some(Control::Stop) {
            result = Err("interrupted".into());
            session.hang_up(id);
        }
        if before.elapsed() >= options.timeout && !confirmed {
            result = Err(format!(
                "{to}: no progress within {} s",
                options.timeout.as_secs()
            ));
            session.hang_up(id);
        }
        let sent = if confirmed {
            size
        } else {
            session.file_progress(id).unwrap_or(0).min(size)
        };
        if sent != shown && (last_draw.elapsed() > Duration::from_millis(100) || sent == size) {
            progress(sent, size, confirmed);
            shown = sent;
            last_draw = Instant::now();
        }
        let mut closed = false;
        while let Some(note) = session.notes.pop_front() {
            if !mine(&note) {
                continue;
            }
            match note.event {
                "chat_delivered" if session.all_confirmed(id) => {
                    confirmed = true;
                    progress(size, size, true);
                    eprintln!();
                    print(
                        options,
                        &Note::new("file_sent")
                            .with("chat", id)
                            .with("path", path.display().to_string())
                            .with("bytes", size),
                    );
                    result = Ok(());
                    session.hang_up(id);
                }
                "chat_closed" => {
                    closed = true;
                    if !confirmed {
                        result = Err(match note.number("status") {
                            Some(603) => format!(
                                "{to} declined the file: 603 {}",
                                note.text("reason").unwrap_or("Decline")
                            ),
                            status => format!(
                                "{to}: {} {}",
                                status.unwrap_or(0),
                                note.text("reason").unwrap_or("")
                            ),
                        });
                    }
                }
                "chat_failed" | "chat_send_failed" if !confirmed => {
                    result = Err(format!(
                        "the transfer broke after {} of {size} bytes: {}",
                        session.file_progress(id).unwrap_or(0),
                        note.text("reason").unwrap_or("")
                    ));
                    session.hang_up(id);
                }
                _ => {}
            }
        }
        if closed || !session.outgoing_is_open(id) {
            break;
        }
    }
    if !confirmed && shown != u64::MAX {
        eprintln!();
    }
    result
}

/// Draws the progress bar on stderr (one line, redrawn in place).
fn progress(sent: u64, size: u64, confirmed: bool) {
    const WIDTH: u64 = 30;
    let filled = sent.saturating_mul(WIDTH).checked_div(size).unwrap_or(WIDTH);
    let percent = sent.saturating_mul(100).checked_div(size).unwrap_or(100);
    let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '-' }).collect();
    let state = if confirmed { "delivered" } else { "sent" };
    eprint!("\r[{bar}] {percent:3}% {sent}/{size} bytes {state}");
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
