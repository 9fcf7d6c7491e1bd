//! IMDN (RFC 5438): a delivery, display or processing notification document.

use super::Report;
use simple_im_core::imdn::Imdn;

pub(crate) fn inspect(bytes: &[u8], report: &mut Report) -> Result<(), String> {
    let doc = Imdn::parse(bytes).map_err(|e| e.to_string())?;
    report.line("notification", doc.kind.element());
    report.line("status", doc.status.element());
    // Text fields are printed decoded (`&amp;` shown as `&`).
    report.line("message-id", doc.message_id);
    report.line("datetime", doc.datetime);
    if let Some(uri) = doc.recipient_uri {
        report.line("recipient", uri);
    }
    if let Some(uri) = doc.original_recipient_uri {
        report.line("original recipient", uri);
    }
    if let Some(subject) = &doc.subject {
        let lang = subject.lang.map(|l| format!(" (lang {l})")).unwrap_or_default();
        report.line("subject", format!("{}{lang}", subject.text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{inspect, Kind};

    #[test]
    fn text_fields_are_printed_decoded() {
        let doc = b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>a&amp;b&#x3C;</message-id>\
            <datetime>d</datetime><subject xml:lang='en'>x &gt; y</subject>\
            <display-notification><status><displayed/></status></display-notification></imdn>";
        let out = inspect(doc, Some(Kind::Imdn)).unwrap();
        assert!(out.contains("a&b<\n"), "{out}");
        assert!(out.contains("x > y (lang en)"), "{out}");
        assert!(!out.contains("&amp;"), "{out}");
    }
}
