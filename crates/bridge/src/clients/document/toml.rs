//! Edits to a TOML agent config (Codex's `config.toml`) with `toml_edit`,
//! which keeps comments, key order, spacing and quoting of everything we do
//! not touch. Our entry is the table `[<servers_key>.<name>]`.

use std::path::Path;

use serde_json::Value;
use toml_edit::{DocumentMut, InlineTable, Item, Table, TableLike};

use super::line_column;
use crate::clients::ClientError;
use crate::clients::entry::{Fields, TRANSPORT_KEYS};

const TABLE: &str = "a TOML table";

fn parse(path: &Path, text: &str) -> Result<DocumentMut, ClientError> {
    text.parse::<DocumentMut>().map_err(|err| {
        let offset = err.span().map_or(0, |span| span.start);
        let (line, column) = line_column(text, offset);
        ClientError::Parse {
            path: path.to_path_buf(),
            format: "TOML",
            line,
            column,
            message: err.message().trim().to_owned(),
        }
    })
}

fn not_a_table(path: &Path, key: &str) -> ClientError {
    ClientError::NotAnObject {
        path: path.to_path_buf(),
        key: key.to_owned(),
        expected: TABLE,
    }
}

/// The servers table, if present; an error when `key` holds something else.
fn servers<'a>(
    path: &Path,
    doc: &'a DocumentMut,
    key: &str,
) -> Result<Option<&'a dyn TableLike>, ClientError> {
    match doc.get(key) {
        None => Ok(None),
        Some(item) => item
            .as_table_like()
            .map(Some)
            .ok_or_else(|| not_a_table(path, key)),
    }
}

pub(super) fn read_entry(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
) -> Result<Option<Value>, ClientError> {
    let doc = parse(path, text)?;
    Ok(servers(path, &doc, servers_key)?
        .and_then(|servers| servers.get(name))
        .map(item_to_json))
}

pub(super) fn upsert(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
    entry: &Fields,
    merge: bool,
) -> Result<String, ClientError> {
    let mut doc = parse(path, text)?;
    if servers(path, &doc, servers_key)?.is_none() {
        // Implicit: only `[mcp_servers.coder]` is written, no empty
        // `[mcp_servers]` header above it.
        let mut table = Table::new();
        table.set_implicit(true);
        doc.insert(servers_key, Item::Table(table));
    }
    let servers = doc
        .get_mut(servers_key)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| not_a_table(path, servers_key))?;
    match servers.get_mut(name).and_then(Item::as_table_like_mut) {
        Some(current) if merge => {
            merge_into(current, entry);
            for key in TRANSPORT_KEYS {
                if !entry.iter().any(|(k, _)| k == key) {
                    current.remove(key);
                }
            }
        }
        // A new entry, or one replaced where it stands (insert keeps an
        // existing key's place), converted to inline form in an inline table.
        _ => {
            servers.insert(name, entry_table(entry));
        }
    }
    Ok(finish(doc.to_string(), text))
}

pub(super) fn remove(
    path: &Path,
    text: &str,
    servers_key: &str,
    name: &str,
) -> Result<Option<String>, ClientError> {
    let mut doc = parse(path, text)?;
    if servers(path, &doc, servers_key)?.is_none() {
        return Ok(None);
    }
    let Some(servers) = doc.get_mut(servers_key).and_then(Item::as_table_like_mut) else {
        return Ok(None);
    };
    if servers.remove(name).is_none() {
        return Ok(None);
    }
    Ok(Some(finish(doc.to_string(), text)))
}

/// Sets each wanted key that differs, leaving equal ones (and their
/// formatting) alone; nested tables (headers) are merged so a header the
/// user added stays.
fn merge_into(target: &mut dyn TableLike, want: &Fields) {
    for (key, value) in want {
        let current = target.get(key).map(item_to_json);
        if current.as_ref() == Some(value) {
            continue;
        }
        if let (Some(inner), Value::Object(wanted)) =
            (target.get_mut(key).and_then(Item::as_table_like_mut), value)
        {
            let fields: Fields = wanted.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            merge_into(inner, &fields);
            continue;
        }
        target.insert(key, Item::Value(to_toml(value)));
    }
}

/// Our entry as a standard table (`[servers.name]`), nested objects inline.
fn entry_table(entry: &Fields) -> Item {
    let mut table = Table::new();
    for (key, value) in entry {
        table.insert(key, Item::Value(to_toml(value)));
    }
    Item::Table(table)
}

fn to_toml(value: &Value) -> toml_edit::Value {
    match value {
        // TOML has no null; our entries never hold one.
        Value::Null => toml_edit::Value::from(""),
        Value::Bool(b) => toml_edit::Value::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml_edit::Value::from(i),
            None => toml_edit::Value::from(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => toml_edit::Value::from(s.as_str()),
        Value::Array(items) => {
            toml_edit::Value::Array(items.iter().map(to_toml).collect::<toml_edit::Array>())
        }
        Value::Object(map) => {
            let mut table = InlineTable::new();
            for (k, v) in map {
                table.insert(k, to_toml(v));
            }
            toml_edit::Value::InlineTable(table)
        }
    }
}

fn item_to_json(item: &Item) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Value(value) => value_to_json(value),
        Item::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.to_owned(), item_to_json(v)))
                .collect(),
        ),
        Item::ArrayOfTables(tables) => Value::Array(
            tables
                .iter()
                .map(|t| item_to_json(&Item::Table(t.clone())))
                .collect(),
        ),
    }
}

