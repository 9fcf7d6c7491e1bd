//! Network demo until the IM client runs here: an OPTIONS keep-alive to the SIP server.
//!
//! Every [`KEEPALIVE_PERIOD_S`] seconds the board sends `OPTIONS sip:<domain>` over UDP, written with
//! the core's `MessageWriter`, and logs the status line of the answer, read with the core's
//! `Message::parse_datagram`. Each request is a new transaction (fresh branch, tag and Call-ID from the
//! hardware RNG, CSeq counting up); an answer counts only if its Call-ID is ours, so a late answer to
//! an earlier keep-alive is not mistaken for the current one. There is no retransmission: a lost
//! datagram shows up as one "no answer" line and the next period tries again.
//!
//! This is what an operator sees first on a new board (address, server reachable, server speaks SIP).
//! The IM client (`simple-im-embassy`) replaces it, with REGISTER, pager and chat.

use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{IpAddress, IpEndpoint, Ipv4Address, Stack};
use embassy_time::{with_timeout, Duration, Ticker};
use heapless::String;
use simple_im_core::rng::Rng;
use simple_im_core::sip::{BuildError, HeaderName, Message, MessageWriter, Method, ParseConfig};

use crate::config::{
    AOR, KEEPALIVE_PERIOD_S, LOCAL_SIP_PORT, RESPONSE_TIMEOUT_S, SERVER_DOMAIN, SERVER_IP, SERVER_PORT,
};
use crate::hw_rng::HardwareRng;

/// Largest datagram sent or received; an OPTIONS answer with a few Allow/Supported lines fits.
const DATAGRAM_SIZE: usize = 1500;
/// Header slots for parsing the answer (a slot is 16 bytes of stack; answers have about a dozen lines).
const MAX_ANSWER_HEADERS: usize = 24;
/// Random bytes per identifier; hex doubles them (16 hex digits = 64 bits, RFC 3261 §19.3 asks for 32).
const ID_BYTES: usize = 8;
/// Hex digits of one identifier.
const ID_HEX: usize = 2 * ID_BYTES;

/// Fresh identifiers for one keep-alive transaction.
struct TransactionIds {
    branch: String<ID_HEX>,
    tag: String<ID_HEX>,
    call_id: String<ID_HEX>,
}

impl TransactionIds {
    fn new(rng: &mut impl Rng) -> Self {
        TransactionIds {
            branch: random_hex(rng),
            tag: random_hex(rng),
            call_id: random_hex(rng),
        }
    }
}

fn random_hex(rng: &mut impl Rng) -> String<ID_HEX> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; ID_BYTES];
    rng.fill(&mut bytes);
    let mut hex = String::new();
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            // Cannot fail: ID_HEX holds two digits per byte.
            let _ = hex.push(char::from(DIGITS[usize::from(nibble)]));
        }
    }
    hex
}

/// Writes one OPTIONS request into `buf`; returns its length.
fn write_options(
    buf: &mut [u8],
    local: Ipv4Address,
    ids: &TransactionIds,
    cseq: u32,
) -> Result<usize, BuildError> {
    let mut uri: String<80> = String::new();
    uri.push_str("sip:")
        .and_then(|()| uri.push_str(SERVER_DOMAIN))
        .map_err(|_| BuildError::BufferTooSmall)?;
    let mut w = MessageWriter::request(buf, Method::Options, &uri)?;
    // rport (RFC 3581): the answer comes back to the address and port the server saw, through NAT too.
    w.header_fmt(
        HeaderName::Via,
        format_args!(
            "SIP/2.0/UDP {local}:{LOCAL_SIP_PORT};branch=z9hG4bK{};rport",
            ids.branch
        ),
    )?;
    w.header(HeaderName::MaxForwards, "70")?;
    w.header_fmt(HeaderName::From, format_args!("<{AOR}>;tag={}", ids.tag))?;
    w.header_fmt(HeaderName::To, format_args!("<{uri}>"))?;
    w.header_fmt(HeaderName::CallId, format_args!("{}@{local}", ids.call_id))?;
    w.header_fmt(HeaderName::CSeq, format_args!("{cseq} OPTIONS"))?;
    w.finish(&[])
}

