//! SDP offer/answer for MSRP (RFC 3264 as applied by RFC 4975 §8, RFC 6135 and RFC 5547).
//!
//! Answering ([`negotiate`], then [`Negotiated::write_answer`]):
//!
//! | offer                         | answer                                                            |
//! |-------------------------------|-------------------------------------------------------------------|
//! | no MSRP `m=` line             | error [`NegotiateError::NoMsrpMedia`]; [`write_rejection`] ports 0 |
//! | accept-types ∩ local = ∅      | error [`NegotiateError::NoCommonAcceptType`]                       |
//! | `a=setup:actpass`             | `a=setup:active` (we connect); `passive` if `prefer_passive`       |
//! | `a=setup:active`              | `a=setup:passive` (we listen)                                      |
//! | `a=setup:passive`             | `a=setup:active` (we connect)                                      |
//! | no setup, `holdconn`, unknown | no setup; the offerer connects (RFC 4975 §8.5)                     |
//! | `sendonly` / `recvonly`       | `recvonly` / `sendonly` (RFC 3264 §6.1)                            |
//! | file-selector, accepted       | selector and file-transfer-id copied, direction reversed           |
//! | file-selector, not accepted   | error [`NegotiateError::FileTransferDeclined`]                     |
//! | other `m=` lines              | copied with port 0 (rejected), in order                           |
//!
//! The answer's accept-types are the intersection: for every offered entry that a local entry covers
//! (or that covers a local entry), the narrower of the two, in the offer's order, without duplicates.
//!
//! Checking an answer ([`check_answer`]):
//!
//! | offer setup | answer setup        | offerer       |
//! |-------------|---------------------|---------------|
//! | actpass     | active              | passive       |
//! | actpass     | passive or none     | active        |
//! | active      | passive or none     | active        |
//! | passive     | active              | passive       |
//! | none        | passive or none     | active        |
//! | any other combination             | error [`AnswerError::SetupConflict`] |
//!
//! plus: port 0 → [`AnswerError::Rejected`]; another protocol → `ProtocolMismatch`; no accept-type of
//! the answer matching one of the offer → `NoCommonAcceptType`; no path → `MissingPath`; a direction
//! RFC 3264 does not allow → `DirectionMismatch`; a file-transfer-id not echoed → `FileTransferIdMismatch`.

use core::fmt;

use super::attrs::{media_type_matches, narrower, Direction, Setup};
use super::builder::{write_msrp_media, write_session_header, BuildError, FileTransfer, MsrpMediaDesc};
use super::{Connection, Media, Origin, Session};
use crate::write::ByteWriter;

/// Entries kept in a negotiated accept-types (or accept-wrapped-types) list.
pub const MAX_NEGOTIATED_TYPES: usize = 16;

/// Who opens the MSRP TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// This side connects.
    Active,
    /// This side listens.
    Passive,
}

/// What this endpoint can do, for answering an offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LocalCaps<'x> {
    /// The media types this endpoint accepts (wildcards allowed).
    pub accept_types: &'x [&'x str],
    /// The types accepted inside containers (empty: no `accept-wrapped-types`).
    pub accept_wrapped_types: &'x [&'x str],
    /// Our `a=path` URIs, in the order RFC 4975 §8.2 gives them.
    pub path: &'x [&'x str],
    /// Our port in the `m=` line.
    pub port: u16,
    /// Our `a=max-size`.
    pub max_size: Option<u64>,
    /// Answer `passive` to `actpass` (only when this endpoint is reachable, RFC 6135 §4.2.2).
    pub prefer_passive: bool,
    /// Whether file transfer offers (RFC 5547) are accepted.
    pub accept_file_transfer: bool,
}

/// Why an offer cannot be answered with an accepted MSRP stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NegotiateError {
    /// The offer has no MSRP media line (with a non-zero port).
    NoMsrpMedia,
    /// The offered MSRP media has no accept-types.
    MissingAcceptTypes,
    /// The offered MSRP media has no path.
    MissingPath,
    /// No offered type is acceptable.
    NoCommonAcceptType,
    /// The offer is a file transfer and the local capabilities decline them.
    FileTransferDeclined,
    /// The intersection has more than [`MAX_NEGOTIATED_TYPES`] entries.
    TooManyTypes,
}

