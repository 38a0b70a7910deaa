//! Typed secrets: tokens, client secrets, authorization codes.
//!
//! A [`Secret`] cannot be printed (`Debug` and `Display` redact), cannot be
//! serialised (no `Serialize` impl, so it can never reach the UI or the
//! activity store by accident), compares in constant time, and is wiped
//! from memory when dropped (so a freed buffer does not keep a token for a
//! core dump or a swap file to find). The only way to the value is
//! [`Secret::expose`], which makes every use greppable.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
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

// The one field is `Zeroizing`, whose drop wipes the buffer.
impl zeroize::ZeroizeOnDrop for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
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
    fn deserialises_from_a_plain_string() {
        let s: Secret = serde_json::from_str("\"cbt_abc\"").expect("json");
        assert_eq!(s.expose(), "cbt_abc");
    }

    #[test]
    fn the_value_is_wiped_on_drop() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<Secret>();
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
    }
}
