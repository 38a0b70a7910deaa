//! Marks the parts of a tool call's arguments that commonly hide what a call
//! really does, so every face can draw the user's eye to them.
//!
//! Nothing here hides or shortens anything: a value is cut into segments
//! whose texts, joined, are the value byte for byte. A segment carries the
//! marks that cover it; characters that would not show on screen (controls,
//! bidirectional overrides, zero-width characters) get their own segment
//! with a visible `\u{…}` spelling beside the raw text.

mod detect;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lines longer than this many characters are flagged: the end of a long
/// line is where a payload hides when a prompt is read at a glance.
pub const LONG_LINE_CHARS: usize = 200;
/// A run of base64 characters at least this long (with upper case, lower
/// case and digits in it) is flagged as an encoded blob.
const BASE64_MIN_CHARS: usize = 40;
/// Programs that run whatever is piped into them.
const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "ash", "busybox", "python",
    "python2", "python3", "perl", "ruby", "node", "php", "lua", "eval", "source", "xargs", "exec",
];
/// The longest excerpt in a [`Highlight`]; the field itself is always whole.
const EXCERPT_CHARS: usize = 120;

/// What a mark points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// `$(…)` or `` `…` ``: a command whose output becomes part of this one.
    CommandSubstitution,
    /// `${IFS}` / `$IFS`: spaces spelled so a reader does not see them.
    IfsTrick,
    /// `| sh`, `| bash`, …: text piped into an interpreter.
    PipeToShell,
    /// A long base64-looking run: content nobody can read as it is.
    Base64Blob,
    /// A URL whose host is not the signed-in deployment's.
    OtherHost,
    /// A line longer than [`LONG_LINE_CHARS`].
    LongLine,
    /// A control, bidirectional or zero-width character.
    Invisible,
}

impl Mark {
    /// One sentence for the prompt.
    pub fn explain(self) -> &'static str {
        match self {
            Mark::CommandSubstitution => "runs another command and pastes its output here",
            Mark::IfsTrick => "spells a space so it does not look like one",
            Mark::PipeToShell => "pipes text into a program that runs it",
            Mark::Base64Blob => "encoded text that cannot be read as it is",
            Mark::OtherHost => "contacts a host other than your Coder deployment",
            Mark::LongLine => "a very long line: read it to the end",
            Mark::Invisible => "a character that does not show on screen",
        }
    }
}

/// A piece of a value; `marks` is empty for plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The raw text: the segments of a field joined are its value exactly.
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Mark>,
    /// How to show an invisible character (`\u{202E}`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown: Option<String>,
}

/// One leaf of the arguments (a string, number, boolean or null), whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgumentField {
    /// JSON Pointer to the value (`/command`, `/env/0`), invisible
    /// characters in keys spelled out.
    pub path: String,
    /// The string itself, or the JSON text of any other value.
    pub value: String,
    /// Whether `value` is a JSON string (else it is JSON text).
    pub is_string: bool,
    pub segments: Vec<Segment>,
}

/// One finding, for lists and notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highlight {
    pub kind: Mark,
    /// The field it is in.
    pub path: String,
    /// The marked text (invisible characters spelled out; long ones cut with
    /// `…`: the field holds it whole).
    pub excerpt: String,
    pub note: String,
}

/// The arguments cut into fields, and every finding in them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marked {
    pub fields: Vec<ArgumentField>,
    pub highlights: Vec<Highlight>,
}

/// Walks `arguments` into fields and marks them. `deployment_host` is the
/// signed-in deployment's host; URLs to any other host are marked (all URLs
/// when it is unknown).
pub fn mark_arguments(
    arguments: Option<&serde_json::Map<String, Value>>,
    deployment_host: Option<&str>,
) -> Marked {
    let mut out = Marked::default();
    if let Some(arguments) = arguments {
        for (key, value) in arguments {
            walk(&pointer_token(key), value, deployment_host, &mut out);
        }
    }
    out
}

fn walk(path: &str, value: &Value, host: Option<&str>, out: &mut Marked) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                walk(&format!("{path}{}", pointer_token(key)), v, host, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                walk(&format!("{path}/{i}"), v, host, out);
            }
        }
        Value::String(s) => {
            let (segments, highlights) = mark_text(s, host);
            out.highlights.extend(
                highlights
                    .into_iter()
                    .map(|(kind, excerpt, note)| Highlight {
                        kind,
                        path: path.to_owned(),
                        excerpt,
                        note,
                    }),
            );
            out.fields.push(ArgumentField {
                path: path.to_owned(),
                value: s.clone(),
                is_string: true,
                segments,
            });
        }
        other => {
            let text = other.to_string();
            out.fields.push(ArgumentField {
                path: path.to_owned(),
                segments: vec![Segment {
                    text: text.clone(),
                    marks: Vec::new(),
                    shown: None,
                }],
                value: text,
                is_string: false,
            });
        }
    }
}

