//! The pager-mode fan-out of the Controlling IM Function: one copy per member, each delivered to the
//! member's contacts or stored durably, all in parallel, with every outcome counted (the outcome table
//! is in the [module docs](super)). A URI-list copy for a user of a `[[peers]]` domain goes to that
//! domain's server instead ([`to_peer`]).

use super::CONTROLLING_HEADER;
use crate::server::charging::Event;
use crate::server::sip::SipMessage;
use crate::server::{deferred, participating, Server};
use crate::store::{Enqueued, NewDeferred};
use std::sync::Arc;
use tokio::task::JoinSet;

/// What became of one member's copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A contact of the member answered 2xx.
    Delivered,
    /// Stored durably for later delivery.
    Stored,
    /// Refused by policy, the loop rule, or the member's client, with this status.
    Refused(u16),
    /// Neither delivered nor stored (quota full, store failure).
    Failed,
}

/// The outcomes of one fan-out, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Copies delivered.
    pub delivered: usize,
    /// Copies stored for later.
    pub stored: usize,
    /// Copies refused.
    pub refused: usize,
    /// Copies lost to a failure: the sender is told (480).
    pub failed: usize,
}

impl Tally {
    /// Counts one more outcome.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Stored => self.stored += 1,
            Outcome::Refused(_) => self.refused += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// Sends one copy of `msg` to each of `members` (user names of this domain) and waits for every
/// outcome. `group_uri` goes into [`CONTROLLING_HEADER`]; `body`, when given, replaces the
/// request's body in the copies (the group's IMDN route, [`super::imdn_route`]).
pub async fn fan_out(
    server: &Arc<Server>,
    msg: &SipMessage,
    sender: &str,
    group_uri: &str,
    members: &[String],
    body: Option<&[u8]>,
) -> Tally {
    let privacy = participating::wants_privacy(msg);
    // The copies differ only in their recipient: the request's headers are read (and anonymised)
    // once, for the first member, and that copy is cloned for the others.
    let Some(first) = members.first() else {
        return Tally::default();
    };
    let mut template = deferred::stored_copy(server, msg, sender, first, privacy);
    template
        .extra_headers
        .push((CONTROLLING_HEADER.to_owned(), format!("<{group_uri}>")));
    if let Some(body) = body {
        template.body = body.to_vec();
    }
    let copies = members
        .iter()
        .map(|member| NewDeferred {
            recipient: member.clone(),
            ..template.clone()
        })
        .collect();
    fan_out_copies(server, msg, sender, copies).await
}

/// Delivers (or stores) every prepared copy in parallel and waits for every outcome. `msg` is the
/// request the copies came from (policy checks and charging records read it).
pub async fn fan_out_copies(
    server: &Arc<Server>,
    msg: &SipMessage,
    sender: &str,
    copies: Vec<NewDeferred>,
) -> Tally {
    let mut tally = Tally::default();
    for (_, outcome) in fan_out_each(server, msg, sender, copies).await {
        tally.add(outcome);
    }
    tally
}

/// [`fan_out_copies`], returning each copy's recipient with its outcome (in completion order).
pub async fn fan_out_each(
    server: &Arc<Server>,
    msg: &SipMessage,
    sender: &str,
    copies: Vec<NewDeferred>,
) -> Vec<(String, Outcome)> {
    let mut tasks = JoinSet::new();
    for copy in copies {
        let server = server.clone();
        let msg = msg.clone();
        let sender = sender.to_owned();
        tasks.spawn(async move {
            let member = copy.recipient.clone();
            let outcome = deliver_copy(&server, &msg, &sender, copy).await;
            let (event, status) = match outcome {
                Outcome::Delivered => (Event::Delivered, 200),
                Outcome::Stored => (Event::Deferred, 202),
                Outcome::Refused(code) => (Event::Rejected, code),
                Outcome::Failed => (Event::Rejected, 480),
            };
            // A stored copy was charged as deferred when (and only when) it was newly stored.
            if outcome != Outcome::Stored {
                crate::server::pager::record(&server, event, &sender, &member, &msg, status);
            }
            (member, outcome)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        // A copy task that panicked has no name left: counted as failed under an empty name.
        outcomes.push(done.unwrap_or_else(|_| (String::new(), Outcome::Failed)));
    }
    outcomes
}

/// One member's copy: the outcome table of the module docs, row by row.
async fn deliver_copy(server: &Arc<Server>, msg: &SipMessage, sender: &str, copy: NewDeferred) -> Outcome {
    let member = copy.recipient.clone();
    if let Some((_, host)) = member.split_once('@') {
        return to_peer(server, &copy, host).await;
    }
    // Accounts first, as in pager routing (an account shadows a group of the same name); the account
    // lookup is cached, so a fan-out to users never waits for a database read.
    if !matches!(server.store.user(&member).await, Ok(Some(_))) {
        if server.store.group(&member).await.ok().flatten().is_some() {
            // The copy carries CONTROLLING_HEADER; the nested group would refuse it (the OMA rule).
            return Outcome::Refused(403);
        }
        return Outcome::Refused(404);
    }
    let policy = server.store.policy(&member).await.unwrap_or_default();
    let allowed = server.options.allowed_content_types.as_deref();
    let domain = &server.config.domain;
    // The copy's own content is checked: a URI-list copy is smaller than the request that listed it.
    let refusal = participating::check_sender(&policy, sender).and_then(|()| {
        participating::check_content(
            &server.config.limits,
            allowed,
            domain,
            &copy.content_type,
            copy.body.len(),
        )
    });
    if let Err(refusal) = refusal {
        return Outcome::Refused(refusal.code);
    }
    let bindings = server.location.lookup(&member);
    if !policy.store_pager_messages && !bindings.is_empty() {
        let mut branches = JoinSet::new();
        for binding in bindings {
            let branch = crate::server::proxy::new_branch();
            let Some(bytes) = deferred::build_stored(server, &copy, &binding.uri, &binding.flow, &branch)
            else {
                continue;
            };
            let server = server.clone();
            branches.spawn(async move {
                server
                    .transactions
                    .request(binding.flow, &branch, "MESSAGE", bytes)
                    .await
            });
        }
        let mut declined = None;
        while let Some(done) = branches.join_next().await {
            let Ok(Ok(response)) = done else { continue };
            match response.status() {
                Some(code) if (200..300).contains(&code) => {
                    branches.detach_all();
                    return Outcome::Delivered;
                }
                Some(code) => declined = Some(code),
                None => {}
            }
        }
        if let Some(code) = declined {
            return Outcome::Refused(code);
        }
    }
    match server.store.enqueue(copy, server.config.limits.quota()).await {
        Ok(Enqueued::Stored(_)) => {
            crate::server::pager::record(server, Event::Deferred, sender, &member, msg, 202);
            Outcome::Stored
        }
        Ok(Enqueued::Duplicate(_)) => Outcome::Stored,
        Err(_) => Outcome::Failed,
    }
}

/// A URI-list copy for a user of the `[[peers]]` domain `host` (its recipient is `user@host`): sent
/// to that domain's server, which delivers or stores it for its user. 2xx: delivered (202: stored
/// there); 4xx-6xx: refused; no answer: failed (nothing here holds it, so the sender is told).
async fn to_peer(server: &Arc<Server>, copy: &NewDeferred, host: &str) -> Outcome {
    let Some(peer) = server.config.peer_for(host) else {
        return Outcome::Refused(404);
    };
    let Some(flow) = crate::server::pager::peer_flow(server, peer).await else {
        return Outcome::Failed;
    };
    let uri = format!("sip:{}", copy.recipient);
    let branch = crate::server::proxy::new_branch();
    let Some(bytes) = deferred::build_stored(server, copy, &uri, &flow, &branch) else {
        return Outcome::Failed;
    };
    let answer = server.transactions.request(flow, &branch, "MESSAGE", bytes).await;
    match answer.ok().and_then(|r| r.status()) {
        Some(202) => Outcome::Stored,
        Some(code) if (200..300).contains(&code) => Outcome::Delivered,
        Some(code) if code >= 400 => Outcome::Refused(code),
        _ => Outcome::Failed,
    }
}
