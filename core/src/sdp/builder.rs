//! Writing session descriptions for MSRP into a caller buffer (CRLF line ends, RFC 8866 line order).

use core::fmt;

use super::attrs::{Direction, FileDate, FileRange, FileSelector, Setup};
use super::{Connection, Origin};
use crate::write::{BufferTooSmall, ByteWriter};

/// Why a description could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BuildError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// An MSRP media description needs at least one accept-types entry (RFC 4975 §8.6).
    EmptyAcceptTypes,
    /// An accepted MSRP stream (port not 0) needs an `a=path` (RFC 4975 §8.2).
    EmptyPath,
    /// A value contains a character that would break the line (CR, LF) or its syntax (a space inside a
    /// single-token value, a quote inside a quoted one).
    InvalidValue,
    /// `a=setup:holdconn` must not be sent by an MSRP endpoint (RFC 6135 §4.2.1).
    HoldConnNotAllowed,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildError::BufferTooSmall => "SDP builder: output buffer too small",
            BuildError::EmptyAcceptTypes => {
                "SDP builder: an MSRP media line needs at least one accept-types entry"
            }
            BuildError::EmptyPath => "SDP builder: an accepted MSRP media line needs a path",
            BuildError::InvalidValue => {
                "SDP builder: a value contains CR, LF, or a space or quote where none is allowed"
            }
            BuildError::HoldConnNotAllowed => {
                "SDP builder: MSRP endpoints must not send a=setup:holdconn (RFC 6135)"
            }
        })
    }
}

impl From<BufferTooSmall> for BuildError {
    fn from(_: BufferTooSmall) -> Self {
        BuildError::BufferTooSmall
    }
}

/// The RFC 5547 attributes of a file transfer stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FileTransfer<'x> {
    /// `a=file-selector` (written as the bare flag when empty).
    pub selector: FileSelector<'x>,
    /// `a=file-transfer-id` (a token, unique per transfer).
    pub transfer_id: &'x str,
    /// `a=file-disposition`.
    pub disposition: Option<&'x str>,
    /// `a=file-date`.
    pub date: Option<FileDate<'x>>,
    /// `a=file-icon` (`cid:` URL).
    pub icon: Option<&'x str>,
    /// `a=file-range`.
    pub range: Option<FileRange>,
}

/// One `m=message` stream to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MsrpMediaDesc<'x> {
    /// The port (0 rejects the stream).
    pub port: u16,
    /// `TCP/TLS/MSRP` instead of `TCP/MSRP`.
    pub tls: bool,
    /// `i=`.
    pub title: Option<&'x str>,
    /// Direction attribute (none written when `None`).
    pub direction: Option<Direction>,
    /// `a=accept-types` entries.
    pub accept_types: &'x [&'x str],
    /// `a=accept-wrapped-types` entries (none written when empty).
    pub accept_wrapped_types: &'x [&'x str],
    /// `a=path` URIs.
    pub path: &'x [&'x str],
    /// `a=max-size`.
    pub max_size: Option<u64>,
    /// `a=setup` (`Setup::Other` is not written).
    pub setup: Option<Setup>,
    /// File transfer attributes.
    pub file: Option<FileTransfer<'x>>,
}

/// A whole description to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionDesc<'x> {
    /// `o=`.
    pub origin: Origin<'x>,
    /// `s=` (use `-` when there is nothing to say).
    pub session_name: &'x str,
    /// Session-level `c=`.
    pub connection: Option<Connection<'x>>,
    /// The MSRP streams.
    pub media: &'x [MsrpMediaDesc<'x>],
}

fn check_line(s: &str) -> Result<(), BuildError> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(BuildError::InvalidValue);
    }
    Ok(())
}

fn check_token(s: &str) -> Result<(), BuildError> {
    check_line(s)?;
    if s.is_empty() || s.bytes().any(|b| b == b' ' || b == b'"') {
        return Err(BuildError::InvalidValue);
    }
    Ok(())
}

fn line(w: &mut ByteWriter<'_>, kind: &[u8], parts: &[&str]) -> Result<(), BuildError> {
    w.push(kind)?;
    for p in parts {
        check_line(p)?;
        w.push_str(p)?;
    }
    w.push(b"\r\n")?;
    Ok(())
}

fn list(w: &mut ByteWriter<'_>, name: &str, items: &[&str]) -> Result<(), BuildError> {
    w.push(b"a=")?;
    w.push_str(name)?;
    w.push_byte(b':')?;
    for (i, item) in items.iter().enumerate() {
        check_token(item)?;
        if i > 0 {
            w.push_byte(b' ')?;
        }
        w.push_str(item)?;
    }
    w.push(b"\r\n")?;
    Ok(())
}

/// Writes `v=`, `o=`, `s=`, `c=`, `t=`.
pub(crate) fn write_session_header(
    w: &mut ByteWriter<'_>,
    origin: &Origin<'_>,
    session_name: &str,
    connection: Option<&Connection<'_>>,
) -> Result<(), BuildError> {
    w.push(b"v=0\r\n")?;
    let o = origin;
    for f in [
        o.username,
        o.session_id,
        o.session_version,
        o.net_type,
        o.addr_type,
        o.address,
    ] {
        check_token(f)?;
    }
    line(
        w,
        b"o=",
        &[
            o.username,
            " ",
            o.session_id,
            " ",
            o.session_version,
            " ",
            o.net_type,
            " ",
            o.addr_type,
            " ",
            o.address,
        ],
    )?;
    line(w, b"s=", &[session_name])?;
    if let Some(c) = connection {
        for f in [c.net_type, c.addr_type, c.address] {
            check_token(f)?;
        }
        line(w, b"c=", &[c.net_type, " ", c.addr_type, " ", c.address])?;
    }
    w.push(b"t=0 0\r\n")?;
    Ok(())
}