/// `/key` with JSON Pointer escapes, invisible characters spelled out.
fn pointer_token(key: &str) -> String {
    let escaped = key.replace('~', "~0").replace('/', "~1");
    let mut out = String::from("/");
    for c in escaped.chars() {
        if is_invisible(c) {
            out.push_str(&spell(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// A found range: byte offsets into the text.
#[derive(Debug, Clone, Copy)]
struct Found {
    start: usize,
    end: usize,
    mark: Mark,
}

/// Cuts `text` into segments and lists its findings as (kind, excerpt, note).
pub fn mark_text(text: &str, host: Option<&str>) -> (Vec<Segment>, Vec<(Mark, String, String)>) {
    let mut found = Vec::new();
    detect::command_substitutions(text, &mut found);
    detect::ifs_tricks(text, &mut found);
    detect::pipes_to_shell(text, &mut found);
    detect::base64_blobs(text, &mut found);
    let mut notes = Vec::new();
    for url in detect::urls(text) {
        let url_host = detect::host_of(&text[url.0..url.1]);
        let other = match (host, url_host.as_deref()) {
            (Some(ours), Some(theirs)) => !theirs.eq_ignore_ascii_case(ours),
            _ => true,
        };
        if other {
            found.push(Found {
                start: url.0,
                end: url.1,
                mark: Mark::OtherHost,
            });
            notes.push(match url_host {
                Some(h) => format!("contacts {h}, not your Coder deployment"),
                None => Mark::OtherHost.explain().to_owned(),
            });
        }
    }
    let mut findings: Vec<(Mark, String, String)> = Vec::new();
    let mut url_notes = notes.into_iter();
    for f in &found {
        let note = if f.mark == Mark::OtherHost {
            url_notes.next().unwrap_or_default()
        } else {
            f.mark.explain().to_owned()
        };
        findings.push((f.mark, excerpt(&text[f.start..f.end]), note));
    }
    for line in text.split('\n') {
        let chars = line.chars().count();
        if chars > LONG_LINE_CHARS {
            findings.push((
                Mark::LongLine,
                excerpt(line),
                format!("a line of {chars} characters: read it to the end"),
            ));
        }
    }
    let invisible: Vec<char> = text.chars().filter(|c| is_invisible(*c)).collect();
    if !invisible.is_empty() {
        let mut spelled: Vec<String> = invisible.iter().map(|c| spell(*c)).collect();
        spelled.dedup();
        findings.push((
            Mark::Invisible,
            spelled.join(" "),
            format!(
                "{} character(s) that do not show on screen",
                invisible.len()
            ),
        ));
    }
    (segments(text, &found), findings)
}

/// Splits at every mark boundary and around every invisible character.
fn segments(text: &str, found: &[Found]) -> Vec<Segment> {
    let mut cuts: Vec<usize> = vec![0, text.len()];
    for f in found {
        cuts.push(f.start);
        cuts.push(f.end);
    }
    for (i, c) in text.char_indices() {
        if is_invisible(c) {
            cuts.push(i);
            cuts.push(i + c.len_utf8());
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Segment> = Vec::new();
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let piece = &text[start..end];
        let mut marks: Vec<Mark> = found
            .iter()
            .filter(|f| f.start <= start && end <= f.end)
            .map(|f| f.mark)
            .collect();
        marks.sort_unstable();
        marks.dedup();
        let invisible = piece.chars().next().filter(|c| is_invisible(*c));
        if let Some(c) = invisible {
            marks.push(Mark::Invisible);
            out.push(Segment {
                text: piece.to_owned(),
                marks,
                shown: Some(spell(c)),
            });
            continue;
        }
        // Neighbours with the same marks are one segment.
        match out.last_mut() {
            Some(last) if last.shown.is_none() && last.marks == marks => last.text.push_str(piece),
            _ => out.push(Segment {
                text: piece.to_owned(),
                marks,
                shown: None,
            }),
        }
    }
    if out.is_empty() {
        out.push(Segment {
            text: String::new(),
            marks: Vec::new(),
            shown: None,
        });
    }
    out
}

/// Controls (but newline and tab), bidirectional controls, zero-width and
/// other format characters, and Unicode tag characters.
pub fn is_invisible(c: char) -> bool {
    if c == '\n' || c == '\t' {
        return false;
    }
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}')
}

/// `\u{202E}`.
pub fn spell(c: char) -> String {
    format!("\\u{{{:04X}}}", u32::from(c))
}

fn excerpt(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if is_invisible(c) {
            out.push_str(&spell(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[path = "highlight_tests.rs"]
mod tests;
