//! A user on the host side of a hardware-in-loop run: the same core `Client` the firmware runs,
//! driven over a blocking std UDP socket. Using the core client (not a second SIP implementation)
//! keeps the harness small; the server in the middle is what both sides must agree with.

use simple_im_core::client::{
    ClientConfig, ClientEvent, Destination, ImdnRequest, PagerClient, TransportKind,
};
use simple_im_core::rng::Rng;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// What the host user saw, with the text copied out of the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    Registered,
    RegistrationFailed(u16),
    PagerReceived { from: String, body: String },
    PagerSent,
    PagerFailed(u16),
    Delivered,
    Displayed,
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
    client: PagerClient<ClockRng, SocketAddr>,
    socket: UdpSocket,
    server: SocketAddr,
    epoch: Instant,
    /// Events not yet taken by `wait_for`, in order.
    pub events: Vec<HostEvent>,
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
        let mut client = PagerClient::new(config, simple_im_core::time::Instant::ZERO, ClockRng(seed));
        client
            .set_local_address(&local.to_string())
            .map_err(|e| e.to_string())?;
        let mut user = HostUser {
            client,
            socket,
            server,
            epoch,
            events: Vec::new(),
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
                self.events.push(convert(&event, &buf[..len]));
            }
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
            let wake = timer
                .map_or(deadline, |t| t.min(deadline))
                .max(now + Duration::from_millis(1));
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
        other => HostEvent::Other(format!("{other:?}")),
    }
}
