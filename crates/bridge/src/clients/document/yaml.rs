//! Edits to a YAML agent config (Goose, Continue) with `yaml-edit`, a
//! lossless syntax tree: comments, blank lines, key order, quoting and
//! indentation of everything we do not touch survive byte for byte. Our entry
//! is `<servers_key>.<name>` in a mapping (Goose's extensions) or the item
//! whose `name` is ours in a list (Continue's `mcpServers`).

use std::path::Path;
use std::str::FromStr;

use serde_json::Value;
use yaml_edit::{
    Document, Mapping, MappingBuilder, Sequence, SequenceBuilder, YamlError, YamlFile, YamlNode,
};

use crate::clients::ClientError;
use crate::clients::entry::{Fields, TRANSPORT_KEYS};

/// How the servers are kept under `servers_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// A mapping from server name to entry.
    Map,
    /// A list of entries, each naming itself with a `name` key.
    NamedList,
}

impl Layout {
    fn expected(self) -> &'static str {
        match self {
            Self::Map => "a YAML mapping",
            Self::NamedList => "a YAML list",
        }
    }
}

/// A parsed config: the whole file (comments before a `---` and all) and
/// its one document, `None` when it has no content. Edits to the document
/// show in the file's text.
struct Parsed {
    file: YamlFile,
    doc: Option<Document>,
}

fn parse(path: &Path, text: &str) -> Result<Parsed, ClientError> {
    let file = YamlFile::from_str(text).map_err(|err| parse_error(path, err))?;
    let mut docs = file.documents();
    let doc = docs.next();
    if docs.next().is_some() {
        return Err(ClientError::Parse {
            path: path.to_path_buf(),
            format: "YAML",
            line: 1,
            column: 1,
            message: "several YAML documents in one file; the agent reads only one".to_owned(),
        });
    }
    drop(docs);
    Ok(Parsed { file, doc })
}

fn parse_error(path: &Path, err: YamlError) -> ClientError {
    {
        let (line, column, message) = match err {
            YamlError::Parse {
                message,
                line,
                column,
            } => (line.unwrap_or(1), column.unwrap_or(1), message),
            other => (1, 1, other.to_string()),
        };
        ClientError::Parse {
            path: path.to_path_buf(),
            format: "YAML",
            line,
            column,
            message,
        }
    }
}

fn wrong_type(path: &Path, key: &str, expected: &'static str) -> ClientError {
    ClientError::NotAnObject {
        path: path.to_path_buf(),
        key: key.to_owned(),
        expected,
    }
}

/// The top-level mapping; `None` for a file without content (empty, or
/// only comments).
fn root(path: &Path, doc: Option<&Document>, text: &str) -> Result<Option<Mapping>, ClientError> {
    if let Some(mapping) = doc.and_then(Document::as_mapping) {
        return Ok(Some(mapping));
    }
    if has_content(text) {
        return Err(wrong_type(path, "(top level)", "a YAML mapping"));
    }
    Ok(None)
}

fn has_content(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#') && line != "---"
    })
}

/// What `servers_key` holds.
enum Servers {
    /// Absent, or present with no value (`extensions:` alone).
    Missing,
    Map(Mapping),
    List(Sequence),
}

fn servers(path: &Path, root: &Mapping, key: &str, layout: Layout) -> Result<Servers, ClientError> {
    let Some(node) = root.get(key) else {
        return Ok(Servers::Missing);
    };
    match (node, layout) {
        (YamlNode::Mapping(m), Layout::Map) => Ok(Servers::Map(m)),
        (YamlNode::Sequence(s), Layout::NamedList) => Ok(Servers::List(s)),
        (YamlNode::Scalar(s), _) if s.is_null() => Ok(Servers::Missing),
        _ => Err(wrong_type(path, key, layout.expected())),
    }
}

/// The index of the list item whose `name` is `name`.
fn position(list: &Sequence, name: &str) -> Option<usize> {
    (0..list.len()).find(|&i| {
        list.get(i)
            .and_then(|item| item.get("name"))
            .and_then(|n| n.as_scalar().map(|s| s.as_string()))
            .is_some_and(|n| n == name)
    })
}

