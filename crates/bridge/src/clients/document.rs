//! Reading and editing our entry in an agent's config, whatever its syntax.
//! Each format has its own lossless editor, so comments, key order,
//! formatting and keys we do not know all survive; only our entry is ever
//! read as a value. A file that does not parse is refused, never rewritten.

mod json;
mod toml;
mod yaml;

use std::path::Path;

use serde_json::Value;

use super::ClientError;
use super::entry::Fields;
use super::table::{Agent, Format};

/// The value of our entry `name` in `agent`'s config text, if present.
pub(crate) fn read_entry(
    agent: &Agent,
    path: &Path,
    text: &str,
    name: &str,
) -> Result<Option<Value>, ClientError> {
    let key = agent.servers_key;
    match agent.format {
        Format::Json => json::read_entry(path, text, key, name),
        Format::Toml => toml::read_entry(path, text, key, name),
        Format::Yaml => yaml::read_entry(path, text, key, name, yaml::Layout::Map),
        Format::YamlList => yaml::read_entry(path, text, key, name, yaml::Layout::NamedList),
    }
}

/// `text` with our entry `name` set to `entry`.
///
/// `merge` keeps keys the user added to an existing entry of ours and only
/// touches what differs, so applying twice is byte-for-byte the same as
/// applying once. Without it a foreign entry under our name is replaced
/// whole, credentials and all.
pub(crate) fn upsert(
    agent: &Agent,
    path: &Path,
    text: &str,
    name: &str,
    entry: &Fields,
    merge: bool,
) -> Result<String, ClientError> {
    let key = agent.servers_key;
    match agent.format {
        Format::Json => json::upsert(path, text, key, name, entry, merge),
        Format::Toml => toml::upsert(path, text, key, name, entry, merge),
        Format::Yaml | Format::YamlList => {
            let layout = if agent.format == Format::YamlList {
                yaml::Layout::NamedList
            } else {
                yaml::Layout::Map
            };
            yaml::upsert(path, text, key, name, entry, merge, layout, new_file(agent))
        }
    }
}

/// `text` without our entry `name`; `None` when there was nothing to remove.
pub(crate) fn remove(
    agent: &Agent,
    path: &Path,
    text: &str,
    name: &str,
) -> Result<Option<String>, ClientError> {
    let key = agent.servers_key;
    match agent.format {
        Format::Json => json::remove(path, text, key, name),
        Format::Toml => toml::remove(path, text, key, name),
        Format::Yaml => yaml::remove(path, text, key, name, yaml::Layout::Map),
        Format::YamlList => yaml::remove(path, text, key, name, yaml::Layout::NamedList),
    }
}

/// What a config file we create starts with, before our entry: the keys an
/// agent refuses a file without (Continue's config needs a name, version and
/// schema).
fn new_file(agent: &Agent) -> &'static str {
    match agent.id {
        "continue" => "name: Local Config\nversion: 1.0.0\nschema: v1\n",
        _ => "",
    }
}

/// 1-based line and column of byte `offset` in `text`, for parse errors.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
