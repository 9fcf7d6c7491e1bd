//! What `simple-im client` prints: one line per event, plain text or JSON.
//!
//! A [`Note`] is an event name and ordered fields. Plain text writes `EVENT key=value ...`: a value is
//! written bare when it is a number or a word without spaces, quotes, `=`, backslashes or control
//! characters, and otherwise quoted with the same escapes as a JSON string (`\"`, `\\`, `\n`, `\t`,
//! `\uXXXX`), so every event is exactly one line whatever the text. JSON writes one object per line:
//! `{"event":"EVENT","key":value,...}` with numbers as JSON numbers. The events and their fields are
//! listed in the client module's documentation and in `simple-im client --help`.

use std::fmt::Write as _;

/// A field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text (quoted in JSON; quoted in plain text when needed).
    Text(String),
    /// A number.
    Number(u64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<u16> for Value {
    fn from(n: u16) -> Self {
        Value::Number(u64::from(n))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Number(u64::from(n))
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(n)
    }
}

/// One event for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The event name (`message`, `delivered`, ...).
    pub event: &'static str,
    /// Its fields, in print order.
    pub fields: Vec<(&'static str, Value)>,
}

impl Note {
    /// An event without fields yet.
    pub fn new(event: &'static str) -> Self {
        Note {
            event,
            fields: Vec::new(),
        }
    }

    /// Adds a field.
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push((key, value.into()));
        self
    }

    /// The text of field `key`, if it is present and text.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.fields.iter().find_map(|(k, v)| match v {
            Value::Text(t) if *k == key => Some(t.as_str()),
            _ => None,
        })
    }

    /// The number of field `key`, if it is present and a number.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.fields.iter().find_map(|(k, v)| match v {
            Value::Number(n) if *k == key => Some(*n),
            _ => None,
        })
    }

    /// The line to print (without the line break).
    pub fn line(&self, json: bool) -> String {
        let mut out = String::new();
        if json {
            out.push_str("{\"event\":");
            quote(&mut out, self.event);
            for (key, value) in &self.fields {
                out.push(',');
                quote(&mut out, key);
                out.push(':');
                match value {
                    Value::Text(t) => quote(&mut out, t),
                    Value::Number(n) => {
                        let _ = write!(out, "{n}");
                    }
                }
            }
            out.push('}');
        } else {
            out.push_str(self.event);
            for (key, value) in &self.fields {
                let _ = write!(out, " {key}=");
                match value {
                    Value::Text(t) if is_bare(t) => out.push_str(t),
                    Value::Text(t) => quote(&mut out, t),
                    Value::Number(n) => {
                        let _ = write!(out, "{n}");
                    }
                }
            }
        }
        out
    }
}

fn is_bare(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\\' | '='))
}

/// Appends `text` as a JSON string literal.
fn quote(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_quotes_only_what_needs_it_and_stays_on_one_line() {
        let note = Note::new("message")
            .with("from", "sip:bob@localhost")
            .with("text", "hi \"there\"\nsecond line")
            .with("status", 202u16);
        assert_eq!(
            note.line(false),
            "message from=sip:bob@localhost text=\"hi \\\"there\\\"\\nsecond line\" status=202"
        );
    }

    #[test]
    fn json_lines_escape_control_characters_and_keep_numbers_numeric() {
        let note = Note::new("chat_message")
            .with("chat", 3u32)
            .with("text", "a\u{1}b\\");
        assert_eq!(
            note.line(true),
            "{\"event\":\"chat_message\",\"chat\":3,\"text\":\"a\\u0001b\\\\\"}"
        );
    }
}
