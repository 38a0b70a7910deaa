//! Golden before/after files per agent (`tests/golden/<agent>/<case>.*.<ext>`,
//! the extension of the agent's format: json, toml or yaml).
//!
//! For each case: `configure` turns `<case>.before.json` into exactly
//! `<case>.after.json`, a second `configure` changes nothing, the agent then
//! reports up to date, and `unconfigure` turns it into exactly
//! `<case>.removed.json` while keeping every other key. A case with no
//! before file starts with no file and no folder; a case with no after file
//! must be refused and left untouched.
//!
//! After a deliberate change to the writers, regenerate with
//! `cargo test -p bridge --test it -- --ignored clients_golden::regenerate` and
//! review the diff of the golden files like any other code change.

use std::fs;
use std::path::{Path, PathBuf};

use bridge::client_tokens::{ClientTokens, FILE_NAME};
use bridge::clients::{self, Action, BACKUP_SUFFIX, ClientError, Context, Dirs, Format, Os};
use serde_json::Value;

const BINARY: &str = "/opt/Coder Bridge/bin/coder-bridge";
const PORT: u16 = 7331;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn token_for(agent: &str) -> String {
    format!("cbt_goldenTokenFor_{}", agent.replace('-', "_"))
}

/// A temp home (with a space and non-ASCII in its path) and a context whose
/// token store already holds a fixed token per agent, so outputs are stable.
fn context(root: &Path) -> Context {
    let home = root.join("home ñ space");
    let config = home.join(".config");
    fs::create_dir_all(&home).expect("home");
    let store = config.join("coder-bridge").join(FILE_NAME);
    fs::create_dir_all(store.parent().expect("parent")).expect("store dir");
    let clients: serde_json::Map<String, Value> = clients::agents()
        .iter()
        .map(|a| {
            (
                a.id.to_owned(),
                serde_json::json!({ "token": token_for(a.id) }),
            )
        })
        .collect();
    let seeded = serde_json::json!({ "version": 1, "clients": clients });
    fs::write(&store, seeded.to_string()).expect("seed tokens");
    Context {
        os: Os::Linux,
        dirs: Dirs {
            home: home.clone(),
            xdg_config: config,
            appdata: None,
        },
        url: clients::local_url(PORT),
        binary: PathBuf::from(BINARY),
        tokens: ClientTokens::open(store).expect("open tokens"),
        path_var: None,
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).expect("read config")
}

fn cases() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for agent in clients::agents() {
        let dir = golden_dir().join(agent.id);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.split_once('.').map(|(case, _)| case.to_owned())
            })
            .collect();
        names.sort();
        names.dedup();
        out.extend(names.into_iter().map(|case| (agent.id.to_owned(), case)));
    }
    out
}

enum Mode {
    Check,
    Write,
}

