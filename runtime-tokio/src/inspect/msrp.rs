//! MSRP: one request or response with its end-line; typed header values checked.

use super::{printable, Report};
use simple_im_core::msrp::wire::{parse_message, Parsed, StartLine};
use simple_im_core::msrp::MsrpUri;

pub(crate) fn inspect(bytes: &[u8], report: &mut Report) -> Result<(), String> {
    let (msg, used) = match parse_message(bytes).map_err(|e| format!("{e}"))? {
        Parsed::Complete(msg, used) => (msg, used),
        Parsed::Partial => {
            return Err(
                "incomplete MSRP message: no end-line (-------<transaction-id>$|+|#) after the headers \
                        and body"
                    .into(),
            )
        }
    };
    let head = &msg.head;
    match head.start {
        StartLine::Request { method } => report.line(
            "request",
            format!("{} (transaction {})", method.as_str(), head.transaction_id),
        ),
        StartLine::Response { code, comment } => report.line(
            "response",
            format!(
                "{code}{} (transaction {})",
                comment.map(|c| format!(" {c}")).unwrap_or_default(),
                head.transaction_id
            ),
        ),
    }
    for (label, path) in [("to-path", head.to_path()), ("from-path", head.from_path())] {
        let Some(path) = path else { continue };
        for text in path.texts() {
            MsrpUri::parse(text).map_err(|e| format!("{label}: malformed MSRP URI {text}: {e}"))?;
        }
        report.line(label, path.0);
    }
    if let Some(id) = head.message_id() {
        report.line("message-id", id);
    }
    if let Some(range) = head.byte_range().map_err(|e| format!("Byte-Range: {e}"))? {
        report.line("byte-range", range);
        if let Some(end) = range.end {
            let declared = end.saturating_sub(range.start).saturating_add(1);
            if declared != msg.body.len() as u64 {
                report.detail(format!(
                    "note: the range covers {declared} bytes, the body has {}",
                    msg.body.len()
                ));
            }
        }
    }
    for (label, value) in [
        ("success-report", head.success_report()),
        ("failure-report", head.failure_report()),
    ] {
        if let Some(v) = value.map_err(|e| format!("{label}: {e}"))? {
            report.line(label, v.as_str());
        }
    }
    if let Some(status) = head.status().map_err(|e| format!("Status: {e}"))? {
        report.line(
            "status",
            format!(
                "{:03} {}{}",
                status.namespace,
                status.code,
                status.comment.map(|c| format!(" {c}")).unwrap_or_default()
            ),
        );
    }
    if let Some(ct) = head.content_type() {
        report.line("content-type", ct);
    }
    report.line(
        "body",
        format!("{} bytes, end-line flag {}", msg.body.len(), msg.continuation),
    );
    if used < bytes.len() {
        report.line(
            "note",
            format!(
                "{} bytes after the end-line ignored: {}",
                bytes.len() - used,
                printable(&bytes[used..bytes.len().min(used + 40)])
            ),
        );
    }
    Ok(())
}
