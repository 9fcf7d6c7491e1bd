//! The core's [`Client`] driven on Tokio: the SIP link, the clock, and the translation of the core's
//! events (whose text is spans into the last input) into owned [`Note`]s the commands print.
//!
//! Each `step` waits for one input (SIP bytes, an MSRP chunk, or the core's next deadline), feeds it
//! to the core, then drains: transmissions first (SIP to the link, MSRP to the chat connection), then
//! events, converted while the input buffer still holds their spans.

use super::chat::{ChatLink, MsrpInput};
use super::link::{Arrival, Link};
use super::output::Note;
use crate::server::rng::OsRng;
use simple_im_core::client::{
    ChatId, Client, ClientConfig, Destination, ImdnRequest, MessageHandle, ReceivedHandle, TransportKind,
};
use simple_im_core::time::Instant as CoreInstant;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Bytes of one outgoing request the core keeps (room for a 1300-byte pager body and its headers).
pub const REQUEST_CAPACITY: usize = 4096;
/// Outgoing non-INVITE requests in flight at once (pagers, notifications, REGISTER refreshes apart).
pub const OUTGOING_SLOTS: usize = 4;
/// Incoming requests whose answers are kept for retransmissions.
pub const SERVER_SLOTS: usize = 8;

/// The core client as this runtime instantiates it.
pub type CoreClient = Client<OsRng, SocketAddr, REQUEST_CAPACITY, OUTGOING_SLOTS, SERVER_SLOTS, CHAT_SLOTS>;

/// Chats (invitations received) at once; a closed chat's slot stays busy until its INVITE
/// transaction ends (32 s after the 2xx on UDP).
pub const CHAT_SLOTS: usize = 8;

/// The latest final response the server sent us, as read off the wire (the core reports only the
/// status): the `send` and `pending` commands print its reason phrase and body.
#[derive(Clone, Debug, Default)]
pub struct FinalResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Body (the `pending` summary).
    pub body: String,
}

/// A running client session.
pub struct Session {
    pub(super) client: CoreClient,
    link: Link,
    epoch: Instant,
    input: Vec<u8>,
    tx: Vec<u8>,
    /// Events converted but not yet taken by the command.
    pub notes: VecDeque<Note>,
    /// The latest final response seen.
    pub last_final: Option<FinalResponse>,
    /// Received IMs awaiting a display notification, by the id printed in their `message` event.
    pub(super) displays: HashMap<String, ReceivedHandle>,
    /// Received chat messages awaiting a display notification: their CPIM header section, by id
    /// (see [`super::chat_imdn`]).
    pub(super) chat_displays: HashMap<String, Vec<u8>>,
    /// Chats: their MSRP connections and the text of the message being received.
    pub(super) chats: HashMap<u32, ChatLink>,
    msrp_inputs: tokio::sync::mpsc::UnboundedReceiver<MsrpInput>,
    pub(super) msrp_sender: tokio::sync::mpsc::UnboundedSender<MsrpInput>,
    controls: tokio::sync::mpsc::UnboundedReceiver<Control>,
    control_sender: tokio::sync::mpsc::UnboundedSender<Control>,
    /// Sessions this runtime started (see [`super::outgoing`]).
    pub(super) outgoing: HashMap<u32, super::outgoing::Outgoing>,
    pub(super) next_outgoing: u32,
    /// SIP messages built by this runtime, waiting to go to the server.
    pub(super) sip_out: Vec<Vec<u8>>,
    account: Account,
    local: SocketAddr,
    /// Files being received (see [`super::incoming`]).
    pub(super) incoming: HashMap<u32, super::incoming::Incoming>,
    pub(super) next_incoming: u32,
    /// Where received files go (`None`: file transfers are declined).
    pub(super) download_dir: Option<std::path::PathBuf>,
    /// Whether chat invitations are accepted (those the runtime answers itself).
    pub(super) accept_chats: bool,
}

/// Input from the user rather than the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// A line on standard input.
    Line(String),
    /// Standard input ended.
    EndOfInput,
    /// Ctrl-C or SIGTERM.
    Stop,
}

