//! Edits to a JSON (JSONC) agent config on its concrete syntax tree, so comments,
//! trailing commas, key order, indentation and line endings the user wrote
//! all survive. The file is never round-tripped through serde as a whole:
//! only our entry is read as a value.

use std::path::Path;

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::Value;

use crate::clients::ClientError;
use crate::clients::entry::{Fields, TRANSPORT_KEYS};

/// What agents accept: JSON plus comments and trailing commas (VS Code and
/// Zed write both). The JSON5 extras are refused: an agent that reads strict
/// JSONC would fail on them, so "fixing" such a file would hide the problem.
pub(crate) fn options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

fn parse(path: &Path, text: &str) -> Result<CstRootNode, ClientError> {
    CstRootNode::parse(text, &options()).map_err(|err| ClientError::Parse {
        path: path.to_path_buf(),
        format: "JSON",
        line: err.line_display(),
        column: err.column_display(),
        message: err.kind().to_string(),
    })
}

fn root_object(path: &Path, root: &CstRootNode) -> Result<Option<CstObject>, ClientError> {
    match root.value() {
        None => Ok(None),
        Some(value) => value
            .as_object()
            .map(Some)
            .ok_or_else(|| ClientError::NotAnObject {
                path: path.to_path_buf(),
                key: "(top level)".to_owned(),
                expected: "a JSON object",
            }),
    }
}

fn servers_object(
    path: &Path,
    root: &CstObject,
    key: &str,
) -> Result<Option<CstObject>, ClientError> {
    match root.get(key).and_then(|prop| prop.value()) {
        None => Ok(None),
        Some(value) => value
            .as_object()
            .map(Some)
            .ok_or_else(|| ClientError::NotAnObject {
                path: path.to_path_buf(),
                key: key.to_owned(),
                expected: "a JSON object",
            }),
    }
}

/// The value of `servers_key.name`, if present.
pub(crate) fn read_entry(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
) -> Result<Option<Value>, ClientError> {
    let root = parse(path, text)?;
    let Some(obj) = root_object(path, &root)? else {
        return Ok(None);
    };
    let Some(servers) = servers_object(path, &obj, servers_key)? else {
        return Ok(None);
    };
    Ok(servers.get(name).and_then(|prop| prop.to_serde_value()))
}

/// `text` with `servers_key.name` set to `entry`.
///
/// `merge` keeps keys the user added to an existing entry of ours (say
/// `"disabled": true`) and only touches what differs, so applying twice is
/// byte-for-byte the same as applying once. Without it a foreign entry under
/// our name is replaced whole, credentials and all.
pub(crate) fn upsert(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
    entry: &Fields,
    merge: bool,
) -> Result<String, ClientError> {
    let root = parse(path, text)?;
    let obj = match root_object(path, &root)? {
        Some(obj) => obj,
        None => root.object_value_or_set(),
    };
    let Some(servers) = servers_object(path, &obj, servers_key)? else {
        let wrapped = CstInputValue::Object(vec![(name.to_owned(), fields_input(entry))]);
        obj.append(servers_key, wrapped);
        return Ok(finish(&root, text));
    };
    let existing = servers.get(name);
    let existing_obj = existing
        .as_ref()
        .and_then(|prop| prop.value())
        .and_then(|value| value.as_object());
    match (existing, existing_obj) {
        (Some(_), Some(current)) if merge => {
            let wanted: Vec<(&str, &Value)> = entry.iter().map(|(k, v)| (k.as_str(), v)).collect();
            merge_into(&current, &wanted);
            for key in TRANSPORT_KEYS {
                if !entry.iter().any(|(k, _)| k == key)
                    && let Some(prop) = current.get(key)
                {
                    prop.remove();
                }
            }
        }
        (Some(prop), _) => prop.set_value(fields_input(entry)),
        (None, _) => {
            servers.append(name, fields_input(entry));
        }
    }
    Ok(finish(&root, text))
}

/// `text` without `servers_key.name`; `None` when there was nothing to remove.
pub(crate) fn remove(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
) -> Result<Option<String>, ClientError> {
    let root = parse(path, text)?;
    let Some(obj) = root_object(path, &root)? else {
        return Ok(None);
    };
    let Some(servers) = servers_object(path, &obj, servers_key)? else {
        return Ok(None);
    };
    let Some(prop) = servers.get(name) else {
        return Ok(None);
    };
    prop.remove();
    Ok(Some(finish(&root, text)))
}

fn merge_into(target: &CstObject, desired: &[(&str, &Value)]) {
    for &(key, want) in desired {
        match target.get(key) {
            Some(prop) if prop.to_serde_value().as_ref() == Some(want) => {}
            Some(prop) => match (prop.value().and_then(|v| v.as_object()), want) {
                // Nested objects (headers) are merged too: a header the user
                // added by hand stays.
                (Some(inner), Value::Object(want_inner)) => merge_into(
                    &inner,
                    &want_inner
                        .iter()
                        .map(|(k, v)| (k.as_str(), v))
                        .collect::<Vec<_>>(),
                ),
                _ => prop.set_value(to_input(want)),
            },
            None => {
                target.append(key, to_input(want));
            }
        }
    }
}

