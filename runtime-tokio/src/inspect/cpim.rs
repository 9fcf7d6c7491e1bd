//! CPIM (RFC 3862): the message headers with their namespaces, and the encapsulated MIME part.

use super::Report;
use simple_im_core::cpim::{self, IMDN_NS};
use simple_im_core::imdn;

pub(crate) fn inspect(bytes: &[u8], report: &mut Report) -> Result<(), String> {
    let msg = cpim::Message::parse(bytes).map_err(|e| e.to_string())?;
    let Some(from) = msg.from() else {
        return Err("CPIM message has no From header (RFC 3862 §3.3.1 requires it)".into());
    };
    report.line("from", display(from));
    for to in msg.to() {
        report.line("to", display(to));
    }
    for cc in msg.cc() {
        report.line("cc", display(cc));
    }
    if let Some(dt) = msg.date_time() {
        report.line("datetime", dt);
    }
    for (lang, subject) in msg.subjects() {
        report.line(
            "subject",
            format!(
                "{subject}{}",
                lang.map(|l| format!(" (lang {l})")).unwrap_or_default()
            ),
        );
    }
    for ns in msg.ns_declarations() {
        report.line(
            "namespace",
            format!("{} = {}", ns.prefix.unwrap_or("(default)"), ns.uri),
        );
    }
    for required in msg.required() {
        report.line("require", required);
    }
    if let Some(id) = msg.get(IMDN_NS, "Message-ID") {
        report.line("imdn message-id", id.value);
    }
    if let Some(dn) = msg.get(IMDN_NS, "Disposition-Notification") {
        report.line("imdn requests", dn.value);
    }
    if imdn::Received::from_cpim(&msg)
        .map_err(|e| format!("IMDN headers: {e}"))?
        .is_some()
    {
        report.detail("notifications are due for this message (RFC 5438 §7)");
    }
    match msg.content_type() {
        Some(ct) => report.line("content-type", ct),
        None => report.line("content-type", "(none: text/plain assumed)"),
    }
    if msg.missing_separator() {
        report.detail(
            "note: no empty line between the CPIM headers and the MIME headers (as in RFC 5438's examples)",
        );
    }
    report.line("body", format!("{} bytes", msg.body().len()));
    Ok(())
}

fn display(addr: cpim::NameAddr<'_>) -> String {
    match addr.display_name {
        Some(name) => format!("{name} <{}>", addr.uri),
        None => format!("<{}>", addr.uri),
    }
}