impl fmt::Display for NegotiateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NegotiateError::NoMsrpMedia => "SDP offer has no active m=message TCP/MSRP or TCP/TLS/MSRP line",
            NegotiateError::MissingAcceptTypes => "SDP offer's MSRP media has no a=accept-types",
            NegotiateError::MissingPath => "SDP offer's MSRP media has no a=path",
            NegotiateError::NoCommonAcceptType => {
                "SDP offer: none of the offered accept-types is acceptable here"
            }
            NegotiateError::FileTransferDeclined => {
                "SDP offer is a file transfer, which is not accepted here"
            }
            NegotiateError::TooManyTypes => "SDP offer: more common accept-types than MAX_NEGOTIATED_TYPES",
        })
    }
}

/// Why an answer does not fit its offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnswerError {
    /// The offer has no MSRP media (nothing to check).
    NoMsrpMedia,
    /// The answer has fewer media lines than the offer.
    MediaCountMismatch,
    /// The answer rejected the MSRP stream (port 0).
    Rejected,
    /// The answer uses another transport protocol than the offer.
    ProtocolMismatch,
    /// The answer has no accept-types.
    MissingAcceptTypes,
    /// None of the answer's accept-types matches one of the offer.
    NoCommonAcceptType,
    /// The answer has no path.
    MissingPath,
    /// The setup roles do not combine (see the module table).
    SetupConflict,
    /// The answer's direction is not allowed for the offered one.
    DirectionMismatch,
    /// The offer is a file transfer and the answer does not echo its file-transfer-id.
    FileTransferIdMismatch,
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnswerError::NoMsrpMedia => "SDP: the offer has no MSRP media line",
            AnswerError::MediaCountMismatch => "SDP answer has fewer m= lines than the offer",
            AnswerError::Rejected => "SDP answer rejected the MSRP stream (port 0)",
            AnswerError::ProtocolMismatch => "SDP answer uses another transport protocol than the offer",
            AnswerError::MissingAcceptTypes => "SDP answer's MSRP media has no a=accept-types",
            AnswerError::NoCommonAcceptType => "SDP answer's accept-types share no type with the offer",
            AnswerError::MissingPath => "SDP answer's MSRP media has no a=path",
            AnswerError::SetupConflict => {
                "SDP answer's a=setup does not combine with the offer's (RFC 4145/6135)"
            }
            AnswerError::DirectionMismatch => {
                "SDP answer's direction is not allowed for the offered direction"
            }
            AnswerError::FileTransferIdMismatch => "SDP answer does not echo the offer's a=file-transfer-id",
        })
    }
}

fn intersect<'a>(
    offered: impl Iterator<Item = &'a str>,
    local: &[&'a str],
) -> Result<heapless::Vec<&'a str, MAX_NEGOTIATED_TYPES>, NegotiateError> {
    let mut out: heapless::Vec<&'a str, MAX_NEGOTIATED_TYPES> = heapless::Vec::new();
    for o in offered {
        for l in local {
            if media_type_matches(o, l) {
                let pick = narrower(o, l);
                if !out.contains(&pick) {
                    out.push(pick).map_err(|_| NegotiateError::TooManyTypes)?;
                }
            }
        }
    }
    Ok(out)
}

/// The outcome of answering an offer: what the answer says and what this endpoint must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated<'a> {
    /// Index of the offer's MSRP media among its `m=` lines.
    pub media_index: usize,
    /// The answer's accept-types.
    pub accept_types: heapless::Vec<&'a str, MAX_NEGOTIATED_TYPES>,
    /// The answer's accept-wrapped-types.
    pub accept_wrapped_types: heapless::Vec<&'a str, MAX_NEGOTIATED_TYPES>,
    /// The answer's `a=setup` (`None`: not written).
    pub setup: Option<Setup>,
    /// Whether this endpoint (the answerer) connects or listens.
    pub role: Role,
    /// The answer's direction.
    pub direction: Option<Direction>,
    /// TLS transport.
    pub tls: bool,
    /// The offerer's max-size.
    pub remote_max_size: Option<u64>,
    /// The file transfer attributes echoed in the answer.
    pub file: Option<FileTransfer<'a>>,
}

