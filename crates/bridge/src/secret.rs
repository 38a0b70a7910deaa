//! Typed secrets: tokens, client secrets, authorization codes.
//!
//! A [`Secret`] cannot be printed (`Debug` and `Display` redact), cannot be
//! serialised (no `Serialize` impl, so it can never reach the UI or the
//! activity store by accident) and compares in constant time. The only way
//! to the value is [`Secret::expose`], which makes every use greppable.

use std::fmt;

use subtle::ConstantTimeEq;

#[derive(Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call sites are the audit list: keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("coder_abc_0123456789");
        assert!(!format!("{s:?}").contains("coder_abc"));
        assert!(!format!("{s}").contains("coder_abc"));
        assert_eq!(s.expose(), "coder_abc_0123456789");
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
    }
}
