//! SDP: a session description, with the MSRP media attributes (RFC 4975 §8, RFC 6135, RFC 5547).

use super::Report;
use simple_im_core::sdp::Session;

pub(crate) fn inspect(bytes: &[u8], report: &mut Report) -> Result<(), String> {
    let session = Session::parse(bytes).map_err(|e| e.to_string())?;
    if let Some(origin) = session.origin() {
        report.line(
            "origin",
            format!(
                "{} session {} version {} {} {} {}",
                origin.username,
                origin.session_id,
                origin.session_version,
                origin.net_type,
                origin.addr_type,
                origin.address
            ),
        );
    }
    if let Some(name) = session.name() {
        report.line("session name", name);
    }
    let mut index = 0;
    for media in session.media() {
        index += 1;
        let formats: Vec<&str> = media.formats().collect();
        report.line(
            &format!("media {index}"),
            format!(
                "{} port {} {} {}",
                media.media_type().unwrap_or("?"),
                media.port().map_or("?".to_string(), |p| p.to_string()),
                media.proto().unwrap_or("?"),
                formats.join(" ")
            ),
        );
        if !media.is_msrp() {
            continue;
        }
        let path: Vec<&str> = media.path().collect();
        if path.is_empty() {
            return Err(format!(
                "media {index}: an MSRP media line needs a=path (RFC 4975 §8.1)"
            ));
        }
        for uri in &path {
            simple_im_core::msrp::MsrpUri::parse(uri)
                .map_err(|e| format!("media {index}: a=path: malformed MSRP URI {uri}: {e}"))?;
        }
        report.detail(format!("path {}", path.join(" ")));
        let accept: Vec<&str> = media.accept_types().collect();
        if accept.is_empty() {
            return Err(format!(
                "media {index}: an MSRP media line needs a=accept-types (RFC 4975 §8.6)"
            ));
        }
        report.detail(format!("accept-types {}", accept.join(" ")));
        let wrapped: Vec<&str> = media.accept_wrapped_types().collect();
        if !wrapped.is_empty() {
            report.detail(format!("accept-wrapped-types {}", wrapped.join(" ")));
        }
        if let Some(max) = media.max_size() {
            report.detail(format!("max-size {max}"));
        }
        if let Some(setup) = media.setup() {
            report.detail(format!("setup {setup:?}"));
        }
        if let Some(direction) = media.direction() {
            report.detail(format!("direction {direction:?}"));
        }
        if let Some(file) = media.file_selector() {
            report.detail(format!(
                "file {} type {} size {}",
                file.name.unwrap_or("?"),
                file.media_type.unwrap_or("?"),
                file.size.map_or("?".to_string(), |s| s.to_string())
            ));
        }
        if let Some(id) = media.file_transfer_id() {
            report.detail(format!("file-transfer-id {id}"));
        }
    }
    if index == 0 {
        return Err("no m= line: nothing to negotiate".into());
    }
    Ok(())
}
