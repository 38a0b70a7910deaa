//! The detectors behind the marks: each finds one way a command or payload
//! is commonly hidden in plain text, by byte offsets into the value.

use super::{BASE64_MIN_CHARS, Found, Mark, SHELLS};

/// `$(…)` with nesting (to the end when unclosed) and `` `…` `` pairs.
pub(super) fn command_substitutions(text: &str, found: &mut Vec<Found>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'$' && bytes[i + 1] == b'(' {
            let mut depth = 0usize;
            let mut end = bytes.len();
            for (j, b) in bytes.iter().enumerate().skip(i + 1) {
                match b {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            found.push(Found {
                start: i,
                end,
                mark: Mark::CommandSubstitution,
            });
            // Nested substitutions are inside this one; the marks show it.
            i = end;
        } else {
            i += 1;
        }
    }
    let mut open: Option<usize> = None;
    for (j, b) in bytes.iter().enumerate() {
        if *b == b'`' {
            match open.take() {
                Some(start) => found.push(Found {
                    start,
                    end: j + 1,
                    mark: Mark::CommandSubstitution,
                }),
                None => open = Some(j),
            }
        }
    }
    if let Some(start) = open {
        found.push(Found {
            start,
            end: bytes.len(),
            mark: Mark::CommandSubstitution,
        });
    }
}

/// `${IFS}`, `${IFS%?}`-style and bare `$IFS`.
pub(super) fn ifs_tricks(text: &str, found: &mut Vec<Found>) {
    for (start, _) in text.match_indices("$IFS") {
        found.push(Found {
            start,
            end: start + 4,
            mark: Mark::IfsTrick,
        });
    }
    for (start, _) in text.match_indices("${IFS") {
        let end = text[start..]
            .find('}')
            .map_or(text.len(), |close| start + close + 1);
        found.push(Found {
            start,
            end,
            mark: Mark::IfsTrick,
        });
    }
}

/// `| sh`, `|bash -s`, `| sudo python3`, `| /bin/sh`: a single `|` (not
/// `||`), then an interpreter, possibly behind `sudo`/`env`.
pub(super) fn pipes_to_shell(text: &str, found: &mut Vec<Found>) {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'|' || bytes.get(i + 1) == Some(&b'|') || (i > 0 && bytes[i - 1] == b'|') {
            continue;
        }
        let mut j = i + 1;
        loop {
            while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
                j += 1;
            }
            let word_start = j;
            while j < bytes.len() && is_word_byte(bytes[j]) {
                j += 1;
            }
            let word = &text[word_start..j];
            let program = word.rsplit('/').next().unwrap_or(word);
            if matches!(program, "sudo" | "env" | "command" | "nohup") {
                continue;
            }
            if !word.is_empty() && SHELLS.contains(&program) {
                found.push(Found {
                    start: i,
                    end: j,
                    mark: Mark::PipeToShell,
                });
            }
            break;
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

/// Long runs of the base64 alphabets with mixed case and digits.
pub(super) fn base64_blobs(text: &str, found: &mut Vec<Found>) {
    let bytes = text.as_bytes();
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    let mut i = 0;
    while i < bytes.len() {
        if !is_b64(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_b64(bytes[i]) {
            i += 1;
        }
        let run = &bytes[start..i];
        let mixed = run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_lowercase)
            && run.iter().any(u8::is_ascii_digit);
        if run.len() >= BASE64_MIN_CHARS && mixed {
            found.push(Found {
                start,
                end: i,
                mark: Mark::Base64Blob,
            });
        }
    }
}

/// `scheme://…` ranges (byte offsets), ending at white space, a quote or a
/// closing bracket.
pub(super) fn urls(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (sep, _) in text.match_indices("://") {
        let mut start = sep;
        while start > 0 {
            let b = bytes[start - 1];
            if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-') {
                start -= 1;
            } else {
                break;
            }
        }
        if start == sep || !bytes[start].is_ascii_alphabetic() {
            continue;
        }
        let end = text[sep + 3..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | '<' | '`'))
            .map_or(text.len(), |n| sep + 3 + n);
        out.push((start, end));
    }
    out
}

/// The host of `scheme://[user@]host[:port]/…`, lower-cased.
pub(super) fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#', '\\']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}