fn effective_setup(s: Option<Setup>) -> Option<Setup> {
    match s {
        Some(Setup::HoldConn) | Some(Setup::Other) | None => None,
        other => other,
    }
}

/// Answers `offer` with `local`'s capabilities (see the module table).
pub fn negotiate<'a>(offer: &Session<'a>, local: &LocalCaps<'a>) -> Result<Negotiated<'a>, NegotiateError> {
    let (media_index, m) = offer
        .media()
        .enumerate()
        .find(|(_, m)| m.is_msrp() && m.port() != Some(0))
        .ok_or(NegotiateError::NoMsrpMedia)?;
    if m.accept_types().next().is_none() {
        return Err(NegotiateError::MissingAcceptTypes);
    }
    if m.path().next().is_none() {
        return Err(NegotiateError::MissingPath);
    }
    let accept_types = intersect(m.accept_types(), local.accept_types)?;
    if accept_types.is_empty() {
        return Err(NegotiateError::NoCommonAcceptType);
    }
    let accept_wrapped_types = intersect(m.accept_wrapped_types(), local.accept_wrapped_types)?;
    let (setup, role) = match effective_setup(m.setup()) {
        None => (None, Role::Passive),
        Some(Setup::ActPass) if local.prefer_passive => (Some(Setup::Passive), Role::Passive),
        Some(Setup::ActPass) | Some(Setup::Passive) => (Some(Setup::Active), Role::Active),
        Some(_) => (Some(Setup::Passive), Role::Passive),
    };
    let file = match (m.file_selector(), m.file_transfer_id()) {
        (Some(_), _) | (_, Some(_)) if !local.accept_file_transfer => {
            return Err(NegotiateError::FileTransferDeclined)
        }
        (Some(selector), Some(transfer_id)) => Some(FileTransfer {
            selector,
            transfer_id,
            disposition: m.file_disposition(),
            date: None,
            icon: None,
            range: m.file_range(),
        }),
        _ => None,
    };
    Ok(Negotiated {
        media_index,
        accept_types,
        accept_wrapped_types,
        setup,
        role,
        direction: m.direction().map(|d| d.reversed()),
        tls: m.is_tls(),
        remote_max_size: m.max_size(),
        file,
    })
}

/// Writes a rejected copy of an offered `m=` line (port 0, same media, protocol and formats).
fn write_rejected_media(w: &mut ByteWriter<'_>, m: &Media<'_, '_>) -> Result<(), BuildError> {
    w.push(b"m=")?;
    w.push_str(m.media_type().unwrap_or("message"))?;
    w.push(b" 0 ")?;
    w.push_str(m.proto().unwrap_or("TCP/MSRP"))?;
    let mut any = false;
    for f in m.formats() {
        w.push_byte(b' ')?;
        w.push_str(f)?;
        any = true;
    }
    if !any {
        w.push(b" *")?;
    }
    w.push(b"\r\n")?;
    Ok(())
}

