//! Conference state documents (`application/conference-info+xml`, RFC 4575 §5) for the NOTIFYs of
//! the conference event package: what a focus tells subscribers about a conference and who is in it.
//!
//! The writer emits the subset a chat focus has to say, in the element order the RFC 4575 schema
//! requires (each of its types is an `xs:sequence`):
//!
//! ```text
//! <conference-info entity= state= version=>
//!   <conference-description> <display-text/>? <subject/>? <maximum-user-count/>? </conference-description>
//!   <conference-state> <user-count/> <active/> </conference-state>
//!   <users>
//!     <user entity= state=> <display-text/>? <endpoint entity= state=> <status/> </endpoint> </user>*
//!   </users>
//! </conference-info>
//! ```
//!
//! Full state (the first NOTIFY of a subscription, §4.1) lists every user; a partial document (later
//! NOTIFYs) lists only users that changed, a user who left with `state="deleted"` (§5.6). `version`
//! increases by one per NOTIFY so a subscriber can tell that it missed one (§4.3).

use crate::write::{BufferTooSmall, ByteWriter};

/// The namespace of conference-info documents.
pub const CONFERENCE_INFO_NS: &str = "urn:ietf:params:xml:ns:conference-info";

/// The `state` attribute of the document and of each user (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Complete information.
    Full,
    /// Only what changed.
    Partial,
    /// The element is gone (a user who left).
    Deleted,
}

impl State {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Full => "full",
            State::Partial => "partial",
            State::Deleted => "deleted",
        }
    }
}

/// An endpoint's `<status>` (§5.7.2), the values a chat focus reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status {
    /// In the conference.
    Connected,
    /// Invited, not yet answered.
    Pending,
    /// Left or was expelled.
    Disconnected,
}

impl Status {
    /// The element's content.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Connected => "connected",
            Status::Pending => "pending",
            Status::Disconnected => "disconnected",
        }
    }
}

/// One `<user>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct User<'a> {
    /// The user's URI (its AoR).
    pub entity: &'a str,
    /// A name to show, if any.
    pub display_text: Option<&'a str>,
    /// Full, partial, or deleted (left).
    pub state: State,
    /// The endpoint (the user's session with the focus) and its status; `None` writes no endpoint
    /// (as for a deleted user).
    pub endpoint: Option<(&'a str, Status)>,
}

/// The conference as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conference<'a> {
    /// The conference URI (the group's URI).
    pub entity: &'a str,
    /// Full or partial.
    pub state: State,
    /// Increases by one per document sent to a subscriber.
    pub version: u32,
    /// `<display-text>` of the description.
    pub display_text: Option<&'a str>,
    /// `<subject>` of the description.
    pub subject: Option<&'a str>,
    /// `<maximum-user-count>`, when limited.
    pub maximum_user_count: Option<u32>,
    /// `<user-count>`: participants now (written in full documents).
    pub user_count: u32,
}

fn text_element(w: &mut ByteWriter<'_>, indent: &str, name: &str, text: &str) -> Result<(), BufferTooSmall> {
    w.push_fmt(format_args!("{indent}<{name}>"))?;
    w.push_xml_escaped(text)?;
    w.push_fmt(format_args!("</{name}>\r\n"))
}