/// How to reach and authenticate to the server.
#[derive(Clone, Debug)]
pub struct Account {
    /// The server's address.
    pub server: SocketAddr,
    /// TCP instead of UDP.
    pub tcp: bool,
    /// The address-of-record, `sip:user@domain`.
    pub aor: String,
    /// Digest user name.
    pub user: String,
    /// Digest password.
    pub password: String,
    /// Largest pager body accepted from others.
    pub max_pager_size: u16,
    /// Where received files are saved (`None` declines file transfers).
    pub download_dir: Option<std::path::PathBuf>,
    /// Accept chat invitations.
    pub accept_chats: bool,
    /// Offer `a=setup:active` in sessions we start (and connect) instead of `actpass`.
    pub offer_active: bool,
    /// An MSRP relay (RFC 4976) first in the path of the sessions we start.
    pub msrp_relay: Option<String>,
    /// MSRP over TLS for the sessions we start: the client configuration trusting the given CAs.
    pub msrp_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Registration lifetime asked for, in seconds (refreshed at half of what is granted).
    pub expires: u32,
}

impl Session {
    /// Opens the link and sets up the core client (not yet registered).
    pub async fn open(account: &Account) -> Result<Session, String> {
        let link = Link::open(account.server, account.tcp)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", account.server))?;
        let local = link.local_addr().map_err(|e| e.to_string())?;
        let transport = if account.tcp {
            TransportKind::Tcp
        } else {
            TransportKind::Udp
        };
        let mut config = ClientConfig::new(
            &account.server.to_string(),
            transport,
            &account.aor,
            &account.user,
            &account.password,
        )
        .map_err(|e| e.to_string())?;
        config.limits.max_pager_size = account.max_pager_size;
        config.limits.max_chat_sessions = CHAT_SLOTS as u8;
        config.registration_expiry_s = account.expires;
        let epoch = Instant::now();
        let mut client = CoreClient::new(config, CoreInstant::ZERO, OsRng);
        client
            .set_local_address(&local.to_string())
            .map_err(|e| e.to_string())?;
        let (msrp_sender, msrp_inputs) = tokio::sync::mpsc::unbounded_channel();
        let (control_sender, controls) = tokio::sync::mpsc::unbounded_channel();
        Ok(Session {
            client,
            link,
            epoch,
            input: Vec::new(),
            tx: vec![0u8; REQUEST_CAPACITY.max(super::chat::MSRP_CHUNK_BUFFER)],
            notes: VecDeque::new(),
            last_final: None,
            displays: HashMap::new(),
            chat_displays: HashMap::new(),
            chats: HashMap::new(),
            msrp_inputs,
            msrp_sender,
            controls,
            control_sender,
            outgoing: HashMap::new(),
            next_outgoing: 0,
            sip_out: Vec::new(),
            account: account.clone(),
            local,
            incoming: HashMap::new(),
            next_incoming: 0,
            download_dir: account.download_dir.clone(),
            accept_chats: account.accept_chats,
        })
    }

