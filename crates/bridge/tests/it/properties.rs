//! Property tests (proptest; `PROPTEST_CASES=N` for longer runs):
//! - config merging: random JSON/JSONC documents with our entry upserted
//!   then removed never panic, keep every other key, and a document that
//!   cannot be parsed (or has the wrong shape) is never written;
//! - the local endpoint: random and malformed JSON-RPC bodies and headers
//!   never crash it and always get a clear 4xx/2xx answer.

use std::path::Path;

use bridge::client_tokens::ClientTokens;
use bridge::clients::{self, Context, Dirs, ENTRY_NAME, Os};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};

/// `PROPTEST_CASES` (read by `Config::default`) sets the number of cases;
/// failures are reported, not persisted into the source tree.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::String),
        // Unicode, quotes, escapes and comment-like text inside strings.
        "(\\PC|\"|\\\\|/\\*|//){0,6}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_$.-]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A config document: other top-level keys, maybe the servers key holding
/// other servers (and maybe a stale entry of ours or a non-object).
fn config_doc(servers_key: &'static str) -> impl Strategy<Value = Map<String, Value>> {
    let servers = prop_oneof![
        3 => prop::collection::btree_map("[a-z][a-z0-9-]{0,8}", json_value(), 0..3).prop_map(
            |m| Some(Value::Object(m.into_iter().collect()))
        ),
        1 => Just(None),
    ];
    (
        prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_.]{0,10}", json_value(), 0..5),
        servers,
        any::<bool>(),
    )
        .prop_map(move |(others, servers, stale_ours)| {
            let mut doc: Map<String, Value> = others
                .into_iter()
                .filter(|(k, _)| k != servers_key)
                .collect();
            if let Some(mut servers) = servers {
                if stale_ours && let Value::Object(m) = &mut servers {
                    m.insert(
                        ENTRY_NAME.to_owned(),
                        serde_json::json!({"url": "http://old"}),
                    );
                }
                doc.insert(servers_key.to_owned(), servers);
            }
            doc
        })
}

fn context(home: &Path, tokens: &ClientTokens) -> Context {
    Context {
        os: Os::Linux,
        dirs: Dirs {
            home: home.to_path_buf(),
            xdg_config: home.join(".config"),
            appdata: None,
        },
        url: clients::local_url(7331),
        binary: "/opt/coder-bridge/bin/coder-bridge".into(),
        tokens: tokens.clone(),
        path_var: None,
    }
}

/// Everything but our entry, for comparing before and after.
fn others(doc: &Map<String, Value>, servers_key: &str) -> Map<String, Value> {
    let mut doc = doc.clone();
    if let Some(Value::Object(servers)) = doc.get_mut(servers_key) {
        servers.remove(ENTRY_NAME);
        if servers.is_empty() {
            doc.remove(servers_key);
        }
    }
    doc
}

