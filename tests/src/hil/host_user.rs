//! A user on the host side of a hardware-in-loop run: the same core `Client` the firmware runs,
//! driven over a blocking std UDP socket. Using the core client (not a second SIP implementation)
//! keeps the harness small; the server in the middle is what both sides must agree with.

use simple_im_core::client::{
    ChatId, Client, ClientConfig, ClientEvent, Destination, ImdnRequest, TransportKind,
};
use simple_im_core::rng::Rng;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// What the host user saw, with the text copied out of the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    Registered,
    RegistrationFailed(u16),
    PagerReceived {
        from: String,
        body: String,
    },
    PagerSent,
    PagerFailed(u16),
    Delivered,
    Displayed,
    ChatInvitation(ChatId),
    ChatEstablished,
    /// A whole chat message received over MSRP.
    ChatText(String),
    ChatSent,
    ChatClosed(u16),
    Other(String),
}

/// Host-side randomness: xorshift64 seeded from the clock (not cryptographic; a test peer).
struct ClockRng(u64);

impl Rng for ClockRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for byte in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *byte = self.0 as u8;
        }
    }
}

/// A registered host user (`sip:NAME@localhost`).
pub struct HostUser {
    client: Client<ClockRng, SocketAddr>,
    socket: UdpSocket,
    server: SocketAddr,
    epoch: Instant,
    /// Events not yet taken by `wait_for`, in order.
    pub events: Vec<HostEvent>,
    msrp: Msrp,
}

/// The host user's side of a chat: it listens (the device, behind QEMU's user network, connects out
/// to `10.0.2.2:port`, which is the host's loopback) and pumps one MSRP connection.
#[derive(Default)]
struct Msrp {
    listener: Option<TcpListener>,
    stream: Option<TcpStream>,
    chat: Option<ChatId>,
    /// The client reported `ChatConnect`: it has an MSRP session to feed. The device may connect and
    /// send before that (its answer and the connection race the 200 to us), so bytes wait.
    connected: bool,
    /// Received bytes the client has not consumed yet.
    input: Vec<u8>,
    /// The chat message being received.
    message: Vec<u8>,
}

