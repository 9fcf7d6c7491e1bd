//! The URI-list service's tracked lists ([`super::imdn_aggregate`]) kept in the store as well as in
//! memory, so that a list's notifications are still aggregated, and its hidden (`bcc`, anonymised)
//! recipients still hidden, after a restart.
//!
//! | event | store |
//! |---|---|
//! | a list is tracked | its description written, before any copy goes out (it expires with the list) |
//! | a notification arrives for a list not tracked in memory | the description read back and tracked again (recipients' progress starts afresh: the batch then goes when its window ends) |
//! | the list finished (every recipient reported) | the row forgotten |
//!
//! A row is `route = "list:" + sender key`, `message_id` = the IM's, and a value of lines: the
//! sender's URI, the IM's DateTime, the notifications asked for (`d` positive-delivery, `n`
//! negative-delivery, `s` display), then one `key TAB uri TAB hidden(0/1)` line per recipient. A
//! list whose fields hold a tab or a line break is not stored (it is still tracked in memory).

use super::imdn_aggregate::{self, Listed, TrackedList};
use crate::server::participating::address_key;
use crate::server::Server;
use crate::store::{ImdnRoute, UnixMillis};
use simple_im_core::cpim;
use simple_im_core::imdn::{DispositionRequest, Imdn};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn route_of(sender_key: &str) -> String {
    format!("list:{sender_key}")
}

/// The stored value describing `list`, or `None` when a field cannot be written unambiguously.
pub fn encode(list: &TrackedList) -> Option<String> {
    let clean = |field: &str| !field.contains(['\t', '\r', '\n']);
    let fields = [&list.sender_uri, &list.date_time];
    if !fields.iter().all(|f| clean(f)) || !list.listed.iter().all(|l| clean(&l.key) && clean(&l.uri)) {
        return None;
    }
    let asked = list.asked;
    let flags: String = [
        (asked.positive_delivery, 'd'),
        (asked.negative_delivery, 'n'),
        (asked.display, 's'),
    ]
    .iter()
    .filter_map(|(on, c)| on.then_some(*c))
    .collect();
    let mut value = format!("{}\n{}\n{flags}\n", list.sender_uri, list.date_time);
    for l in &list.listed {
        value.push_str(&format!("{}\t{}\t{}\n", l.key, l.uri, u8::from(l.hidden)));
    }
    Some(value)
}

/// The list a stored `value` describes (the IM's `message_id` is the row's).
pub fn decode(message_id: &str, value: &str) -> Option<TrackedList> {
    let mut lines = value.lines();
    let sender_uri = lines.next()?.to_owned();
    let date_time = lines.next()?.to_owned();
    let flags = lines.next()?;
    let asked = DispositionRequest {
        positive_delivery: flags.contains('d'),
        negative_delivery: flags.contains('n'),
        display: flags.contains('s'),
        processing: false,
    };
    let listed = lines
        .map(|line| {
            let mut fields = line.split('\t');
            let (key, uri, hidden) = (fields.next()?, fields.next()?, fields.next()?);
            Some(Listed {
                key: key.to_owned(),
                uri: uri.to_owned(),
                hidden: hidden == "1",
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(TrackedList {
        sender_uri,
        message_id: message_id.to_owned(),
        date_time,
        asked,
        listed,
    })
}

/// Writes `list` to the store (see the module docs); a failure costs only its survival of a restart.
pub async fn persist(server: &Server, list: &TrackedList) {
    let Some(value) = encode(list) else {
        return;
    };
    let now = UnixMillis::now();
    let lifetime = u64::try_from(imdn_aggregate::lifetime(server).as_millis()).unwrap_or(u64::MAX);
    let route = ImdnRoute {
        route: route_of(&address_key(&list.sender_uri)),
        message_id: list.message_id.clone(),
        value,
        expires: now.plus_millis(lifetime),
    };
    let _ = server.store.remember_imdn_route(route, now).await;
}

/// Tracks again, from the store, the list a notification `body` is about when it is not tracked
/// in memory (after a restart).
pub async fn recall(server: &Server, body: &[u8]) {
    if server.aggregate.tracks(body) {
        return;
    }
    let (sender_key, message_id) = {
        let Ok(notification) = cpim::Message::parse(body) else {
            return;
        };
        let Ok(document) = Imdn::parse(notification.body()) else {
            return;
        };
        let Some(to) = notification.get(cpim::CPIM_NS, "To") else {
            return;
        };
        (address_key(to.value), document.message_id.as_held().to_owned())
    };
    let now = UnixMillis::now();
    let Ok(Some((value, expires))) = server
        .store
        .imdn_route(&route_of(&sender_key), &message_id, now)
        .await
    else {
        return;
    };
    if let Some(list) = decode(&message_id, &value) {
        let left = Duration::from_millis(expires.0.saturating_sub(now.0));
        server.aggregate.insert(list, Instant::now() + left);
    }
}

/// Forgets the stored list of `sender_key`'s IM `message_id` (it finished), in the background.
pub fn forget(server: &Arc<Server>, sender_key: &str, message_id: &str) {
    let server = server.clone();
    let (route, message_id) = (route_of(sender_key), message_id.to_owned());
    tokio::spawn(async move {
        let _ = server.store.forget_imdn_route(&route, &message_id).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_reads_back_as_written() {
        let list = TrackedList {
            sender_uri: "sip:alice@localhost".into(),
            message_id: "m1".into(),
            date_time: "2026-11-24T08:00:00Z".into(),
            asked: DispositionRequest {
                positive_delivery: true,
                negative_delivery: false,
                display: true,
                processing: false,
            },
            listed: vec![
                Listed {
                    key: "bob@localhost".into(),
                    uri: "sip:bob@localhost".into(),
                    hidden: false,
                },
                Listed {
                    key: "carol@localhost".into(),
                    uri: "sip:carol@localhost".into(),
                    hidden: true,
                },
            ],
        };
        let back = decode("m1", &encode(&list).unwrap()).unwrap();
        assert_eq!(back.sender_uri, list.sender_uri);
        assert_eq!(back.date_time, list.date_time);
        assert_eq!(back.asked, list.asked);
        let recipients: Vec<_> = back
            .listed
            .iter()
            .map(|l| (&l.key[..], &l.uri[..], l.hidden))
            .collect();
        assert_eq!(
            recipients,
            [
                ("bob@localhost", "sip:bob@localhost", false),
                ("carol@localhost", "sip:carol@localhost", true)
            ]
        );
        let broken = TrackedList {
            date_time: "a\nb".into(),
            ..list
        };
        assert!(encode(&broken).is_none(), "a line break would shift the fields");
    }
}
