//! Helpers of the group and URI-list tests: member UAs that answer in the background while a sender
//! waits, and counting what each received.
#![allow(dead_code)]

use crate::server_support::{store_with_users, Ua};
use simple_im_core::cpim;
use simple_im_core::imdn::Received;
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use simple_im_tokio::config::Config;
use simple_im_tokio::server::rng::OsRng;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{self, Options, Running};
use simple_im_tokio::store::{Group, InvitePolicy, UnixMillis};
use std::path::Path;
use std::time::Duration;

/// A pre-defined group owned by `owner`, only the owner inviting, no participant limit.
pub fn group(name: &str, owner: &str, private: bool, members: &[&str]) -> Group {
    Group {
        name: name.into(),
        owner: owner.into(),
        private,
        may_invite: InvitePolicy::Owner,
        max_participants: 0,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        created: UnixMillis::now(),
    }
}

/// Starts the server of a group test in `dir`: a store with `users` (password `NAME-pw`) and
/// `groups`, the `extra` configuration lines (top-level keys or whole sections), SIP over UDP only
/// (binding TCP on the UDP socket's ephemeral port fails now and then on a busy machine) and the MSRP
/// relay on a free port.
pub async fn start_with_groups(
    dir: &Path,
    users: &[&str],
    groups: &[Group],
    extra: &str,
    options: Options,
) -> Running {
    let passwords: Vec<String> = users.iter().map(|u| format!("{u}-pw")).collect();
    let pairs: Vec<(&str, &str)> = users
        .iter()
        .copied()
        .zip(passwords.iter().map(String::as_str))
        .collect();
    let store = store_with_users(dir, &pairs).await;
    for group in groups {
        store.add_group(group.clone()).await.expect("group added");
    }
    let text = format!(
        "data_dir = \"{}\"\n{extra}\n[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = []\n[msrp]\nlisten = \"127.0.0.1:0\"\n",
        dir.display()
    );
    let config = Config::from_toml(&text, dir).expect("test config");
    server::start(config, options, store)
        .await
        .expect("server starts")
}

/// How long a test listens for copies that must not come.
pub const QUIET: Duration = Duration::from_millis(400);

pub fn header<'m>(msg: &'m SipMessage, name: &str) -> Option<&'m str> {
    msg.headers()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Every request `ua` receives within [`QUIET`] (answered 200), retransmissions (same Call-ID and
/// CSeq) counted once.
pub async fn drain(ua: &mut Ua) -> Vec<SipMessage> {
    let mut got: Vec<SipMessage> = Vec::new();
    while let Some(msg) = ua.incoming_within(QUIET).await {
        let seen = got.iter().any(|m| {
            m.call_id() == msg.call_id() && m.header(HeaderName::CSeq) == msg.header(HeaderName::CSeq)
        });
        if !seen {
            got.push(msg);
        }
    }
    got
}

/// A member's UA answering every request in the background (as a real client does while the
/// sender waits for its answer), until [`Listening::stop`].
pub struct Listening {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(Ua, Vec<SipMessage>)>,
}

pub fn listen(mut ua: Ua) -> Listening {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                msg = ua.incoming_within(Duration::from_secs(3600)) => got.extend(msg),
            }
        }
        // Whatever is still arriving (retransmissions included) is collected by a final drain.
        got.extend(drain(&mut ua).await);
        (ua, got)
    });
    Listening { stop, task }
}

impl Listening {
    /// Stops listening; the UA and the distinct requests it received, system notices left out.
    pub async fn stop(self) -> (Ua, Vec<SipMessage>) {
        let _ = self.stop.send(());
        let (ua, got) = self.task.await.expect("listener");
        let mut distinct: Vec<SipMessage> = Vec::new();
        for msg in got.into_iter().filter(|m| !from_system(m)) {
            if !distinct.iter().any(|m| m.call_id() == msg.call_id()) {
                distinct.push(msg);
            }
        }
        (ua, distinct)
    }
}

pub fn from_system(msg: &SipMessage) -> bool {
    msg.header(HeaderName::From)
        .is_some_and(|f| f.contains("sip:system@localhost"))
}

/// Sends ACK or BYE in the dialog the INVITE's 200 `ok` established.
pub async fn in_dialog(ua: &mut Ua, method: Method<'_>, ok: &SipMessage, cseq: u32) {
    in_dialog_with(ua, method, ok, cseq, &[]).await;
}

