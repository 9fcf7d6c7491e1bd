//! The [`Dialog`] itself: creation, in-dialog requests and responses, termination.

use crate::ascii_trim::TrimAsciiWs;
use heapless::{String, Vec};

use super::{
    copy, is_loose_route, route_uri, strict_request_uri, DialogError, DialogId, DialogParts, DialogState,
    DialogUsage, Field, RequestTarget, MAX_CSEQ, MAX_ROUTES, MAX_ROUTE_LEN, MAX_URI_LEN,
};

type RouteSet = Vec<String<MAX_ROUTE_LEN>, MAX_ROUTES>;

/// The state of one dialog (§12), from our side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    state: DialogState,
    usage: DialogUsage,
    id: DialogId,
    local_uri: String<MAX_URI_LEN>,
    remote_uri: String<MAX_URI_LEN>,
    remote_target: String<MAX_URI_LEN>,
    route_set: RouteSet,
    local_seq: Option<u32>,
    remote_seq: Option<u32>,
    secure: bool,
}

fn route_set<'a>(values: impl Iterator<Item = &'a str>, count: usize) -> Result<RouteSet, DialogError> {
    if count > MAX_ROUTES {
        return Err(DialogError::TooManyRoutes);
    }
    let mut set = RouteSet::new();
    for value in values {
        set.push(copy(value.trim_ws(), Field::Route)?)
            .map_err(|_| DialogError::TooManyRoutes)?;
    }
    Ok(set)
}

fn contact(parts: &DialogParts<'_>) -> Result<String<MAX_URI_LEN>, DialogError> {
    copy(
        parts.contact.ok_or(DialogError::Missing(Field::Contact))?,
        Field::Contact,
    )
}

impl Dialog {
    /// The UAC side (§12.1.2): our `usage` request got the response described by `response` (its
    /// From, To with the peer's tag, Call-ID, Contact, Record-Route, and the request's CSeq) with
    /// `status_code`. `secure` comes from [`super::secure_flag`].
    pub fn new_uac(
        usage: DialogUsage,
        status_code: u16,
        response: &DialogParts<'_>,
        secure: bool,
    ) -> Result<Self, DialogError> {
        let state = match (usage, status_code) {
            (DialogUsage::Invite, 101..=199) if !response.to_tag.is_empty() => DialogState::Early,
            (_, 200..=299) => DialogState::Confirmed,
            _ => return Err(DialogError::NotDialogCreating(status_code)),
        };
        if response.from_tag.is_empty() {
            return Err(DialogError::Missing(Field::Tag));
        }
        let rr = response.record_route;
        Ok(Dialog {
            state,
            usage,
            id: DialogId {
                call_id: copy(response.call_id, Field::CallId)?,
                local_tag: copy(response.from_tag, Field::Tag)?,
                remote_tag: copy(response.to_tag, Field::Tag)?,
            },
            local_uri: copy(response.from_uri, Field::Uri)?,
            remote_uri: copy(response.to_uri, Field::Uri)?,
            remote_target: contact(response)?,
            route_set: route_set(rr.iter().rev().copied(), rr.len())?,
            local_seq: Some(response.cseq),
            remote_seq: None,
            secure,
        })
    }

    /// The UAS side (§12.1.1): we answer the dialog-creating `request` with `status_code` (101-199:
    /// early, 2xx: confirmed) carrying our To tag `local_tag` (from [`super::generate_tag`]).
    pub fn new_uas(
        usage: DialogUsage,
        status_code: u16,
        request: &DialogParts<'_>,
        local_tag: &str,
        secure: bool,
    ) -> Result<Self, DialogError> {
        let state = match (usage, status_code) {
            (DialogUsage::Invite, 101..=199) => DialogState::Early,
            (_, 200..=299) => DialogState::Confirmed,
            _ => return Err(DialogError::NotDialogCreating(status_code)),
        };
        if local_tag.is_empty() {
            return Err(DialogError::Missing(Field::Tag));
        }
        let rr = request.record_route;
        Ok(Dialog {
            state,
            usage,
            id: DialogId {
                call_id: copy(request.call_id, Field::CallId)?,
                local_tag: copy(local_tag, Field::Tag)?,
                remote_tag: copy(request.from_tag, Field::Tag)?,
            },
            local_uri: copy(request.to_uri, Field::Uri)?,
            remote_uri: copy(request.from_uri, Field::Uri)?,
            remote_target: contact(request)?,
            route_set: route_set(rr.iter().copied(), rr.len())?,
            local_seq: None,
            remote_seq: Some(request.cseq),
            secure,
        })
    }