fn write_selector(w: &mut ByteWriter<'_>, sel: &FileSelector<'_>) -> Result<(), BuildError> {
    w.push(b"a=file-selector")?;
    let mut sep = b':';
    if let Some(name) = sel.name {
        check_line(name)?;
        if name.contains('"') {
            return Err(BuildError::InvalidValue);
        }
        w.push_byte(sep)?;
        w.push(b"name:\"")?;
        w.push_str(name)?;
        w.push_byte(b'"')?;
        sep = b' ';
    }
    if let Some(t) = sel.media_type {
        check_token(t)?;
        w.push_byte(sep)?;
        w.push(b"type:")?;
        w.push_str(t)?;
        sep = b' ';
    }
    if let Some(size) = sel.size {
        w.push_byte(sep)?;
        w.push(b"size:")?;
        w.push_u64(size)?;
        sep = b' ';
    }
    if let Some(h) = sel.hash {
        check_token(h.algorithm)?;
        check_token(h.value)?;
        w.push_byte(sep)?;
        w.push(b"hash:")?;
        w.push_str(h.algorithm)?;
        w.push_byte(b':')?;
        w.push_str(h.value)?;
    }
    w.push(b"\r\n")?;
    Ok(())
}

fn write_file(w: &mut ByteWriter<'_>, f: &FileTransfer<'_>) -> Result<(), BuildError> {
    write_selector(w, &f.selector)?;
    check_token(f.transfer_id)?;
    line(w, b"a=file-transfer-id:", &[f.transfer_id])?;
    if let Some(d) = f.disposition {
        check_token(d)?;
        line(w, b"a=file-disposition:", &[d])?;
    }
    if let Some(d) = f.date {
        w.push(b"a=file-date:")?;
        let mut first = true;
        for (label, v) in [
            ("creation:\"", d.creation),
            ("modification:\"", d.modification),
            ("read:\"", d.read),
        ] {
            if let Some(v) = v {
                check_line(v)?;
                if v.contains('"') {
                    return Err(BuildError::InvalidValue);
                }
                if !first {
                    w.push_byte(b' ')?;
                }
                w.push_str(label)?;
                w.push_str(v)?;
                w.push_byte(b'"')?;
                first = false;
            }
        }
        w.push(b"\r\n")?;
    }
    if let Some(icon) = f.icon {
        check_token(icon)?;
        line(w, b"a=file-icon:", &[icon])?;
    }
    if let Some(r) = f.range {
        w.push(b"a=file-range:")?;
        w.push_u64(r.start)?;
        w.push_byte(b'-')?;
        match r.stop {
            Some(stop) => w.push_u64(stop)?,
            None => w.push_byte(b'*')?,
        }
        w.push(b"\r\n")?;
    }
    Ok(())
}

/// Writes one `m=message` section.
pub(crate) fn write_msrp_media(w: &mut ByteWriter<'_>, m: &MsrpMediaDesc<'_>) -> Result<(), BuildError> {
    if m.accept_types.is_empty() {
        return Err(BuildError::EmptyAcceptTypes);
    }
    if m.port != 0 && m.path.is_empty() {
        return Err(BuildError::EmptyPath);
    }
    if m.setup == Some(Setup::HoldConn) {
        return Err(BuildError::HoldConnNotAllowed);
    }
    w.push(b"m=message ")?;
    w.push_u64(u64::from(m.port))?;
    w.push_str(if m.tls {
        " TCP/TLS/MSRP *\r\n"
    } else {
        " TCP/MSRP *\r\n"
    })?;
    if let Some(t) = m.title {
        line(w, b"i=", &[t])?;
    }
    if let Some(d) = m.direction {
        line(w, b"a=", &[d.as_str()])?;
    }
    list(w, "accept-types", m.accept_types)?;
    if !m.accept_wrapped_types.is_empty() {
        list(w, "accept-wrapped-types", m.accept_wrapped_types)?;
    }
    if !m.path.is_empty() {
        list(w, "path", m.path)?;
    }
    if let Some(size) = m.max_size {
        w.push(b"a=max-size:")?;
        w.push_u64(size)?;
        w.push(b"\r\n")?;
    }
    if let Some(setup) = m.setup.and_then(|s| s.as_str()) {
        line(w, b"a=setup:", &[setup])?;
    }
    if let Some(f) = &m.file {
        write_file(w, f)?;
    }
    Ok(())
}

impl SessionDesc<'_> {
    /// Writes the description into `buf` and returns its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let mut w = ByteWriter::new(buf);
        write_session_header(&mut w, &self.origin, self.session_name, self.connection.as_ref())?;
        for m in self.media {
            write_msrp_media(&mut w, m)?;
        }
        Ok(w.len())
    }
}
