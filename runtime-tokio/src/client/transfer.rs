//! Commands that run an MSRP session of their own: Large Message mode (`send` over the pager
//! limit), `chat TO`, and `send-file TO PATH`.

use super::output::Note;
use super::session::{Control, Session};
use super::{outgoing_msrp, print, register, Options};
use std::time::{Duration, Instant};

/// Large Message mode (OMA IM): the text goes in its own MSRP session: INVITE, one SEND, BYE once
/// the receiver's success REPORT covers every byte.
pub(super) async fn large_message(
    options: &Options,
    session: &mut Session,
    to: &str,
    text: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + options.timeout;
    let id = session.invite(to).await?;
    session.say(id, text)?;
    let mine = |n: &Note| n.number("chat") == Some(u64::from(id));
    let mut result = Err("timed out waiting for the Large Message session".to_owned());
    loop {
        let note = match session.wait_for(deadline, |_| true, |_, _| {}).await {
            Ok(note) => note,
            Err(e) => {
                result = Err(format!("{to}: {e} (Large Message)"));
                break;
            }
        };
        match note.event {
            "chat_delivered" if mine(&note) && session.all_confirmed(id) => {
                print(
                    options,
                    &Note::new("sent")
                        .with("mode", "large")
                        .with("bytes", text.len() as u64)
                        .with("status", 200u16)
                        .with("reason", "OK"),
                );
                result = Ok(());
                session.hang_up(id);
            }
            "chat_closed" if mine(&note) => {
                if result.is_err() {
                    result = Err(format!(
                        "{to}: {} {} (Large Message)",
                        note.number("status").unwrap_or(0),
                        note.text("reason").unwrap_or("")
                    ));
                }
                break;
            }
            "chat_send_failed" | "chat_failed" if mine(&note) => {
                result = Err(format!(
                    "{to}: {} (Large Message)",
                    note.text("reason").unwrap_or("failed")
                ));
                session.hang_up(id);
            }
            _ => {}
        }
    }
    result
}

/// `chat TO`: registers, invites, sends each stdin line, prints the peer's lines; ends with BYE at
/// the end of input (or when the peer hangs up).
pub(super) async fn chat(options: &Options, session: &mut Session, to: &str) -> Result<(), String> {
    let registered = register(options, session).await?;
    print(options, &registered);
    let id = session.invite(to).await?;
    super::online::read_stdin(session);
    let mine = |n: &Note| n.number("chat") == Some(u64::from(id));
    let mut established = false;
    let mut result = Ok(());
    let mut ending_since: Option<Instant> = None;
    loop {
        let mut closed = false;
        while let Some(note) = session.notes.pop_front() {
            if matches!(note.event, "registered" | "unregistered") {
                continue;
            }
            print(options, &note);
            if mine(&note) && note.event == "chat_established" {
                established = true;
            }
            if mine(&note) && note.event == "chat_closed" {
                closed = true;
                if !established {
                    result = Err(format!(
                        "{to}: {} {}",
                        note.number("status").unwrap_or(0),
                        note.text("reason").unwrap_or("")
                    ));
                }
            }
        }
        if closed || ending_since.is_some_and(|t| t.elapsed() > Duration::from_secs(5)) {
            break;
        }
        let far = Instant::now() + Duration::from_secs(3600);
        match session.step(far).await? {
            None => {}
            Some(Control::Line(line)) => {
                if let Err(reason) = session.say(id, &line) {
                    print(options, &Note::new("error").with("reason", reason));
                }
            }
            Some(Control::EndOfInput | Control::Stop) => {
                ending_since.get_or_insert_with(Instant::now);
                // Let queued lines reach the peer before the BYE.
                let drained = Instant::now() + Duration::from_secs(3);
                while !session.all_confirmed(id) && Instant::now() < drained && session.outgoing_is_open(id) {
                    if session.step(drained).await? == Some(Control::Stop) {
                        break;
                    }
                }
                session.hang_up(id);
            }
        }
    }
    session.shut_down().await;
    result
}

/// `send-file TO PATH`: offers the file, streams it once accepted, draws progress on stderr (bytes
/// handed to the connection; 100% when the receiver's success REPORT covers the whole file), then BYE.
pub(super) async fn send_file(
    options: &Options,
    session: &mut Session,
    to: &str,
    path: &std::path::Path,
) -> Result<(), String> {
    let offer = outgoing_msrp::FileOffer::open(path)?;
    let size = offer.size;
    let id = session.invite_file(to, offer).await?;
    let mine = |n: &Note| n.number("chat") == Some(u64::from(id));
    // The first failure seen is the one reported (a BYE or timeout that follows it says less).
    let mut failure: Option<String> = None;
    let mut shown = u64::MAX;
    let mut last_draw = Instant::now();
    let mut confirmed = false;
    loop {
        let far = Instant::now() + options.timeout;
        let before = Instant::now();
        if session.step(far).await? == Some(Control::Stop) {
            failure.get_or_insert_with(|| "interrupted".into());
            session.hang_up(id);
        }
        if before.elapsed() >= options.timeout && !confirmed {
            failure
                .get_or_insert_with(|| format!("{to}: no progress within {} s", options.timeout.as_secs()));
            session.hang_up(id);
        }
        let sent = if confirmed {
            size
        } else {
            session.file_progress(id).unwrap_or(0).min(size)
        };
        if sent != shown && (last_draw.elapsed() > Duration::from_millis(100) || sent == size) {
            progress(sent, size, confirmed);
            shown = sent;
            last_draw = Instant::now();
        }
        let mut closed = false;
        while let Some(note) = session.notes.pop_front() {
            if !mine(&note) {
                continue;
            }
            match note.event {
                "chat_delivered" if session.all_confirmed(id) => {
                    confirmed = true;
                    progress(size, size, true);
                    eprintln!();
                    print(
                        options,
                        &Note::new("file_sent")
                            .with("chat", id)
                            .with("path", path.display().to_string())
                            .with("bytes", size),
                    );
                    session.hang_up(id);
                }
                "chat_closed" => {
                    closed = true;
                    if !confirmed {
                        failure.get_or_insert(match note.number("status") {
                            Some(603) => format!(
                                "{to} declined the file: 603 {}",
                                note.text("reason").unwrap_or("Decline")
                            ),
                            status => format!(
                                "{to}: {} {}",
                                status.unwrap_or(0),
                                note.text("reason").unwrap_or("")
                            ),
                        });
                    }
                }
                "chat_failed" | "chat_send_failed" if !confirmed => {
                    failure.get_or_insert(format!(
                        "the transfer broke after {} of {size} bytes: {}",
                        session.file_progress(id).unwrap_or(0),
                        note.text("reason").unwrap_or("")
                    ));
                    session.hang_up(id);
                }
                _ => {}
            }
        }
        if closed || !session.outgoing_is_open(id) {
            break;
        }
    }
    if confirmed {
        return Ok(());
    }
    if shown != u64::MAX {
        eprintln!();
    }
    Err(failure.unwrap_or_else(|| "the transfer did not complete".into()))
}

/// Draws the progress bar on stderr (one line, redrawn in place).
fn progress(sent: u64, size: u64, confirmed: bool) {
    const WIDTH: u64 = 30;
    let filled = sent.saturating_mul(WIDTH).checked_div(size).unwrap_or(WIDTH);
    let percent = sent.saturating_mul(100).checked_div(size).unwrap_or(100);
    let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '-' }).collect();
    let state = if confirmed { "delivered" } else { "sent" };
    eprint!("\r[{bar}] {percent:3}% {sent}/{size} bytes {state}");
}