fn run_case(agent: &str, case: &str, mode: &Mode) -> Result<(), String> {
    let dir = golden_dir().join(agent);
    let row = clients::agent(agent).map_err(|e| e.to_string())?;
    let ext = row.format.extension();
    let file = |kind: &str| dir.join(format!("{case}.{kind}.{ext}"));
    let before = fs::read(file("before")).ok();
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path());
    let path = ctx.config_path(clients::agent(agent).map_err(|e| e.to_string())?);
    if let Some(before) = &before {
        fs::create_dir_all(path.parent().expect("parent")).expect("config dir");
        fs::write(&path, before).expect("write before");
    }
    let readonly = case == "readonly";
    if readonly {
        let mut perms = fs::metadata(&path).expect("meta").permissions();
        perms.set_readonly(true);
        fs::set_permissions(&path, perms).expect("chmod");
    }
    let refused = matches!(mode, Mode::Check) && !file("after").exists()
        || matches!(mode, Mode::Write)
            && (readonly || case.starts_with("invalid") || case == "not-an-object");
    if refused {
        let err = clients::plan(agent, &ctx).and_then(|plan| clients::apply(&plan));
        let err = match err {
            Ok(_) => return Err("expected a refusal, the change was made".into()),
            Err(err) => err,
        };
        match (&err, readonly) {
            (ClientError::ReadOnly { .. }, true) => {}
            (ClientError::Parse { line, column, .. }, false) if *line > 0 && *column > 0 => {
                let msg = err.to_string();
                if !msg.contains(&format!("line {line}, column {column}")) {
                    return Err(format!("parse error message lacks the position: {msg}"));
                }
            }
            (ClientError::NotAnObject { .. }, false) => {}
            _ => return Err(format!("unexpected error {err:?}")),
        }
        if fs::read(&path).ok() != before {
            return Err("a refused file was modified".into());
        }
        if backup_exists(&path) {
            return Err("a refused file got a backup".into());
        }
        return Ok(());
    }

    let plan = clients::plan(agent, &ctx).map_err(|e| format!("plan: {e}"))?;
    let expected_action = if before.is_some() {
        Action::Update
    } else {
        Action::Create
    };
    if plan.action != expected_action {
        return Err(format!(
            "plan action {:?}, expected {expected_action:?}",
            plan.action
        ));
    }
    if plan.diff.contains(&token_for(agent)) {
        return Err("the diff shows the whole client token".into());
    }
    let applied = clients::apply(&plan).map_err(|e| format!("apply: {e}"))?;
    let after = read(&path);
    if let Some(before) = &before {
        let bak = applied.backup.clone().ok_or("no backup was made")?;
        if fs::read(&bak).ok().as_ref() != Some(before) {
            return Err("the backup differs from the original".into());
        }
    }

    // Idempotence: a second run plans and writes nothing.
    let again = clients::plan(agent, &ctx).map_err(|e| format!("second plan: {e}"))?;
    if again.action != Action::Unchanged || !again.diff.is_empty() {
        return Err(format!("second plan is not a no-op:\n{}", again.diff));
    }
    if clients::apply(&again).map_err(|e| e.to_string())?.changed || read(&path) != after {
        return Err("second apply changed the file".into());
    }
    let status = clients::status(agent, &ctx).map_err(|e| format!("status: {e}"))?;
    if !(status.configured && status.up_to_date && status.installed) {
        return Err(format!("after configure: {status:?}"));
    }

    clients::remove(agent, &ctx).map_err(|e| format!("remove: {e}"))?;
    let removed = read(&path);
    if ctx.tokens.get(agent).is_some() {
        return Err("unconfigure left the client token".into());
    }
    if row.format == Format::Json {
        check_only_ours_removed(agent, before.as_deref(), &removed)?;
    }

    match mode {
        Mode::Write => {
            fs::write(file("after"), &after).expect("write golden");
            fs::write(file("removed"), &removed).expect("write golden");
            Ok(())
        }
        Mode::Check => {
            compare(&file("after"), &after)?;
            compare(&file("removed"), &removed)
        }
    }
}

fn backup_exists(path: &Path) -> bool {
    let mut name = path.file_name().expect("file name").to_os_string();
    name.push(BACKUP_SUFFIX);
    path.with_file_name(name).exists()
}

fn compare(golden: &Path, actual: &str) -> Result<(), String> {
    let want = fs::read_to_string(golden).map_err(|e| format!("{}: {e}", golden.display()))?;
    if want == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs:\n{}",
            golden.display(),
            similar::TextDiff::from_lines(want.as_str(), actual).unified_diff()
        ))
    }
}

/// Everything but our entry is as it was (compared as values, so this holds
/// whatever the formatting).
fn check_only_ours_removed(
    agent: &str,
    before: Option<&[u8]>,
    removed: &str,
) -> Result<(), String> {
    let key = clients::agent(agent)
        .map_err(|e| e.to_string())?
        .servers_key;
    let parse = |text: &str| -> Value {
        let text = text.trim_start_matches('\u{feff}');
        if text.trim().is_empty() {
            return Value::Null;
        }
        jsonc_parser::parse_to_serde_value::<Option<Value>>(text, &Default::default())
            .expect("parses")
            .unwrap_or(Value::Null)
    };
    let strip = |mut v: Value| -> Value {
        if let Some(obj) = v.as_object_mut() {
            if let Some(servers) = obj.get_mut(key).and_then(Value::as_object_mut) {
                servers.remove(clients::ENTRY_NAME);
                if servers.is_empty() {
                    obj.remove(key);
                }
            }
            if obj.is_empty() {
                return Value::Null;
            }
        }
        v
    };
    let before = strip(
        before
            .map(|b| parse(&String::from_utf8_lossy(b)))
            .unwrap_or(Value::Null),
    );
    let after = strip(parse(removed));
    if before == after {
        Ok(())
    } else {
        Err(format!(
            "unconfigure changed more than our entry:\n{before:#}\n---\n{after:#}"
        ))
    }
}

#[test]
fn golden_files() {
    let cases = cases();
    assert!(
        cases.len() >= 6 * 12 + 11 * 8,
        "golden cases went missing: {}",
        cases.len()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(agent, case)| {
            run_case(agent, case, &Mode::Check)
                .err()
                .map(|e| format!("{agent}/{case}: {e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
#[ignore = "rewrites the golden files; run on purpose and review the diff"]
fn regenerate() {
    for (agent, case) in cases() {
        if let Err(e) = run_case(&agent, &case, &Mode::Write) {
            panic!("{agent}/{case}: {e}");
        }
    }
}