#[test]
fn config_merging_keeps_other_keys_and_never_writes_what_it_cannot_parse() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let tokens = ClientTokens::open(tmp.path().join("tokens.json")).expect("tokens");
    let ctx = context(tmp.path(), &tokens);
    let mut runner = TestRunner::new(config());
    for agent in ["cursor", "claude-code", "windsurf"] {
        let row = clients::agent(agent).expect("known agent");
        let path = ctx.config_path(row);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("config dir");
        runner
            .run(&config_doc(row.servers_key), |doc| {
                let text = serde_json::to_string_pretty(&doc).expect("json");
                std::fs::write(&path, &text).expect("write");
                let applied = clients::apply(&clients::plan(agent, &ctx).expect("plan"));
                let servers_ok = doc.get(row.servers_key).is_none_or(Value::is_object);
                if !servers_ok {
                    let err = applied.expect_err("a servers key that is not an object");
                    prop_assert_eq!(err.code(), "clients.not_an_object");
                    prop_assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
                    return Ok(());
                }
                applied.expect("upsert");
                let written: Map<String, Value> =
                    serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
                        .expect("the written file is JSON");
                prop_assert!(written[row.servers_key][ENTRY_NAME].is_object());
                prop_assert_eq!(
                    others(&written, row.servers_key),
                    others(&doc, row.servers_key)
                );

                clients::remove(agent, &ctx).expect("remove");
                let removed: Map<String, Value> =
                    serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
                        .expect("the file is JSON after remove");
                prop_assert!(
                    removed
                        .get(row.servers_key)
                        .and_then(|s| s.get(ENTRY_NAME))
                        .is_none()
                );
                prop_assert_eq!(
                    others(&removed, row.servers_key),
                    others(&doc, row.servers_key)
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{agent}: {e}"));
    }
}

/// JSONC agents (VS Code, Zed): comments anywhere survive the round trip;
/// any truncation of a document is either still valid or refused untouched.
#[test]
fn jsonc_comments_survive_and_broken_documents_are_left_untouched() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let tokens = ClientTokens::open(tmp.path().join("tokens.json")).expect("tokens");
    let ctx = context(tmp.path(), &tokens);
    let mut runner = TestRunner::new(config());
    for agent in ["vscode", "zed"] {
        let row = clients::agent(agent).expect("known agent");
        let path = ctx.config_path(row);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("config dir");
        let strategy = (
            config_doc(row.servers_key),
            "[a-z]{4,10}",
            any::<prop::sample::Index>(),
        );
        runner
            .run(&strategy, |(doc, word, cut)| {
                let body = serde_json::to_string_pretty(&doc).expect("json");
                // A line comment after the opening brace, a block comment at the end.
                let marker = format!("keep-{word}");
                let text = format!("// {marker}\n{body}\n/* {marker}-end */\n");
                std::fs::write(&path, &text).expect("write");
                clients::apply(&clients::plan(agent, &ctx).expect("plan")).expect("upsert");
                let written = std::fs::read_to_string(&path).expect("read");
                prop_assert!(written.contains(&format!("// {marker}")), "{}", written);
                prop_assert!(
                    written.contains(&format!("/* {marker}-end */")),
                    "{}",
                    written
                );
                clients::remove(agent, &ctx).expect("remove");

                // Cut the document somewhere inside its body: unbalanced, so
                // unparseable; the tool must refuse and leave it as it was.
                let cut_at = 1 + cut.index(body.len() - 1);
                if !body.is_char_boundary(cut_at) {
                    return Ok(());
                }
                let broken = format!("// {marker}\n{}", &body[..cut_at]);
                std::fs::write(&path, &broken).expect("write");
                let before = std::fs::metadata(&path)
                    .expect("meta")
                    .modified()
                    .expect("mtime");
                match clients::plan(agent, &ctx).and_then(|p| clients::apply(&p)) {
                    Err(e) => prop_assert_eq!(e.code(), "clients.parse", "{}", e),
                    Ok(_) => prop_assert!(false, "a truncated document was accepted: {}", broken),
                }
                prop_assert_eq!(std::fs::read_to_string(&path).expect("read"), broken);
                prop_assert_eq!(
                    std::fs::metadata(&path)
                        .expect("meta")
                        .modified()
                        .expect("mtime"),
                    before
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{agent}: {e}"));
    }
}

/// Arbitrary bytes (not JSON at all) are refused and never written.
#[test]
fn garbage_configs_are_refused_and_never_written() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let tokens = ClientTokens::open(tmp.path().join("tokens.json")).expect("tokens");
    let ctx = context(tmp.path(), &tokens);
    let row = clients::agent("cursor").expect("cursor");
    let path = ctx.config_path(row);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("config dir");
    let mut runner = TestRunner::new(config());
    runner
        .run(&prop::collection::vec(any::<u8>(), 1..64), |bytes| {
            std::fs::write(&path, &bytes).expect("write");
            let result = clients::plan("cursor", &ctx).and_then(|p| clients::apply(&p));
            let parsed = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(t).ok());
            match (parsed, result) {
                // Valid JSON that happens to be an object: a normal merge.
                (Some(Value::Object(_)), Ok(_)) => {}
                (_, Ok(_)) if bytes.iter().all(u8::is_ascii_whitespace) => {}
                (parsed, Ok(_)) => {
                    prop_assert!(false, "wrote over {:?} (parsed {:?})", bytes, parsed)
                }
                (_, Err(e)) => {
                    prop_assert!(
                        // Not UTF-8 is refused on reading ("invalid utf-8").
                        matches!(e.code(), "clients.parse" | "clients.not_an_object")
                            || (e.code() == "clients.io" && e.to_string().contains("utf-8")),
                        "{}: {}",
                        e.code(),
                        e
                    );
                    prop_assert_eq!(std::fs::read(&path).expect("read"), bytes);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
