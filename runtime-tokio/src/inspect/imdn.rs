//! IMDN (RFC 5438): a delivery, display or processing notification document.

use super::Report;
use simple_im_core::imdn::Imdn;

pub(crate) fn inspect(bytes: &[u8], report: &mut Report) -> Result<(), String> {
    let doc = Imdn::parse(bytes).map_err(|e| e.to_string())?;
    report.line("notification", doc.kind.element());
    report.line("status", doc.status.element());
    report.line("message-id", doc.message_id);
    report.line("datetime", doc.datetime);
    if let Some(uri) = doc.recipient_uri {
        report.line("recipient", uri);
    }
    if let Some(uri) = doc.original_recipient_uri {
        report.line("original recipient", uri);
    }
    if let Some(subject) = &doc.subject {
        report.line("subject", subject.text);
    }
    Ok(())
}