/// The edited text, ending with a newline when the original did (or was empty).
fn finish(root: &CstRootNode, original: &str) -> String {
    let mut out = root.to_string();
    let wants_newline = original.trim().is_empty() || original.ends_with('\n');
    if wants_newline && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn fields_input(fields: &Fields) -> CstInputValue {
    CstInputValue::Object(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), to_input(v)))
            .collect(),
    )
}

fn to_input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(to_input).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), to_input(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> Fields {
        vec![
            ("type".to_owned(), json!("http")),
            ("url".to_owned(), json!("http://127.0.0.1:7331/mcp")),
            (
                "headers".to_owned(),
                json!({"Authorization": "Bearer cbt_x"}),
            ),
        ]
    }

    fn up(text: &str) -> String {
        upsert(
            Path::new("t.json"),
            text,
            "mcpServers",
            "coder",
            &entry(),
            true,
        )
        .expect("upsert")
    }

    #[test]
    fn empty_and_blank_files_get_a_fresh_object() {
        for text in ["", "  \n"] {
            let out = up(text);
            let v: Value = serde_json::from_str(&out).expect("valid json");
            assert_eq!(
                v["mcpServers"]["coder"],
                crate::clients::entry::to_value(&entry()),
                "{out}"
            );
            assert!(out.ends_with('\n'));
        }
    }

    #[test]
    fn upsert_twice_is_byte_identical() {
        let once = up(
            "{\n  // mine\n  \"mcpServers\": {\n    \"other\": {\"command\": \"x\"},\n  },\n}\n",
        );
        assert_eq!(up(&once), once);
        assert!(once.contains("// mine"));
        assert!(once.contains("\"other\""));
    }

    #[test]
    fn merge_keeps_user_keys_and_drops_other_transports() {
        let text = r#"{"mcpServers": {"coder": {"command": "old", "args": [], "disabled": false, "headers": {"X-Extra": "1"}}}}"#;
        let out = up(text);
        let v: Value = jsonc_parser::parse_to_serde_value(&out, &options()).expect("parse");
        let coder = &v["mcpServers"]["coder"];
        assert_eq!(coder["disabled"], json!(false));
        assert_eq!(coder["headers"]["X-Extra"], json!("1"));
        assert_eq!(coder["headers"]["Authorization"], json!("Bearer cbt_x"));
        assert!(
            coder.get("command").is_none() && coder.get("args").is_none(),
            "{out}"
        );
    }

    #[test]
    fn replace_without_merge_drops_foreign_credentials() {
        let text = r#"{"mcpServers": {"coder": {"url": "https://x", "headers": {"Coder-Session-Token": "s"}}}}"#;
        let out = upsert(
            Path::new("t.json"),
            text,
            "mcpServers",
            "coder",
            &entry(),
            false,
        )
        .expect("upsert");
        assert!(!out.contains("Coder-Session-Token"), "{out}");
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let err = up_err("{\n  \"a\": 1,\n  oops\n}");
        match err {
            ClientError::Parse { line, column, .. } => assert_eq!((line, column), (3, 3)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn wrong_types_are_refused() {
        assert!(matches!(up_err("[]"), ClientError::NotAnObject { .. }));
        assert!(matches!(
            up_err(r#"{"mcpServers": []}"#),
            ClientError::NotAnObject { .. }
        ));
    }

    fn up_err(text: &str) -> ClientError {
        upsert(
            Path::new("t.json"),
            text,
            "mcpServers",
            "coder",
            &entry(),
            true,
        )
        .expect_err("should fail")
    }

    #[test]
    fn remove_only_our_entry() {
        let text = "{\n  \"mcpServers\": {\n    \"a\": {},\n    \"coder\": {\"url\": \"u\"},\n    \"b\": {}\n  }\n}\n";
        let out = remove(Path::new("t.json"), text, "mcpServers", "coder")
            .expect("remove")
            .expect("changed");
        assert_eq!(
            out,
            "{\n  \"mcpServers\": {\n    \"a\": {},\n    \"b\": {}\n  }\n}\n"
        );
        assert_eq!(
            remove(Path::new("t.json"), &out, "mcpServers", "coder").expect("again"),
            None
        );
    }

    #[test]
    fn indentation_style_is_followed() {
        let tabs = up("{\n\t\"mcpServers\": {\n\t\t\"a\": {}\n\t}\n}\n");
        assert!(
            tabs.contains("\n\t\t\"coder\": {\n\t\t\t\"type\""),
            "{tabs}"
        );
        let four = up("{\n    \"x\": 1\n}\n");
        assert!(
            four.contains("\n    \"mcpServers\": {\n        \"coder\""),
            "{four}"
        );
    }

    #[test]
    fn a_file_of_only_comments_keeps_them() {
        let out = up("// written by hand\n");
        assert!(out.starts_with("// written by hand\n"), "{out}");
        assert!(out.contains("\"coder\""), "{out}");
    }
}
