//! The online mode: registered, printing every event, reading commands on standard input
//! (`display`, `send`, `chat`, `bye`, `quit`), accepting chats with `--accept-chats`, marking
//! messages displayed with `--auto-display`.

use super::outgoing::FIRST_OUTGOING_ID;
use super::output::Note;
use super::session::{Control, Session};
use super::{print, register, sent_note, uri_of, Options};
use std::time::{Duration, Instant};

pub(super) async fn online(options: &Options, session: &mut Session) -> Result<(), String> {
    let registered = register(options, session).await?;
    print(options, &registered);
    read_stdin(session);
    loop {
        while let Some(note) = session.notes.pop_front() {
            online_note(options, session, note);
        }
        let far = Instant::now() + Duration::from_secs(3600);
        match session.step(far).await? {
            None => {}
            Some(Control::Stop | Control::EndOfInput) => break,
            Some(Control::Line(line)) => {
                if line.trim() == "quit" {
                    break;
                }
                if let Err(reason) = online_command(options, session, line.trim()) {
                    print(options, &Note::new("error").with("reason", reason));
                }
            }
        }
    }
    session.shut_down().await;
    print(options, &Note::new("unregistered"));
    Ok(())
}

/// Feeds standard input to the session as [`Control`]s, from a blocking reader thread (standard
/// input is not pollable everywhere: files, terminals).
pub(super) fn read_stdin(session: &Session) {
    let lines = session.control_sender();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines.send(Control::Line(line)).is_err() {
                return;
            }
        }
        let _ = lines.send(Control::EndOfInput);
    });
}

fn online_note(options: &Options, session: &mut Session, note: Note) {
    let note = if note.event == "sent" {
        sent_note(session, note)
    } else {
        note
    };
    if matches!(note.event, "unregistered" | "registered") {
        // Refreshes are silent; the session's first and last lines are printed by `online`.
        return;
    }
    print(options, &note);
    let received = matches!(note.event, "message" | "chat_message");
    if received && options.auto_display && note.text("display").is_some() {
        if let Some(id) = note.text("id") {
            if let Err(reason) = session.mark_displayed(id) {
                print(options, &Note::new("error").with("reason", reason));
            }
        }
    }
    // Invitations the runtime answered itself (listening chats) have ids past the core's.
    let core_chat = note
        .number("chat")
        .is_some_and(|c| c < u64::from(FIRST_OUTGOING_ID));
    if note.event == "invitation" && options.accept_chats && core_chat {
        if let Some(chat) = note.number("chat").and_then(|c| u32::try_from(c).ok()) {
            let now = session.now();
            if let Err(e) = session
                .core()
                .accept_chat(now, simple_im_core::client::ChatId(chat))
            {
                print(
                    options,
                    &Note::new("error").with("reason", format!("accept chat {chat}: {e}")),
                );
            }
            session.drain_events(&[]);
        }
    }
}

fn online_command(options: &Options, session: &mut Session, line: &str) -> Result<(), String> {
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    match command {
        "display" => session.mark_displayed(rest.trim()),
        "send" => {
            let (to, text) = rest.trim_start().split_once(' ').ok_or("usage: send TO TEXT")?;
            if text.len() > options.pager_limit {
                return Err(format!(
                    "text over the pager limit ({} bytes)",
                    options.pager_limit
                ));
            }
            session
                .send_pager(&uri_of(to, &options.domain), text, false)
                .map(|_| ())
        }
        "chat" => {
            let (chat, text) = rest.trim_start().split_once(' ').ok_or("usage: chat CHAT TEXT")?;
            let chat: u32 = chat
                .parse()
                .map_err(|_| format!("'{chat}' is not a chat number"))?;
            if chat >= super::incoming::FIRST_INCOMING_ID {
                return session.say_incoming(chat, text);
            }
            if chat >= FIRST_OUTGOING_ID {
                return session.say(chat, text);
            }
            let sent = session.say_core_chat(chat, text);
            session.drain_events(&[]);
            sent
        }
        "bye" => {
            let chat: u32 = rest.trim().parse().map_err(|_| "usage: bye CHAT".to_owned())?;
            if chat >= super::incoming::FIRST_INCOMING_ID {
                return Err(format!(
                    "bye {chat}: ending a chat this client answered by listening is not supported yet \
                     (the peer ends it)"
                ));
            }
            if !session.outgoing_is_open(chat) && chat >= FIRST_OUTGOING_ID {
                return Err(format!("bye {chat}: no such chat"));
            }
            if chat >= FIRST_OUTGOING_ID {
                session.hang_up(chat);
                return Ok(());
            }
            let now = session.now();
            let closed = session
                .core()
                .close_chat(now, simple_im_core::client::ChatId(chat))
                .map_err(|e| format!("bye {chat}: {e}"));
            session.drain_events(&[]);
            closed
        }
        "" => Ok(()),
        other => Err(format!(
            "unknown command '{other}' (display ID, send TO TEXT, chat CHAT TEXT, bye CHAT, quit)"
        )),
    }
}
