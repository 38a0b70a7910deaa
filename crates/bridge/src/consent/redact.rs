//! Redaction of call arguments before a human or a database sees them.
//!
//! Two layers: keys that name a secret (`token`, `password`, ...) hide their
//! whole value, and any string is scanned for things shaped like credentials
//! (Coder API keys `<10>-<22>`, `coder_…` secrets and codes, `Bearer …`,
//! `NAME_TOKEN=value` in a shell command). Long values are truncated so a
//! prompt or an activity row stays readable.

use serde_json::Value;

/// What replaces a hidden value.
pub const REDACTED: &str = "[redacted]";

/// Strings longer than this many characters are cut (in prompts).
pub const MAX_VALUE_CHARS: usize = 400;

/// Key fragments that mark a value as secret (matched case-insensitively).
const SECRET_KEYS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "key",
    "authorization",
    "bearer",
    "cookie",
    "credential",
    "session",
];

/// Whether a JSON key or an environment variable name names a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// Pretty-printed, redacted arguments for a consent prompt.
pub fn pretty_arguments(arguments: Option<&serde_json::Map<String, Value>>) -> String {
    let Some(arguments) = arguments else {
        return "{}".to_owned();
    };
    let value = redact_value(&Value::Object(arguments.clone()), MAX_VALUE_CHARS);
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| REDACTED.to_owned())
}

/// A one-line, redacted summary of arguments, at most `max_chars` long.
pub fn summarize_arguments(
    arguments: Option<&serde_json::Map<String, Value>>,
    max_chars: usize,
) -> Option<String> {
    let arguments = arguments?;
    let value = redact_value(&Value::Object(arguments.clone()), max_chars);
    let text = serde_json::to_string(&value).unwrap_or_else(|_| REDACTED.to_owned());
    Some(truncate(&text, max_chars))
}

/// Redacts a JSON value: secret keys lose their value, strings are scanned
/// and truncated to `max_chars`.
pub fn redact_value(value: &Value, max_chars: usize) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact_value(v, max_chars)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| redact_value(v, max_chars)).collect())
        }
        Value::String(s) => Value::String(truncate(&redact_text(s), max_chars)),
        other => other.clone(),
    }
}

/// Redacts free text that may be JSON (an argument summary) or not (an error
/// message, a shell command). JSON is redacted structurally, then as text.
pub fn redact_summary(text: &str) -> String {
    if let Ok(value @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(text) {
        let redacted = redact_value(&value, usize::MAX);
        if let Ok(text) = serde_json::to_string(&redacted) {
            return text;
        }
    }
    redact_text(text)
}

/// Cuts `text` to `max_chars` characters, saying how much was left out.
pub fn truncate(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max_chars).collect();
    format!("{kept}… ({} more characters)", count - max_chars)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Replaces credential-shaped substrings of free text.
pub fn redact_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // Only start a match at a word boundary.
        let at_boundary = i == 0 || !is_token_char(chars[i - 1]);
        if at_boundary && let Some(end) = credential_at(&chars, i) {
            out.push_str(REDACTED);
            i = end;
            continue;
        }
        if at_boundary && let Some((value_start, value_end)) = assignment_at(&chars, i) {
            out.extend(&chars[i..value_start]);
            out.push_str(REDACTED);
            i = value_end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Whether free text holds anything [`redact_text`] would hide.
pub fn contains_credential(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len()).any(|i| {
        let at_boundary = i == 0 || !is_token_char(chars[i - 1]);
        at_boundary && (credential_at(&chars, i).is_some() || assignment_at(&chars, i).is_some())
    })
}

/// A credential that starts at `i`: returns where it ends.
fn credential_at(chars: &[char], i: usize) -> Option<usize> {
    let word_end = (i..chars.len())
        .find(|&j| !is_token_char(chars[j]))
        .unwrap_or(chars.len());
    let word: String = chars[i..word_end].iter().collect();
    // `Bearer <token>` and `Basic <user:password in base64>`, in any case.
    if word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic") {
        let mut j = word_end;
        while j < chars.len() && chars[j] == ' ' {
            j += 1;
        }
        let end = (j..chars.len())
            .find(|&k| chars[k].is_whitespace() || matches!(chars[k], '"' | '\'' | ','))
            .unwrap_or(chars.len());
        return (end > j).then_some(end);
    }
    // Coder API keys: 10 alphanumerics, a dash, 22 alphanumerics.
    if let Some((id, secret)) = word.split_once('-')
        && id.len() == 10
        && secret.len() == 22
        && id
            .chars()
            .chain(secret.chars())
            .all(|c| c.is_ascii_alphanumeric())
    {
        return Some(word_end);
    }
    // Coder client secrets and authorization codes: `coder_<id>_<secret>`.
    if word.len() >= 20
        && word.to_ascii_lowercase().starts_with("coder_")
        && word.chars().any(|c| c.is_ascii_digit())
    {
        return Some(word_end);
    }
    // JSON Web Tokens: three base64url parts, the first `eyJ`.
    if word.starts_with("eyJ") && word.len() >= 20 {
        let end = (word_end..chars.len())
            .find(|&k| !(is_token_char(chars[k]) || chars[k] == '.'))
            .unwrap_or(chars.len());
        return Some(end);
    }
    None
}

