//! What an approval is bound to: SHA-256 over the exact bytes of a call's
//! arguments as they go upstream.
//!
//! The relay hands rmcp the same `JsonObject` and rmcp writes it with
//! `serde_json`'s compact writer, inside the request, exactly as
//! [`serde_json::to_vec`] writes it alone. So the bytes digested here are the
//! bytes Coder receives; a call without arguments sends none (the empty
//! string is digested).

use std::fmt;

use rmcp::model::JsonObject;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hex characters shown where a short form will do (the activity list).
pub const SHORT_CHARS: usize = 12;

/// A SHA-256 digest of a call's arguments, as 64 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArgumentsDigest(String);

impl ArgumentsDigest {
    /// The digest of the bytes `arguments` are sent upstream as.
    pub fn of(arguments: Option<&JsonObject>) -> Self {
        Self::of_bytes(&canonical_bytes(arguments))
    }

    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(hex(&Sha256::digest(bytes)))
    }

    /// Accepts a digest a face sends back (any case, surrounding space);
    /// `None` unless it is 64 hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first [`SHORT_CHARS`] hex characters, for matching by eye.
    pub fn short(&self) -> &str {
        &self.0[..SHORT_CHARS.min(self.0.len())]
    }
}

impl fmt::Display for ArgumentsDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The compact JSON of `arguments` (nothing for none): what goes on the wire.
pub fn canonical_bytes(arguments: Option<&JsonObject>) -> Vec<u8> {
    arguments.map_or_else(Vec::new, |a| {
        // Serialising a map of JSON values cannot fail.
        serde_json::to_vec(a).unwrap_or_default()
    })
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use rmcp::model::{
        CallToolRequest, CallToolRequestParams, ClientJsonRpcMessage, ClientRequest,
    };
    use serde_json::json;

    use super::*;

    fn obj(v: serde_json::Value) -> JsonObject {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn the_digested_bytes_are_inside_the_message_rmcp_sends() {
        let args = obj(json!({"command": "echo \"hi\" | sh", "n": 1.5, "é": ["\u{202E}"]}));
        let mut params = CallToolRequestParams::new("coder_workspace_bash");
        params.arguments = Some(args.clone());
        let message = ClientJsonRpcMessage::request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            rmcp::model::NumberOrString::Number(7),
        );
        let wire = serde_json::to_vec(&message).unwrap();
        let bytes = canonical_bytes(Some(&args));
        assert!(
            wire.windows(bytes.len()).any(|w| w == bytes),
            "the approved bytes must appear verbatim in the request body"
        );
    }

    #[test]
    fn any_change_changes_the_digest() {
        let a = obj(json!({"command": "ls"}));
        let b = obj(json!({"command": "ls "}));
        assert_ne!(ArgumentsDigest::of(Some(&a)), ArgumentsDigest::of(Some(&b)));
        assert_ne!(
            ArgumentsDigest::of(Some(&JsonObject::new())),
            ArgumentsDigest::of(None)
        );
        assert_eq!(
            ArgumentsDigest::of(Some(&a)),
            ArgumentsDigest::of(Some(&a.clone()))
        );
        // SHA-256 of "" is well known.
        assert_eq!(
            ArgumentsDigest::of(None).as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_accepts_only_full_hex() {
        let d = ArgumentsDigest::of(None);
        assert_eq!(
            ArgumentsDigest::parse(&d.as_str().to_uppercase()),
            Some(d.clone())
        );
        assert_eq!(ArgumentsDigest::parse(d.short()), None);
        assert_eq!(ArgumentsDigest::parse(&"g".repeat(64)), None);
        assert_eq!(d.short().len(), SHORT_CHARS);
    }
}