fn value_to_json(value: &toml_edit::Value) -> Value {
    match value {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::from(*i.value()),
        toml_edit::Value::Float(f) => Value::from(*f.value()),
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => Value::String(d.value().to_string()),
        toml_edit::Value::Array(items) => Value::Array(items.iter().map(value_to_json).collect()),
        toml_edit::Value::InlineTable(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.to_owned(), value_to_json(v)))
                .collect(),
        ),
    }
}

/// The edited text, ending with a newline when the original did (or was
/// empty), with the original's line endings: `toml_edit` writes `\n`.
fn finish(out: String, original: &str) -> String {
    let mut out = if original.contains("\r\n") {
        out.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        out
    };
    let wants_newline = original.trim().is_empty() || original.ends_with('\n');
    if wants_newline && !out.ends_with('\n') {
        out.push_str(if original.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(token: &str) -> Fields {
        vec![
            ("url".to_owned(), json!("http://127.0.0.1:7331/mcp")),
            (
                "http_headers".to_owned(),
                json!({ "Authorization": format!("Bearer {token}") }),
            ),
        ]
    }

    fn up(text: &str) -> String {
        upsert(
            Path::new("c.toml"),
            text,
            "mcp_servers",
            "coder",
            &entry("cbt_x"),
            true,
        )
        .expect("upsert")
    }

    const USER: &str = "# Codex settings, by hand\nmodel = \"o3\" # the good one\n\n[mcp_servers.linear]\ncommand = \"npx\"\nargs = [\"-y\", \"linear-mcp\"] # pinned\n\n[profiles.fast]\nmodel = \"o4-mini\"\n";

    #[test]
    fn adds_a_table_and_keeps_everything_else() {
        let out = up(USER);
        // toml_edit puts the new table after its siblings.
        assert!(
            out.contains("args = [\"-y\", \"linear-mcp\"] # pinned\n\n[mcp_servers.coder]\n"),
            "{out}"
        );
        assert!(out.starts_with("# Codex settings, by hand\nmodel = \"o3\" # the good one\n"));
        assert!(
            out.ends_with("[profiles.fast]\nmodel = \"o4-mini\"\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "[mcp_servers.coder]\nurl = \"http://127.0.0.1:7331/mcp\"\nhttp_headers = { Authorization = \"Bearer cbt_x\" }\n"
            ),
            "{out}"
        );
        assert_eq!(up(&out), out, "a second run changes nothing");
        let removed = remove(Path::new("c.toml"), &out, "mcp_servers", "coder")
            .expect("remove")
            .expect("changed");
        assert_eq!(removed, USER);
    }

    #[test]
    fn fresh_file_has_no_empty_parent_header() {
        assert_eq!(
            up(""),
            "[mcp_servers.coder]\nurl = \"http://127.0.0.1:7331/mcp\"\nhttp_headers = { Authorization = \"Bearer cbt_x\" }\n"
        );
    }

    #[test]
    fn merge_keeps_user_keys_and_replaces_the_token() {
        let text = "[mcp_servers.coder]\nurl = \"http://127.0.0.1:9/mcp\"\n# mine\nstartup_timeout_sec = 20\nhttp_headers = { Authorization = \"Bearer cbt_old\", X-Trace = \"1\" }\n";
        let out = up(text);
        let read = read_entry(Path::new("c.toml"), &out, "mcp_servers", "coder")
            .expect("read")
            .expect("entry");
        assert_eq!(read["startup_timeout_sec"], json!(20));
        assert_eq!(read["http_headers"]["X-Trace"], json!("1"));
        assert_eq!(read["http_headers"]["Authorization"], json!("Bearer cbt_x"));
        assert_eq!(read["url"], json!("http://127.0.0.1:7331/mcp"));
        assert!(out.contains("# mine\nstartup_timeout_sec = 20"), "{out}");
    }

    #[test]
    fn invalid_and_wrong_types_are_refused() {
        let err = upsert(
            Path::new("c.toml"),
            "model = \"o3\"\n[mcp_servers\n",
            "mcp_servers",
            "coder",
            &entry("t"),
            true,
        )
        .expect_err("invalid");
        assert!(matches!(err, ClientError::Parse { line: 2, .. }), "{err:?}");
        let err = upsert(
            Path::new("c.toml"),
            "mcp_servers = 3\n",
            "mcp_servers",
            "coder",
            &entry("t"),
            true,
        )
        .expect_err("not a table");
        assert!(matches!(err, ClientError::NotAnObject { .. }), "{err:?}");
    }
}