/// Writes an answer: session lines, then one `m=` line per offered one, `accepted` (index, media) in its
/// place and every other stream rejected with port 0.
fn write_answer_lines(
    offer: &Session<'_>,
    accepted: Option<(usize, &MsrpMediaDesc<'_>)>,
    origin: &Origin<'_>,
    connection: Option<&Connection<'_>>,
    buf: &mut [u8],
) -> Result<usize, BuildError> {
    let mut w = ByteWriter::new(buf);
    write_session_header(&mut w, origin, "-", connection)?;
    for (i, m) in offer.media().enumerate() {
        match accepted {
            Some((index, desc)) if index == i => write_msrp_media(&mut w, desc)?,
            _ => {
                write_rejected_media(&mut w, &m)?;
                if m.is_msrp() {
                    // MSRP requires accept-types on every m=message line, rejected or not.
                    w.push(b"a=accept-types:*\r\n")?;
                }
            }
        }
    }
    Ok(w.len())
}

/// Writes an answer that rejects every stream of `offer` (port 0), for a failed negotiation.
pub fn write_rejection(
    offer: &Session<'_>,
    origin: &Origin<'_>,
    connection: Option<&Connection<'_>>,
    buf: &mut [u8],
) -> Result<usize, BuildError> {
    write_answer_lines(offer, None, origin, connection, buf)
}

impl<'a> Negotiated<'a> {
    /// The MSRP media description of the answer.
    pub fn media_desc<'s>(&'s self, local: &LocalCaps<'s>) -> MsrpMediaDesc<'s> {
        MsrpMediaDesc {
            port: local.port,
            tls: self.tls,
            title: None,
            direction: self.direction,
            accept_types: &self.accept_types,
            accept_wrapped_types: &self.accept_wrapped_types,
            path: local.path,
            max_size: local.max_size,
            setup: self.setup,
            file: self.file,
        }
    }

    /// Writes the full answer: session lines, then one `m=` line per offered one (ours accepted, the
    /// others rejected with port 0), and returns its length.
    pub fn write_answer(
        &self,
        offer: &Session<'_>,
        local: &LocalCaps<'_>,
        origin: &Origin<'_>,
        connection: Option<&Connection<'_>>,
        buf: &mut [u8],
    ) -> Result<usize, BuildError> {
        write_answer_lines(
            offer,
            Some((self.media_index, &self.media_desc(local))),
            origin,
            connection,
            buf,
        )
    }
}

/// What an accepted answer means for the offerer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Agreement {
    /// Index of the MSRP media among the `m=` lines (same in offer and answer).
    pub media_index: usize,
    /// Whether the offerer connects or listens.
    pub offerer_role: Role,
    /// The answer's direction (`SendRecv` when it has none).
    pub direction: Direction,
    /// The answerer's max-size.
    pub remote_max_size: Option<u64>,
}

/// Checks `answer` against the `offer` it answers (see the module table).
pub fn check_answer(offer: &Session<'_>, answer: &Session<'_>) -> Result<Agreement, AnswerError> {
    let (media_index, o) = offer
        .media()
        .enumerate()
        .find(|(_, m)| m.is_msrp())
        .ok_or(AnswerError::NoMsrpMedia)?;
    let a = answer
        .media()
        .nth(media_index)
        .ok_or(AnswerError::MediaCountMismatch)?;
    if a.port() == Some(0) {
        return Err(AnswerError::Rejected);
    }
    if a.media_type() != o.media_type() || a.proto() != o.proto() {
        return Err(AnswerError::ProtocolMismatch);
    }
    if a.accept_types().next().is_none() {
        return Err(AnswerError::MissingAcceptTypes);
    }
    if !a
        .accept_types()
        .any(|at| o.accept_types().any(|ot| media_type_matches(ot, at)))
    {
        return Err(AnswerError::NoCommonAcceptType);
    }
    if a.path().next().is_none() {
        return Err(AnswerError::MissingPath);
    }
    let offerer_role = match (effective_setup(o.setup()), effective_setup(a.setup())) {
        (Some(Setup::ActPass), Some(Setup::Active)) => Role::Passive,
        (Some(Setup::ActPass), Some(Setup::Passive) | None) => Role::Active,
        (Some(Setup::Active) | None, Some(Setup::Passive) | None) => Role::Active,
        (Some(Setup::Passive), Some(Setup::Active)) => Role::Passive,
        _ => return Err(AnswerError::SetupConflict),
    };
    let offered_dir = o.direction().unwrap_or(Direction::SendRecv);
    let direction = a.direction().unwrap_or(Direction::SendRecv);
    if !offered_dir.accepts_answer(direction) {
        return Err(AnswerError::DirectionMismatch);
    }
    if let Some(id) = o.file_transfer_id() {
        if a.file_transfer_id() != Some(id) {
            return Err(AnswerError::FileTransferIdMismatch);
        }
    }
    Ok(Agreement {
        media_index,
        offerer_role,
        direction,
        remote_max_size: a.max_size(),
    })
}