/// Reads datagrams until the answer to `ids` arrives (others are logged and skipped); returns its
/// status code.
async fn await_answer(socket: &UdpSocket<'_>, buf: &mut [u8], ids: &TransactionIds) -> u16 {
    loop {
        let Ok((len, meta)) = socket.recv_from(buf).await else {
            defmt::warn!("datagram larger than {} bytes dropped", DATAGRAM_SIZE);
            continue;
        };
        let Some(datagram) = buf.get(..len) else { continue };
        let mut slots = [simple_im_core::sip::Header::EMPTY; MAX_ANSWER_HEADERS];
        let message = match Message::parse_datagram(datagram, &mut slots, &ParseConfig::default()) {
            Ok(message) => message,
            Err(e) => {
                defmt::warn!("unparsable datagram from {}: {}", meta.endpoint, e);
                continue;
            }
        };
        let ours = message
            .call_id()
            .and_then(|id| id.split('@').next())
            .is_some_and(|id| id == ids.call_id.as_str());
        match message.status_code() {
            Some(code) if ours => {
                defmt::info!("OPTIONS answered: {=str}", message.start_line_text());
                return code;
            }
            Some(_) => defmt::info!("stale answer skipped: {=str}", message.start_line_text()),
            None => defmt::info!(
                "request ignored (no client yet): {=str}",
                message.start_line_text()
            ),
        }
    }
}

/// One keep-alive: send an OPTIONS from `local`, wait for its answer, log the outcome.
async fn keepalive_once(
    socket: &UdpSocket<'_>,
    datagram: &mut [u8],
    local: Ipv4Address,
    server: IpEndpoint,
    ids: &TransactionIds,
    cseq: u32,
) {
    let len = match write_options(datagram, local, ids, cseq) {
        Ok(len) => len,
        Err(e) => return defmt::error!("OPTIONS does not fit: {}", e),
    };
    if let Err(e) = socket.send_to(datagram.get(..len).unwrap_or(&[]), server).await {
        return defmt::warn!("send to {} failed: {}", server, e);
    }
    let timeout = Duration::from_secs(RESPONSE_TIMEOUT_S);
    match with_timeout(timeout, await_answer(socket, datagram, ids)).await {
        Ok(code) if (200..300).contains(&code) => {}
        Ok(code) => defmt::warn!("server refused OPTIONS: {=u16}", code),
        Err(_) => defmt::warn!("no answer from {} in {} s", server, RESPONSE_TIMEOUT_S),
    }
}

/// Sends an OPTIONS keep-alive every period and logs what the server answers. Never returns.
#[embassy_executor::task]
pub async fn options_keepalive(stack: Stack<'static>, mut rng: HardwareRng) -> ! {
    let mut rx_meta = [PacketMetadata::EMPTY; 4];
    let mut tx_meta = [PacketMetadata::EMPTY; 2];
    let mut rx_buf = [0u8; 2 * DATAGRAM_SIZE];
    let mut tx_buf = [0u8; DATAGRAM_SIZE];
    let mut datagram = [0u8; DATAGRAM_SIZE];

    let mut socket = UdpSocket::new(stack, &mut rx_meta, &mut rx_buf, &mut tx_meta, &mut tx_buf);
    if let Err(e) = socket.bind(LOCAL_SIP_PORT) {
        defmt::panic!("cannot bind UDP {}: {}", LOCAL_SIP_PORT, e);
    }
    let server = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from(SERVER_IP)), SERVER_PORT);
    let mut ticker = Ticker::every(Duration::from_secs(KEEPALIVE_PERIOD_S));
    let mut cseq: u32 = 0;
    let mut last_address = None;
    loop {
        // The address is read every time: a DHCP lease can change it and a link loss removes it.
        stack.wait_config_up().await;
        if let Some(local) = stack.config_v4().map(|c| c.address.address()) {
            if last_address != Some(local) {
                defmt::info!("network up: {}", local);
                last_address = Some(local);
            }
            cseq = cseq.wrapping_add(1);
            let ids = TransactionIds::new(&mut rng);
            keepalive_once(&socket, &mut datagram, local, server, &ids, cseq).await;
        }
        ticker.next().await;
    }
}