    /// The state.
    pub fn state(&self) -> DialogState {
        self.state
    }
    /// The request that created the dialog.
    pub fn usage(&self) -> DialogUsage {
        self.usage
    }
    /// The dialog identifier.
    pub fn id(&self) -> &DialogId {
        &self.id
    }
    /// Our URI (the From URI of our requests).
    pub fn local_uri(&self) -> &str {
        &self.local_uri
    }
    /// The peer's URI (the To URI of our requests).
    pub fn remote_uri(&self) -> &str {
        &self.remote_uri
    }
    /// Where the peer wants in-dialog requests (its latest Contact).
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }
    /// The route set, in the order our requests traverse it.
    pub fn route_set(&self) -> impl Iterator<Item = &str> {
        self.route_set.iter().map(|r| r.as_str())
    }
    /// The last CSeq we used, if any.
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }
    /// The highest CSeq the peer used, if any.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }
    /// The secure flag: in-dialog Contacts must be SIPS and requests must go over TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// UAC: the 2xx for an early dialog arrived (§13.2.2.4): confirm it and recompute the route set
    /// (reversed Record-Route of the 2xx) and remote target (its Contact, kept when absent).
    pub fn confirm_uac(&mut self, response: &DialogParts<'_>) -> Result<(), DialogError> {
        self.ensure_alive()?;
        let rr = response.record_route;
        let routes = route_set(rr.iter().rev().copied(), rr.len())?;
        let target = response.contact.map(|c| copy(c, Field::Contact)).transpose()?;
        self.route_set = routes;
        if let Some(target) = target {
            self.remote_target = target;
        }
        self.state = DialogState::Confirmed;
        Ok(())
    }

    /// UAS: we sent the 2xx for an early dialog.
    pub fn confirm_uas(&mut self) -> Result<(), DialogError> {
        self.ensure_alive()?;
        self.state = DialogState::Confirmed;
        Ok(())
    }

    /// Ends the dialog (BYE sent or received, subscription ended, or the TU decides).
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// The CSeq for our next request in the dialog (§12.2.1.1): the last plus one, or 1 when none was
    /// used yet. ACK and CANCEL reuse their request's number and must not call this.
    pub fn next_local_cseq(&mut self) -> Result<u32, DialogError> {
        self.ensure_alive()?;
        let next = match self.local_seq {
            None => 1,
            Some(seq) if seq >= MAX_CSEQ => return Err(DialogError::CSeqExhausted),
            Some(seq) => seq + 1,
        };
        self.local_seq = Some(next);
        Ok(next)
    }

    /// The Request-URI and Route values of our next request (§12.2.1.1).
    pub fn request_target(&self) -> Result<RequestTarget<'_>, DialogError> {
        self.ensure_alive()?;
        match self.route_set.split_first() {
            Some((first, rest)) if !is_loose_route(route_uri(first)) => Ok(RequestTarget {
                request_uri: strict_request_uri(first)?,
                routes: rest,
                remote_target_last: Some(&self.remote_target),
            }),
            _ => Ok(RequestTarget {
                request_uri: self.remote_target.clone(),
                routes: &self.route_set,
                remote_target_last: None,
            }),
        }
    }

    /// UAC: the final response (or a transaction timeout, as 408) to our in-dialog request `method`.
    /// A 2xx to a target refresh with a Contact replaces the remote target (§12.2.1.2); 481 and 408
    /// end the dialog. For the request that created an early dialog, a non-2xx final ends it (§12.3).
    pub fn handle_response(
        &mut self,
        method: &str,
        status_code: u16,
        contact: Option<&str>,
    ) -> Result<(), DialogError> {
        self.ensure_alive()?;
        match status_code {
            200..=299 if super::is_target_refresh(method) => {
                if let Some(uri) = contact {
                    self.remote_target = copy(uri, Field::Contact)?;
                }
            }
            408 | 481 => self.terminate(),
            300..=699 if self.state == DialogState::Early => self.terminate(),
            _ => {}
        }
        Ok(())
    }

    /// UAS: a request `method` with sequence number `cseq` and optional Contact arrived in the dialog
    /// (§12.2.2). An out-of-order CSeq is rejected without changing anything: answer
    /// [`DialogError::status_code`] (500). ACK and CANCEL carry their request's number and pass.
    pub fn handle_request(
        &mut self,
        method: &str,
        cseq: u32,
        contact: Option<&str>,
    ) -> Result<(), DialogError> {
        self.ensure_alive()?;
        if let Some(remote) = self.remote_seq {
            if cseq < remote {
                return Err(DialogError::CSeqOutOfOrder {
                    remote,
                    received: cseq,
                });
            }
        }
        // Check every fallible step before changing state: a rejected request changes nothing.
        let target = match contact {
            Some(uri) if super::is_target_refresh(method) => Some(copy(uri, Field::Contact)?),
            _ => None,
        };
        if !matches!(method, "ACK" | "CANCEL") {
            self.remote_seq = Some(cseq);
        }
        if let Some(target) = target {
            self.remote_target = target;
        }
        Ok(())
    }

    fn ensure_alive(&self) -> Result<(), DialogError> {
        if self.state == DialogState::Terminated {
            Err(DialogError::Terminated)
        } else {
            Ok(())
        }
    }
}
