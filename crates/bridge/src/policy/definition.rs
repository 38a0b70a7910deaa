//! What a tool says it does, as a digest: an "always allow" is given to one
//! definition of a tool, and a deployment that changes the tool's
//! description or input schema (a new release, or a server that swaps what a
//! tool does under the same name) has to be approved again.

use std::fmt;

use rmcp::model::Tool;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// SHA-256 over a tool's description and input schema, as 64 hex characters.
///
/// The title, icons and annotations are left out: they change how a tool is
/// shown or defaulted, not what a call does, and annotations already feed
/// the default decision directly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DefinitionDigest(String);

impl DefinitionDigest {
    pub fn of(tool: &Tool) -> Self {
        let mut text = String::new();
        write_canonical(
            &serde_json::json!({
                "description": tool.description.as_deref(),
                "inputSchema": Value::Object(tool.input_schema.as_ref().clone()),
            }),
            &mut text,
        );
        let digest = Sha256::digest(text.as_bytes());
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DefinitionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// JSON with every object's keys sorted: a server that merely reorders the
/// keys of a schema has not changed the tool.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn tool(description: &str, schema: Value) -> Tool {
        let Value::Object(schema) = schema else {
            panic!("an object schema");
        };
        Tool::new(
            "coder_workspace_bash",
            description.to_owned(),
            Arc::new(schema),
        )
    }

    #[test]
    fn a_changed_description_or_schema_changes_the_digest() {
        let schema = json!({"type": "object", "properties": {"command": {"type": "string"}}});
        let base = DefinitionDigest::of(&tool("Run a command.", schema.clone()));
        assert_eq!(base.as_str().len(), 64);
        assert_ne!(
            base,
            DefinitionDigest::of(&tool("Run a command as root.", schema))
        );
        let wider = json!({"type": "object", "properties": {
            "command": {"type": "string"}, "user": {"type": "string"}}});
        assert_ne!(base, DefinitionDigest::of(&tool("Run a command.", wider)));
    }

    #[test]
    fn key_order_titles_and_annotations_do_not() {
        let a = tool(
            "Run a command.",
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}),
        );
        let mut b = tool(
            "Run a command.",
            json!({"properties": {"b": {"type": "integer"}, "a": {"type": "string"}}, "type": "object"}),
        );
        b.title = Some("Bash".into());
        b.annotations = Some(rmcp::model::ToolAnnotations::new().read_only(false));
        assert_eq!(DefinitionDigest::of(&a), DefinitionDigest::of(&b));
    }
}