/// `SOME_TOKEN=value`, `password: value`, `"api_key": "value"`: returns the
/// value's span when the name at `i` names a secret.
fn assignment_at(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let name_end = (i..chars.len())
        .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == '-'))
        .unwrap_or(chars.len());
    if name_end == i {
        return None;
    }
    let name: String = chars[i..name_end].iter().collect();
    if !is_secret_key(&name) {
        return None;
    }
    let mut j = name_end;
    let skip = |j: &mut usize, set: &[char]| {
        while *j < chars.len() && set.contains(&chars[*j]) {
            *j += 1;
        }
    };
    skip(&mut j, &['"', '\'']);
    skip(&mut j, &[' ']);
    if j >= chars.len() || !matches!(chars[j], '=' | ':') {
        return None;
    }
    j += 1;
    skip(&mut j, &[' ', '"', '\'']);
    // `Authorization: Bearer <token>`: the value is the scheme and what follows.
    if let Some(end) = credential_at(chars, j) {
        return Some((j, end));
    }
    let end = (j..chars.len())
        .find(|&k| {
            chars[k].is_whitespace() || matches!(chars[k], '"' | '\'' | '&' | ',' | ';' | '}')
        })
        .unwrap_or(chars.len());
    (end > j).then_some((j, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_credentials_in_text() {
        let key = "abcdEFGH12-abcdefghijklmnopqrstuv";
        let cases = [
            format!("curl -H 'Coder-Session-Token: {key}' x"),
            format!("export CODER_SESSION_TOKEN={key}"),
            format!("Authorization: Bearer {key}"),
            "curl -H 'Authorization: Basic dXNlcjpodW50ZXIy' x".to_owned(),
            "Authorization: Bearer opaque0token0hunter2".to_owned(),
            format!("the key {key} leaked"),
            "client coder_abcdef1234_0123456789abcdefghijABCDEFGHIJ0123456789 x".to_owned(),
            "password=hunter2&user=me".to_owned(),
        ];
        for case in cases {
            let out = redact_text(&case);
            assert!(out.contains(REDACTED), "{case} -> {out}");
            assert!(!out.contains(key), "{out}");
            assert!(!out.contains("hunter2"), "{out}");
            assert!(!out.contains("0123456789abcdefghij"), "{out}");
            assert!(!out.contains("dXNlcjpodW50ZXIy"), "{out}");
            assert!(contains_credential(&case), "{case}");
        }
        assert_eq!(redact_text("ls -la /home/coder"), "ls -la /home/coder");
        assert!(!contains_credential("ls -la /home/coder basically"));
    }

    #[test]
    fn summaries_are_redacted_whether_json_or_not() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXBhcnQ";
        let json = format!(r#"{{"items":["Bearer {jwt}",{{"Cookie":"a=b"}}],"n":1}}"#);
        let out = redact_summary(&json);
        assert!(!out.contains(jwt) && !out.contains("a=b"), "{out}");
        assert!(out.contains(r#""n":1"#), "{out}");
        // Cut mid-way by the emitter, so not JSON any more.
        let cut = r#"{"password": "hunter2", "path": "/src/main.rs", "tok"#;
        let out = redact_summary(cut);
        assert!(
            !out.contains("hunter2") && out.contains("/src/main.rs"),
            "{out}"
        );
        // Ordinary words near secret-ish names are left alone.
        assert_eq!(
            redact_text("the token was rotated"),
            "the token was rotated"
        );
    }

    #[test]
    fn hides_secret_keys_and_truncates() {
        let args = serde_json::json!({
            "workspace": "dev",
            "env": {"API_KEY": "s3cr3t", "Authorization": "Basic abc"},
            "content": "x".repeat(1000),
        });
        let pretty = pretty_arguments(args.as_object());
        assert!(
            !pretty.contains("s3cr3t") && !pretty.contains("Basic abc"),
            "{pretty}"
        );
        assert!(pretty.contains("\"workspace\": \"dev\""), "{pretty}");
        assert!(pretty.contains("(600 more characters)"), "{pretty}");
        let summary = summarize_arguments(args.as_object(), 80).expect("summary of an object");
        assert!(summary.chars().count() < 120, "{summary}");
    }
}