pub(super) fn read_entry(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
    layout: Layout,
) -> Result<Option<Value>, ClientError> {
    let parsed = parse(path, text)?;
    let Some(root) = root(path, parsed.doc.as_ref(), text)? else {
        return Ok(None);
    };
    Ok(match servers(path, &root, servers_key, layout)? {
        Servers::Missing => None,
        Servers::Map(map) => map.get(name).map(|n| node_to_json(&n)),
        Servers::List(list) => position(&list, name)
            .and_then(|i| list.get(i))
            .map(|n| node_to_json(&n)),
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn upsert(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
    entry: &Fields,
    merge: bool,
    layout: Layout,
    new_file: &str,
) -> Result<String, ClientError> {
    let parsed = parse(path, text)?;
    let Some(root) = root(path, parsed.doc.as_ref(), text)? else {
        // Nothing but comments (or nothing at all): keep them, then start
        // the document with what the agent requires and our servers key.
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(new_file);
        out.push_str(&servers_document(servers_key, name, entry, layout).to_string());
        return Ok(out);
    };
    match servers(path, &root, servers_key, layout)? {
        Servers::Missing => {
            let fresh = servers_document(servers_key, name, entry, layout);
            let value = fresh
                .as_mapping()
                .and_then(|m| m.get(servers_key))
                .ok_or_else(|| wrong_type(path, servers_key, layout.expected()))?;
            root.set(servers_key, value);
        }
        Servers::Map(map) => match map.get(name) {
            Some(YamlNode::Mapping(current)) if merge => merge_into(&current, entry),
            _ => map.set(name, entry_mapping(entry)),
        },
        Servers::List(list) => match position(&list, name) {
            Some(i) => match list.get(i) {
                Some(YamlNode::Mapping(current)) if merge => merge_into(&current, entry),
                _ => {
                    list.set(i, entry_mapping(entry));
                }
            },
            None => list.push(entry_mapping(entry)),
        },
    }
    Ok(finish(parsed.file.to_string(), text))
}

pub(super) fn remove(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
    layout: Layout,
) -> Result<Option<String>, ClientError> {
    let parsed = parse(path, text)?;
    let Some(root) = root(path, parsed.doc.as_ref(), text)? else {
        return Ok(None);
    };
    let removed = match servers(path, &root, servers_key, layout)? {
        Servers::Missing => false,
        Servers::Map(map) => map.remove(name).is_some(),
        Servers::List(list) => position(&list, name).and_then(|i| list.remove(i)).is_some(),
    };
    Ok(removed.then(|| finish(parsed.file.to_string(), text)))
}

/// Sets each wanted key that differs, in place (equal ones keep their
/// formatting), merges nested mappings so keys the user added stay, and
/// drops transport keys our shape does not use.
fn merge_into(target: &Mapping, want: &Fields) {
    for (key, value) in want {
        let current = target.get(key.as_str());
        if current.as_ref().map(node_to_json).as_ref() == Some(value) {
            continue;
        }
        match (current, value) {
            (Some(YamlNode::Mapping(inner)), Value::Object(wanted)) => {
                let fields: Fields = wanted.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                merge_into(&inner, &fields);
            }
            _ => set_value(target, key, value),
        }
    }
    for key in TRANSPORT_KEYS {
        if !want.iter().any(|(k, _)| k == key) {
            target.remove(*key);
        }
    }
}

fn set_value(target: &Mapping, key: &str, value: &Value) {
    match value {
        Value::Object(map) => target.set(key, object_mapping(map.iter())),
        Value::Array(items) => {
            let list = items
                .iter()
                .fold(SequenceBuilder::new(), add_item)
                .build_document();
            if let Some(seq) = list.as_sequence() {
                target.set(key, seq);
            }
        }
        Value::String(s) => target.set(key, s.as_str()),
        Value::Bool(b) => target.set(key, *b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => target.set(key, i),
            None => target.set(key, n.as_f64().unwrap_or_default()),
        },
        Value::Null => target.set(key, Option::<&str>::None),
    }
}

/// A document holding just `servers_key` with our entry, in block style.
fn servers_document(servers_key: &str, name: &str, entry: &Fields, layout: Layout) -> Document {
    let fields = entry.iter().map(|(k, v)| (k, v));
    match layout {
        Layout::Map => MappingBuilder::new()
            .mapping(servers_key, |m| m.mapping(name, |e| add_pairs(e, fields)))
            .build_document(),
        // `item` with a built mapping starts it on the dash line (`- name: …`);
        // the builder's own nested mapping would put a lone `-` above it.
        Layout::NamedList => MappingBuilder::new()
            .sequence(servers_key, |s| s.item(object_mapping(fields)))
            .build_document(),
    }
}

fn entry_mapping(entry: &Fields) -> Mapping {
    object_mapping(entry.iter().map(|(k, v)| (k, v)))
}

fn object_mapping<'a>(fields: impl Iterator<Item = (&'a String, &'a Value)>) -> Mapping {
    add_pairs(MappingBuilder::new(), fields)
        .build_document()
        .as_mapping()
        .unwrap_or_default()
}

fn add_pairs<'a>(
    builder: MappingBuilder,
    fields: impl Iterator<Item = (&'a String, &'a Value)>,
) -> MappingBuilder {
    fields.fold(builder, |b, (key, value)| match value {
        Value::Object(map) => b.mapping(key.as_str(), |m| add_pairs(m, map.iter())),
        Value::Array(items) => b.sequence(key.as_str(), |s| items.iter().fold(s, add_item)),
        Value::String(s) => b.pair(key.as_str(), s.as_str()),
        Value::Bool(x) => b.pair(key.as_str(), *x),
        Value::Number(n) => match n.as_i64() {
            Some(i) => b.pair(key.as_str(), i),
            None => b.pair(key.as_str(), n.as_f64().unwrap_or_default()),
        },
        Value::Null => b.pair(key.as_str(), Option::<&str>::None),
    })
}

fn add_item(builder: SequenceBuilder, value: &Value) -> SequenceBuilder {
    match value {
        Value::Object(map) => builder.mapping(|m| add_pairs(m, map.iter())),
        Value::Array(items) => builder.sequence(|s| items.iter().fold(s, add_item)),
        Value::String(s) => builder.item(s.as_str()),
        Value::Bool(x) => builder.item(*x),
        Value::Number(n) => match n.as_i64() {
            Some(i) => builder.item(i),
            None => builder.item(n.as_f64().unwrap_or_default()),
        },
        Value::Null => builder.item(Option::<&str>::None),
    }
}

/// A node as JSON: plain scalars typed the YAML 1.2 core way (bools,
/// integers, floats, null), quoted ones always strings.
fn node_to_json(node: &YamlNode) -> Value {
    match node {
        YamlNode::Scalar(s) if s.is_quoted() => Value::String(s.as_string()),
        YamlNode::Scalar(s) if s.is_null() => Value::Null,
        YamlNode::Scalar(s) => {
            if let Some(b) = s.as_bool() {
                Value::Bool(b)
            } else if let Some(i) = s.as_i64() {
                Value::from(i)
            } else if let Some(f) = s.as_f64().and_then(serde_json::Number::from_f64) {
                Value::Number(f)
            } else {
                Value::String(s.as_string())
            }
        }
        YamlNode::Mapping(m) => Value::Object(
            m.iter()
                .filter_map(|(k, v)| {
                    let key = k.as_scalar().map(|s| s.as_string())?;
                    Some((key, node_to_json(&v)))
                })
                .collect(),
        ),
        YamlNode::Sequence(s) => Value::Array(
            (0..s.len())
                .filter_map(|i| s.get(i))
                .map(|n| node_to_json(&n))
                .collect(),
        ),
        // Aliases and tags are never part of an entry we write; shown as
        // their text so a comparison sees them as different.
        other => Value::String(other.to_string()),
    }
}

/// The edited text, ending with a newline when the original did (or was empty).
fn finish(mut out: String, original: &str) -> String {
    let wants_newline = original.trim().is_empty() || original.ends_with('\n');
    if wants_newline && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn goose_entry(token: &str) -> Fields {
        vec![
            ("enabled".to_owned(), json!(true)),
            ("type".to_owned(), json!("streamable_http")),
            ("name".to_owned(), json!("coder")),
            ("uri".to_owned(), json!("http://127.0.0.1:7331/mcp")),
            (
                "headers".to_owned(),
                json!({ "Authorization": format!("Bearer {token}") }),
            ),
            ("timeout".to_owned(), json!(300)),
        ]
    }

    fn up(text: &str, layout: Layout, token: &str) -> String {
        upsert(
            Path::new("c.yaml"),
            text,
            if layout == Layout::Map {
                "extensions"
            } else {
                "mcpServers"
            },
            "coder",
            &goose_entry(token),
            true,
            layout,
            "",
        )
        .expect("upsert")
    }

    const GOOSE: &str = "# my goose config\nGOOSE_PROVIDER: openai # provider\nextensions:\n  # the developer one\n  developer:\n    enabled: true\n    type: builtin\n    name: developer\n\n# trailing comment\nGOOSE_MODEL: 'gpt-4o'\n";

    #[test]
    fn map_round_trip_keeps_comments_and_order() {
        let out = up(GOOSE, Layout::Map, "cbt_x");
        assert!(out.contains("# the developer one\n  developer:"), "{out}");
        assert!(out.contains("GOOSE_MODEL: 'gpt-4o'"), "{out}");
        assert!(
            out.contains("    name: developer\n  coder:\n    enabled: true\n"),
            "{out}"
        );
        let read = read_entry(
            Path::new("c.yaml"),
            &out,
            "extensions",
            "coder",
            Layout::Map,
        )
        .expect("read")
        .expect("entry");
        assert_eq!(read["timeout"], json!(300));
        assert_eq!(read["headers"]["Authorization"], json!("Bearer cbt_x"));
        assert_eq!(up(&out, Layout::Map, "cbt_x"), out, "idempotent");
        let removed = remove(
            Path::new("c.yaml"),
            &out,
            "extensions",
            "coder",
            Layout::Map,
        )
        .expect("remove")
        .expect("changed");
        assert_eq!(removed, GOOSE);
    }

    #[test]
    fn merge_changes_only_what_differs() {
        let once = up(GOOSE, Layout::Map, "cbt_old");
        let with_user_key = once.replace(
            "    timeout: 300\n",
            "    timeout: 300\n    bundled: false # mine\n",
        );
        let out = up(&with_user_key, Layout::Map, "cbt_new");
        assert!(out.contains("bundled: false # mine"), "{out}");
        assert!(
            out.contains("Bearer cbt_new") && !out.contains("cbt_old"),
            "{out}"
        );
    }

    #[test]
    fn list_layout_appends_and_removes_one_item() {
        let text = "name: Local\nversion: 1.0.0\nschema: v1\nmcpServers:\n  - name: other # theirs\n    command: npx\nmodels: []\n";
        let out = up(text, Layout::NamedList, "cbt_x");
        assert!(
            out.contains("  - name: other # theirs\n    command: npx\n  - enabled: true\n    type: streamable_http\n    name: coder\n"),
            "{out}"
        );
        assert!(out.ends_with("models: []\n"), "{out}");
        assert_eq!(up(&out, Layout::NamedList, "cbt_x"), out);
        let removed = remove(
            Path::new("c.yaml"),
            &out,
            "mcpServers",
            "coder",
            Layout::NamedList,
        )
        .expect("remove")
        .expect("changed");
        assert_eq!(removed, text);
    }

    #[test]
    fn empty_and_comment_only_files_get_block_style() {
        let out = up("# hello\n", Layout::Map, "cbt_x");
        assert!(
            out.starts_with("# hello\nextensions:\n  coder:\n    enabled: true\n"),
            "{out}"
        );
        let out = up("", Layout::NamedList, "cbt_x");
        assert!(out.starts_with("mcpServers:\n  - enabled: true\n"), "{out}");
        let out = up("a: 1\n", Layout::Map, "cbt_x");
        assert!(out.starts_with("a: 1\nextensions:\n  coder:\n"), "{out}");
    }

    #[test]
    fn invalid_and_wrong_types_are_refused() {
        let path = Path::new("c.yaml");
        let bad = upsert(
            path,
            "a: [1, 2\nb: {",
            "extensions",
            "coder",
            &goose_entry("t"),
            true,
            Layout::Map,
            "",
        );
        assert!(matches!(bad, Err(ClientError::Parse { .. })), "{bad:?}");
        let list = upsert(
            path,
            "extensions:\n  - a\n",
            "extensions",
            "coder",
            &goose_entry("t"),
            true,
            Layout::Map,
            "",
        );
        assert!(
            matches!(list, Err(ClientError::NotAnObject { .. })),
            "{list:?}"
        );
        let top = upsert(
            path,
            "- a\n- b\n",
            "extensions",
            "coder",
            &goose_entry("t"),
            true,
            Layout::Map,
            "",
        );
        assert!(
            matches!(top, Err(ClientError::NotAnObject { .. })),
            "{top:?}"
        );
    }
}