/// Writes the document into `out` and returns its length; nothing useful is left in `out` on error.
pub fn write<'u>(
    conference: &Conference<'_>,
    users: impl IntoIterator<Item = User<'u>>,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut w = ByteWriter::new(out);
    w.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n")?;
    w.push_fmt(format_args!(
        "<conference-info xmlns=\"{CONFERENCE_INFO_NS}\" entity=\""
    ))?;
    w.push_xml_escaped(conference.entity)?;
    w.push_fmt(format_args!(
        "\" state=\"{}\" version=\"{}\">\r\n",
        conference.state.as_str(),
        conference.version
    ))?;
    let full = conference.state == State::Full;
    if full {
        w.push_str("  <conference-description>\r\n")?;
        if let Some(text) = conference.display_text {
            text_element(&mut w, "    ", "display-text", text)?;
        }
        if let Some(subject) = conference.subject {
            text_element(&mut w, "    ", "subject", subject)?;
        }
        if let Some(max) = conference.maximum_user_count {
            w.push_fmt(format_args!(
                "    <maximum-user-count>{max}</maximum-user-count>\r\n"
            ))?;
        }
        w.push_str("  </conference-description>\r\n")?;
    }
    w.push_fmt(format_args!(
        "  <conference-state>\r\n    <user-count>{}</user-count>\r\n    <active>true</active>\r\n  </conference-state>\r\n",
        conference.user_count
    ))?;
    w.push_str("  <users>\r\n")?;
    for user in users {
        w.push_str("    <user entity=\"")?;
        w.push_xml_escaped(user.entity)?;
        w.push_fmt(format_args!("\" state=\"{}\">\r\n", user.state.as_str()))?;
        if let Some(text) = user.display_text {
            text_element(&mut w, "      ", "display-text", text)?;
        }
        if let Some((endpoint, status)) = user.endpoint {
            w.push_str("      <endpoint entity=\"")?;
            w.push_xml_escaped(endpoint)?;
            w.push_fmt(format_args!(
                "\" state=\"full\">\r\n        <status>{}</status>\r\n      </endpoint>\r\n",
                status.as_str()
            ))?;
        }
        w.push_str("    </user>\r\n")?;
    }
    w.push_str("  </users>\r\n</conference-info>\r\n")?;
    Ok(w.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{self, Event};

    fn conference(state: State, version: u32) -> Conference<'static> {
        Conference {
            entity: "sip:team@example.com",
            state,
            version,
            display_text: Some("Team <chat> & co"),
            subject: None,
            maximum_user_count: Some(50),
            user_count: 2,
        }
    }

    #[test]
    fn full_state_lists_every_user_and_reads_back_as_well_formed_xml() {
        let users = [
            User {
                entity: "sip:alice@example.com",
                display_text: Some("Alice"),
                state: State::Full,
                endpoint: Some(("sip:alice@192.0.2.1", Status::Connected)),
            },
            User {
                entity: "sip:bob@example.com",
                display_text: None,
                state: State::Full,
                endpoint: Some(("sip:bob@192.0.2.2", Status::Connected)),
            },
        ];
        let mut out = [0u8; 2048];
        let len = write(&conference(State::Full, 1), users, &mut out).unwrap();
        let text = core::str::from_utf8(&out[..len]).unwrap();
        assert!(text.contains("state=\"full\" version=\"1\""));
        assert!(text.contains("<display-text>Team &lt;chat&gt; &amp; co</display-text>"));
        let mut reader = xml::reader(&out[..len]);
        let mut users_seen = 0;
        while let Some(event) = reader.next_event().unwrap() {
            if let Event::Start(start) = event {
                if start.is(CONFERENCE_INFO_NS, "user") {
                    users_seen += 1;
                }
            }
        }
        assert_eq!(users_seen, 2);
    }

    #[test]
    fn partial_state_has_no_description_and_marks_a_leaver_deleted() {
        let left = User {
            entity: "sip:bob@example.com",
            display_text: None,
            state: State::Deleted,
            endpoint: None,
        };
        let mut out = [0u8; 1024];
        let len = write(&conference(State::Partial, 3), [left], &mut out).unwrap();
        let text = core::str::from_utf8(&out[..len]).unwrap();
        assert!(!text.contains("conference-description"));
        assert!(text.contains("<user entity=\"sip:bob@example.com\" state=\"deleted\">"));
        assert!(text.contains("version=\"3\""));
    }

    #[test]
    fn a_small_buffer_is_a_typed_error() {
        assert_eq!(
            write(&conference(State::Full, 1), [], &mut [0u8; 64]),
            Err(BufferTooSmall)
        );
    }
}