impl HostUser {
    /// Registers `name` with `password` at `server`, waiting (bounded) for the 200.
    pub fn register(name: &str, password: &str, server: SocketAddr) -> Result<HostUser, String> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let aor = format!("sip:{name}@{}", super::server::DOMAIN);
        let config = ClientConfig::new(&server.to_string(), TransportKind::Udp, &aor, name, password)
            .map_err(|e| e.to_string())?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        let epoch = Instant::now();
        let mut client = Client::new(config, simple_im_core::time::Instant::ZERO, ClockRng(seed));
        client
            .set_local_address(&local.to_string())
            .map_err(|e| e.to_string())?;
        let mut user = HostUser {
            client,
            socket,
            server,
            epoch,
            events: Vec::new(),
            msrp: Msrp::default(),
        };
        let now = user.now();
        user.client.register(now).map_err(|e| e.to_string())?;
        user.wait_for(Duration::from_secs(10), |e| {
            matches!(e, HostEvent::Registered | HostEvent::RegistrationFailed(_))
        })
        .and_then(|e| match e {
            HostEvent::Registered => Ok(user),
            other => Err(format!("{name} did not register: {other:?}")),
        })
    }

    /// Listens for MSRP on a loopback port and advertises it as `10.0.2.2:port`, where a QEMU guest
    /// reaches it. Call before a chat.
    pub fn listen_for_chats(&mut self) -> Result<(), String> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        self.client
            .set_msrp_address(&format!("10.0.2.2:{port}"))
            .map_err(|e| e.to_string())?;
        self.msrp.listener = Some(listener);
        Ok(())
    }

    /// Invites `to` to a chat (offering `actpass`: the device will connect to this user).
    pub fn invite_chat(&mut self, to: &str) -> Result<ChatId, String> {
        let now = self.now();
        let chat = self.client.invite_chat(now, to).map_err(|e| e.to_string())?;
        self.msrp.chat = Some(chat);
        self.flush()?;
        Ok(chat)
    }

    /// Runs the client (SIP and MSRP) for `duration`.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), String> {
        match self.wait_for(duration, |_| false) {
            Err(e) if e.starts_with("host user: nothing wanted") => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }

    /// Accepts the chat invitation `chat`.
    pub fn accept_chat(&mut self, chat: ChatId) -> Result<(), String> {
        let now = self.now();
        self.client.accept_chat(now, chat).map_err(|e| e.to_string())?;
        self.msrp.chat = Some(chat);
        self.flush()
    }

    /// Sends `text` in the chat.
    pub fn send_chat(&mut self, text: &str) -> Result<(), String> {
        let chat = self.msrp.chat.ok_or("no chat")?;
        let now = self.now();
        self.client
            .send_chat(now, chat, text)
            .map_err(|e| e.to_string())?;
        self.flush()
    }

    /// Accepts the device's MSRP connection when one is pending, writes what the client sends and
    /// feeds it what arrived; events from that input go to `events`.
    fn pump_msrp(&mut self) -> Result<(), String> {
        if self.msrp.stream.is_none() {
            if let Some(listener) = &self.msrp.listener {
                if let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(true).map_err(|e| e.to_string())?;
                    self.msrp.stream = Some(stream);
                }
            }
        }
        let (Some(stream), Some(chat)) = (self.msrp.stream.as_mut(), self.msrp.chat) else {
            return Ok(());
        };
        let now = simple_im_core::time::Instant::from_millis(self.epoch.elapsed().as_millis() as u64);
        let mut out = vec![0u8; 8192];
        while let Some((_, n)) = self.client.poll_msrp_transmit(now, &mut out) {
            stream.set_nonblocking(false).map_err(|e| e.to_string())?;
            stream
                .write_all(&out[..n])
                .map_err(|e| format!("MSRP write: {e}"))?;
            stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => {
                self.msrp.stream = None;
                self.client.msrp_connection_lost(now, chat);
            }
            Ok(n) => self.msrp.input.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("MSRP read: {e}")),
        }
        if self.msrp.connected && !self.msrp.input.is_empty() {
            let input = std::mem::take(&mut self.msrp.input);
            let used = self
                .client
                .handle_msrp(now, chat, &input)
                .map_err(|e| format!("MSRP input refused: {e}"))?;
            while let Some(event) = self.client.poll_event() {
                self.take_event(&event, &input);
            }
            self.msrp.input = input[used..].to_vec();
        }
        Ok(())
    }

    fn take_event(&mut self, event: &ClientEvent, input: &[u8]) {
        match *event {
            ClientEvent::ChatBody { body, offset, .. } => {
                let bytes = body.of(input);
                let at = offset as usize;
                if self.msrp.message.len() < at + bytes.len() {
                    self.msrp.message.resize(at + bytes.len(), 0);
                }
                self.msrp.message[at..at + bytes.len()].copy_from_slice(bytes);
            }
            ClientEvent::ChatConnect { chat, .. } if Some(chat) == self.msrp.chat => {
                self.msrp.connected = true;
                self.events.push(convert(event, input));
            }
            ClientEvent::ChatMessageEnd { .. } => {
                let text = String::from_utf8_lossy(&std::mem::take(&mut self.msrp.message)).into_owned();
                self.events.push(HostEvent::ChatText(text));
            }
            _ => self.events.push(convert(event, input)),
        }
    }

    fn now(&self) -> simple_im_core::time::Instant {
        simple_im_core::time::Instant::from_millis(self.epoch.elapsed().as_millis() as u64)
    }

    /// Sends a text pager to `to` and waits (bounded) until the server accepted it (the server
    /// challenges MESSAGEs: the client must run to answer the 407).
    pub fn send_pager_accepted(&mut self, to: &str, body: &str, imdn: bool) -> Result<(), String> {
        self.send_pager(to, body, imdn)?;
        match self.wait_for(Duration::from_secs(10), |e| {
            matches!(e, HostEvent::PagerSent | HostEvent::PagerFailed(_))
        })? {
            HostEvent::PagerSent => Ok(()),
            other => Err(format!("pager {body:?} to {to} not accepted: {other:?}")),
        }
    }

    /// Sends a text pager to `to`, asking for delivery and display notifications when `imdn`.
    pub fn send_pager(&mut self, to: &str, body: &str, imdn: bool) -> Result<(), String> {
        let now = self.now();
        let ask = imdn.then_some(ImdnRequest {
            date_time: "2026-11-24T02:00:00Z",
            display: true,
        });
        self.client
            .send_pager(now, to, "text/plain;charset=utf-8", body.as_bytes(), ask)
            .map_err(|e| e.to_string())?;
        // Out now, not at the next `wait_for`: the caller may wait on the device first.
        self.flush()
    }

    fn flush(&mut self) -> Result<(), String> {
        let mut tx = vec![0u8; 4096];
        while let Some(t) = self.client.poll_transmit(&mut tx) {
            let to = match t.dest {
                Destination::Server => self.server,
                Destination::Peer(peer) => peer,
            };
            self.socket
                .send_to(&tx[..t.len], to)
                .map_err(|e| format!("host user send: {e}"))?;
        }
        Ok(())
    }

    /// Runs the client until an event matching `wanted` is among the events not yet taken, and
    /// takes it (removes it from `events`); fails after `within`.
    pub fn wait_for(
        &mut self,
        within: Duration,
        wanted: impl Fn(&HostEvent) -> bool,
    ) -> Result<HostEvent, String> {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 4096];
        let mut len = 0;
        loop {
            self.flush()?;
            while let Some(event) = self.client.poll_event() {
                self.take_event(&event, &buf[..len]);
            }
            self.pump_msrp()?;
            self.flush()?;
            if let Some(at) = self.events.iter().position(&wanted) {
                return Ok(self.events.remove(at));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "host user: nothing wanted within {within:?}; saw {:?}",
                    self.events
                ));
            }
            let timer = self
                .client
                .poll_timeout()
                .map(|at| self.epoch + Duration::from_millis(at.as_millis()));
            let mut wake = timer
                .map_or(deadline, |t| t.min(deadline))
                .max(now + Duration::from_millis(1));
            if self.msrp.listener.is_some() {
                wake = wake.min(now + Duration::from_millis(20)); // poll the MSRP connection
            }
            self.socket
                .set_read_timeout(Some(wake - now))
                .map_err(|e| e.to_string())?;
            len = 0;
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    len = n;
                    let now = self.now();
                    self.client.handle_datagram(now, from, &buf[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    let now = self.now();
                    self.client.handle_timeout(now);
                }
                Err(e) => return Err(format!("host user receive: {e}")),
            }
        }
    }
}

fn convert(event: &ClientEvent, input: &[u8]) -> HostEvent {
    match *event {
        ClientEvent::Registered { .. } => HostEvent::Registered,
        ClientEvent::RegistrationFailed { status } => HostEvent::RegistrationFailed(status),
        ClientEvent::PagerReceived { from, body, .. } => HostEvent::PagerReceived {
            from: from.str_of(input).to_owned(),
            body: body.str_of(input).to_owned(),
        },
        ClientEvent::PagerSent { .. } => HostEvent::PagerSent,
        ClientEvent::PagerFailed { status, .. } => HostEvent::PagerFailed(status),
        ClientEvent::DeliveryNotification { .. } => HostEvent::Delivered,
        ClientEvent::DisplayNotification { .. } => HostEvent::Displayed,
        ClientEvent::ChatInvitation { chat, .. } => HostEvent::ChatInvitation(chat),
        ClientEvent::ChatEstablished { .. } => HostEvent::ChatEstablished,
        ClientEvent::ChatSent { .. } => HostEvent::ChatSent,
        ClientEvent::ChatClosed { status, .. } => HostEvent::ChatClosed(status),
        other => HostEvent::Other(format!("{other:?}")),
    }
}