    /// The core clock: milliseconds since the session opened.
    pub fn now(&self) -> CoreInstant {
        CoreInstant::from_millis(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The std instant of a core instant.
    pub(super) fn instant_of(&self, at: CoreInstant) -> Instant {
        self.epoch + Duration::from_millis(at.as_millis())
    }

    /// Our address as the server sees it.
    pub(super) fn local_address(&self) -> SocketAddr {
        self.local
    }

    /// Our address-of-record.
    pub(super) fn aor(&self) -> &str {
        &self.account.aor
    }

    /// Whether our offers say `a=setup:active` (we connect) rather than `actpass`.
    pub(super) fn offer_active(&self) -> bool {
        self.account.offer_active
    }

    /// The MSRP relay our sessions go through, if any.
    pub(super) fn msrp_relay(&self) -> Option<&str> {
        self.account.msrp_relay.as_deref()
    }

    /// The TLS connector of our MSRP sessions, when they use TLS.
    pub(super) fn msrp_tls(&self) -> Option<tokio_rustls::TlsConnector> {
        self.account
            .msrp_tls
            .clone()
            .map(tokio_rustls::TlsConnector::from)
    }

    /// Whether SIP runs over TCP.
    pub(super) fn is_tcp(&self) -> bool {
        self.account.tcp
    }

    /// The digest user name and password.
    pub(super) fn secret(&self) -> (String, String) {
        (self.account.user.clone(), self.account.password.clone())
    }

    /// The core client, for commands.
    pub fn core(&mut self) -> &mut CoreClient {
        &mut self.client
    }

    /// Starts registering.
    pub fn register(&mut self) -> Result<(), String> {
        let now = self.now();
        self.client.register(now).map_err(|e| e.to_string())
    }

    /// Starts removing the registration.
    pub fn unregister(&mut self) -> Result<(), String> {
        let now = self.now();
        self.client.unregister(now).map_err(|e| e.to_string())
    }

    /// Sends a text pager; with `imdn`, asks for delivery and display notifications.
    pub fn send_pager(&mut self, to: &str, text: &str, imdn: bool) -> Result<MessageHandle, String> {
        let now = self.now();
        let date_time = rfc3339_now();
        let ask = imdn.then_some(ImdnRequest {
            date_time: &date_time,
            display: true,
        });
        self.client
            .send_pager(now, to, "text/plain;charset=utf-8", text.as_bytes(), ask)
            .map_err(|e| e.to_string())
    }

    /// Sends the display notification of the IM printed with `id`.
    pub fn mark_displayed(&mut self, id: &str) -> Result<(), String> {
        if self.mark_chat_displayed(id)? {
            return Ok(());
        }
        let handle = self
            .displays
            .remove(id)
            .ok_or_else(|| format!("no received message {id} awaits a display notification"))?;
        let now = self.now();
        self.client
            .mark_displayed(now, handle)
            .map_err(|e| format!("display {id}: {e}"))
    }

    /// Sends what the core has queued (SIP and MSRP).
    pub async fn flush(&mut self) -> Result<(), String> {
        while let Some(t) = self.client.poll_transmit(&mut self.tx) {
            let peer = match t.dest {
                Destination::Server => None,
                Destination::Peer(peer) => Some(peer),
            };
            let bytes = self.tx.get(..t.len).unwrap_or(&[]);
            self.link
                .send(peer, bytes)
                .await
                .map_err(|e| format!("send to the server: {e}"))?;
        }
        for bytes in std::mem::take(&mut self.sip_out) {
            self.link
                .send(None, &bytes)
                .await
                .map_err(|e| format!("send to the server: {e}"))?;
        }
        self.flush_msrp().await;
        Ok(())
    }

    /// Where user input (stdin lines, signals) is sent to reach [`Session::step`].
    pub fn control_sender(&self) -> tokio::sync::mpsc::UnboundedSender<Control> {
        self.control_sender.clone()
    }

    /// Waits (until `deadline` at the latest) for one input, feeds it to the core and drains. Returns
    /// user input, which the command handles.
    pub async fn step(&mut self, deadline: Instant) -> Result<Option<Control>, String> {
        self.flush().await?;
        let timer = self
            .client
            .poll_timeout()
            .map(|at| self.epoch + Duration::from_millis(at.as_millis()));
        let wake = [
            timer,
            self.outgoing_deadline(),
            self.incoming_deadline(),
            Some(deadline),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(deadline);
        // Biased: SIP before MSRP, so a BYE already received is handled before the connection
        // closing after it (the peer closes once our 200 arrives) is taken for a failure.
        tokio::select! {
            biased;
            arrival = self.link.receive(&mut self.input) => {
                let arrival = arrival.map_err(|e| format!("receive from the server: {e}"))?;
                self.feed_sip(arrival)?;
            }
            Some(input) = self.msrp_inputs.recv() => {
                if let Some(input) = self.incoming_msrp(input).and_then(|i| self.outgoing_msrp(i)) {
                    self.feed_msrp(input);
                }
            }
            () = tokio::time::sleep_until(wake.into()) => {
                let now = self.now();
                self.client.handle_timeout(now);
                self.drain_events(&[]);
                self.outgoing_timeout();
                self.incoming_timeout();
            }
            Some(control) = self.controls.recv() => {
                self.flush().await?;
                return Ok(Some(control));
            }
        }
        self.flush().await?;
        Ok(None)
    }

    fn feed_sip(&mut self, arrival: Arrival) -> Result<(), String> {
        let now = self.now();
        let input = std::mem::take(&mut self.input);
        match arrival {
            Arrival::Datagram(from, n) => {
                let bytes = input.get(..n).unwrap_or(&[]);
                if !self.incoming_sip(bytes, false) && !self.outgoing_sip(bytes, false) {
                    self.note_final_response(bytes);
                    self.client.handle_datagram(now, from, bytes);
                    self.drain_events(bytes);
                }
                self.input = input;
            }
            Arrival::Stream => {
                // Frame here so messages of the sessions this runtime started can be taken out; the
                // core gets every other message whole.
                let mut used = 0usize;
                loop {
                    let rest = input.get(used..).unwrap_or(&[]);
                    let n = match simple_im_core::sip::frame(rest) {
                        Ok(simple_im_core::sip::Framed::Complete(n)) => n,
                        Ok(simple_im_core::sip::Framed::KeepAlive(n)) => {
                            used += n.max(1);
                            continue;
                        }
                        Ok(simple_im_core::sip::Framed::Partial) => break,
                        Err(e) => return Err(format!("the server's SIP stream cannot be framed: {e:?}")),
                    };
                    let one = rest.get(..n).unwrap_or(&[]);
                    if !self.incoming_sip(one, true) && !self.outgoing_sip(one, true) {
                        self.note_final_response(one);
                        self.client.handle_stream(now, one).map_err(|e| e.to_string())?;
                        self.drain_events(one);
                    }
                    used += n.max(1);
                }
                let mut input = input;
                input.drain(..used.min(input.len()));
                self.input = input;
            }
        }
        Ok(())
    }

    /// Remembers the status line and body of the last final response in `bytes` (the core keeps
    /// neither).
    fn note_final_response(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        for message in text.split("SIP/2.0 ").skip(1) {
            let (line, rest) = message.split_once("\r\n").unwrap_or((message, ""));
            let mut parts = line.splitn(2, ' ');
            let Some(status) = parts.next().and_then(|s| s.parse::<u16>().ok()) else {
                continue;
            };
            if status < 200 {
                continue;
            }
            let body = rest.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            self.last_final = Some(FinalResponse {
                status,
                reason: parts.next().unwrap_or("").to_owned(),
                body: body.to_owned(),
            });
        }
    }

    /// Runs until a note matching `wanted` is queued (and takes it), passing every other note to
    /// `other`; fails at `deadline` or when the user stops the command.
    pub async fn wait_for(
        &mut self,
        deadline: Instant,
        wanted: impl Fn(&Note) -> bool,
        mut other: impl FnMut(&mut Session, Note),
    ) -> Result<Note, String> {
        loop {
            while let Some(note) = self.notes.pop_front() {
                if wanted(&note) {
                    return Ok(note);
                }
                other(self, note);
            }
            if Instant::now() >= deadline {
                return Err("timed out".into());
            }
            if self.step(deadline).await? == Some(Control::Stop) {
                return Err("interrupted".into());
            }
        }
    }

    /// Un-registers and waits (bounded) for the answer.
    pub async fn shut_down(&mut self) {
        self.close_chats();
        let deadline = Instant::now() + Duration::from_secs(5);
        // A registrar that retired our nonce answers 401 without stale=true: the core answers that
        // fresh challenge itself before it reports `unregistered`.
        if self.unregister().is_ok() {
            let _ = self
                .wait_for(
                    deadline,
                    |n| matches!(n.event, "unregistered" | "registration_failed"),
                    |_, _| {},
                )
                .await;
        }
        let _ = self.flush().await;
    }

    /// The chat id of a chat in progress, for commands.
    pub fn chat_ids(&self) -> Vec<ChatId> {
        self.chats.keys().map(|id| ChatId(*id)).collect()
    }
}

/// The wall clock as an RFC 3339 UTC date-time (CPIM `DateTime`).
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar, era arithmetic).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