/// [`in_dialog`] with extra headers.
pub async fn in_dialog_with(
    ua: &mut Ua,
    method: Method<'_>,
    ok: &SipMessage,
    cseq: u32,
    headers: &[(&str, &str)],
) {
    let mut buf = vec![0u8; 2048];
    let local = ua.local();
    let target = ok
        .header(HeaderName::Contact)
        .unwrap()
        .trim_matches(['<', '>'])
        .to_owned();
    let mut w = MessageWriter::request(&mut buf, method, &target).unwrap();
    w.header_fmt(
        HeaderName::Via,
        format_args!("SIP/2.0/UDP {local};branch=z9hG4bKdlg{cseq}{}", method.as_str()),
    )
    .unwrap();
    w.header(HeaderName::MaxForwards, "70").unwrap();
    w.header(HeaderName::From, ok.header(HeaderName::From).unwrap())
        .unwrap();
    w.header(HeaderName::To, ok.header(HeaderName::To).unwrap())
        .unwrap();
    w.header(HeaderName::CallId, ok.call_id()).unwrap();
    w.header_fmt(HeaderName::CSeq, format_args!("{cseq} {}", method.as_str()))
        .unwrap();
    for (name, value) in headers {
        w.header(HeaderName::parse(name), value).unwrap();
    }
    let len = w.finish(b"").unwrap();
    ua.send_raw(&buf[..len]).await;
}

/// What a recipient's client does with a copy asking for a positive delivery notification: builds
/// it with the core's tracker and sends it to the top route (RFC 5438 §7.2.1), which must be
/// `route`. Returns the answer.
pub async fn notify_delivered(ua: &mut Ua, copy: &SipMessage, route: &str) -> SipMessage {
    let im = cpim::Message::parse(copy.body()).unwrap();
    let mut received = Received::from_cpim(&im).unwrap().unwrap();
    let (kind, status) = received.delivered().unwrap();
    let mut buf = vec![0u8; 4096];
    let len = received
        .build_notification(kind, status, None, &mut OsRng, &mut buf)
        .unwrap();
    let destination = received.destination().to_owned();
    assert_eq!(destination, route, "notifications are routed through {route}");
    let to = format!("<{destination}>");
    ua.request(
        "MESSAGE",
        &destination,
        &to,
        &[],
        Some(("message/cpim", &buf[..len])),
        true,
    )
    .await
}

/// `(Message-ID, recipient-uri, status)` of every IMDN document a notification holds, aggregated
/// (`multipart/mixed`) or single.
pub fn imdn_documents(notification: &SipMessage) -> Vec<(String, Option<String>, String)> {
    let message = cpim::Message::parse(notification.body()).unwrap();
    assert_eq!(
        message.content_header("Content-Disposition"),
        Some("notification")
    );
    let content_type = message.content_header("Content-Type").unwrap();
    let docs: Vec<&[u8]> = match content_type.split_once("boundary=") {
        Some((_, boundary)) => simple_im_core::multipart::parts(message.body(), boundary.trim_matches('"'))
            .unwrap()
            .map(|p| {
                let p = p.unwrap();
                assert_eq!(p.media_type(), "message/imdn+xml");
                p.body
            })
            .collect(),
        None => vec![message.body()],
    };
    docs.into_iter()
        .map(|doc| {
            let imdn = simple_im_core::imdn::Imdn::parse(doc).unwrap();
            let recipient = imdn.recipient_uri.map(|r| r.as_held().to_owned());
            (
                imdn.message_id.as_held().to_owned(),
                recipient,
                imdn.status.element().to_owned(),
            )
        })
        .collect()
}

/// A free UDP port on 127.0.0.1, reserved and released at once: for a server whose address another
/// server's configuration needs before it starts.
pub fn reserve_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// [`reserve_port`] for a TCP listener on `ip`.
pub fn reserve_tcp_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Server B of the two-domain tests: domain `b.test` on 127.0.0.2 serving carol (`carol-pw`), with
/// `localhost` at `peer_a` as its `[[peers]]` entry.
pub async fn start_b_test(dir: &Path, peer_a: &str) -> Running {
    start_b_test_with(dir, peer_a, "tcp = []", "").await
}

/// [`start_b_test`] with B's `tcp = [...]` line and more lines for its `[[peers]]` entry.
pub async fn start_b_test_with(dir: &Path, peer_a: &str, tcp_line: &str, peer_lines: &str) -> Running {
    let store = simple_im_tokio::store::SqliteStore::open(dir).unwrap();
    let carol = simple_im_tokio::store::NewUser {
        name: "carol".into(),
        display_name: "Carol".into(),
        credentials: simple_im_tokio::users::credentials("carol", "b.test", "carol-pw"),
        created: UnixMillis::now(),
    };
    simple_im_tokio::store::Store::add_user(&store, carol)
        .await
        .unwrap();
    let text = format!(
        "domain = \"b.test\"\ndata_dir = \"{}\"\n[sip]\nudp = [\"127.0.0.2:0\"]\n{tcp_line}\n\
         [msrp]\nlisten = \"127.0.0.2:0\"\n[[peers]]\ndomain = \"localhost\"\naddress = \"{peer_a}\"\n{peer_lines}\n",
        dir.display()
    );
    let config = Config::from_toml(&text, dir).unwrap();
    server::start(config, Options::default(), std::sync::Arc::new(store))
        .await
        .expect("server B starts")
}
