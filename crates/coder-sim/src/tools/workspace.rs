//! Tools that act inside a workspace named by the caller. Like Coder's, they
//! start a stopped workspace first — and, unlike Coder, they say so in the
//! result so a client can show it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::run::Outcome;
use super::{args, tool_error};
use crate::store::User;
use crate::world::{Workspace, World};

const HOME: &str = "/home/coder";
const DEFAULT_BASH_TIMEOUT_MS: u64 = 60_000;

/// Resolves the workspace, starts it when stopped, and returns its id plus
/// the note to attach when it had to be started.
fn open(
    world: &World,
    user: &User,
    reference: &str,
) -> Result<(Uuid, Option<String>), rmcp::model::CallToolResult> {
    let id = world
        .resolve(user, reference)
        .map_err(|e| tool_error(e.to_string()))?;
    let started = world
        .ensure_running(id)
        .map_err(|e| tool_error(e.to_string()))?;
    let note = started
        .then(|| format!("Workspace {reference} was stopped; it was started to run this tool."));
    Ok((id, note))
}

fn with_note(mut value: Value, note: Option<String>) -> Value {
    if let (Some(note), Some(obj)) = (note, value.as_object_mut()) {
        obj.insert("workspace_started".into(), json!(true));
        obj.insert("note".into(), json!(note));
    }
    value
}

fn absolute(path: &str) -> Result<String, rmcp::model::CallToolResult> {
    if !path.starts_with('/') {
        return Err(tool_error(format!("path must be absolute, got {path:?}")));
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    })
}

fn children(ws: &Workspace, dir: &str) -> Vec<(String, bool)> {
    let prefix = if dir == "/" {
        "/".to_owned()
    } else {
        format!("{dir}/")
    };
    let direct = |p: &String| {
        p.strip_prefix(&prefix)
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
    };
    let mut entries: Vec<(String, bool)> = ws
        .dirs
        .iter()
        .filter_map(|d| direct(d).map(|n| (n, true)))
        .collect();
    entries.extend(
        ws.files
            .keys()
            .filter_map(|f| direct(f).map(|n| (n, false))),
    );
    entries.sort();
    entries
}

pub(super) fn ls(world: &World, user: &User, a: args::WorkspaceLs) -> Outcome {
    let (id, note) = open(world, user, &a.workspace)?;
    let path = absolute(&a.path)?;
    let listing = world
        .with_files(id, |ws| {
            ws.dirs.contains(&path).then(|| children(ws, &path))
        })
        .flatten()
        .ok_or_else(|| tool_error(format!("{path}: no such directory")))?;
    let contents: Vec<Value> = listing
        .into_iter()
        .map(|(name, is_dir)| {
            let full = if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            };
            json!({"name": name, "path": full, "is_dir": is_dir})
        })
        .collect();
    Ok(with_note(json!({ "contents": contents }), note))
}

pub(super) fn read_file(world: &World, user: &User, a: args::ReadFile) -> Outcome {
    let (id, note) = open(world, user, &a.workspace)?;
    let path = absolute(&a.path)?;
    let bytes = world
        .with_files(id, |ws| ws.files.get(&path).cloned())
        .flatten()
        .ok_or_else(|| tool_error(format!("{path}: no such file")))?;
    let start = usize::try_from(a.offset.unwrap_or(0))
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = a
        .limit
        .map_or(bytes.len(), |l| {
            start.saturating_add(usize::try_from(l).unwrap_or(usize::MAX))
        })
        .min(bytes.len());
    let content = String::from_utf8_lossy(&bytes[start..end]).into_owned();
    Ok(with_note(
        json!({ "content": content, "mimeType": "text/plain" }),
        note,
    ))
}

fn parent_dirs(path: &str) -> Vec<String> {
    let mut dirs = vec!["/".to_owned()];
    let mut current = String::new();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        current.push('/');
        current.push_str(part);
        dirs.push(current.clone());
    }
    dirs
}

pub(super) fn write_file(world: &World, user: &User, a: args::WriteFile) -> Outcome {
    let (id, note) = open(world, user, &a.workspace)?;
    let path = absolute(&a.path)?;
    let bytes = BASE64
        .decode(a.content.as_bytes())
        .map_err(|e| tool_error(format!("content must be base64: {e}")))?;
    let size = bytes.len();
    world
        .with_files(id, |ws| {
            if ws.dirs.contains(&path) {
                return Err(tool_error(format!("{path} is a directory")));
            }
            ws.dirs.extend(parent_dirs(&path));
            ws.files.insert(path.clone(), bytes);
            Ok(())
        })
        .ok_or_else(|| tool_error("workspace disappeared"))??;
    Ok(with_note(
        json!({ "success": true, "path": path, "bytes_written": size }),
        note,
    ))
}

pub(super) fn edit_file(world: &World, user: &User, a: args::EditFile) -> Outcome {
    let (id, note) = open(world, user, &a.workspace)?;
    let path = absolute(&a.path)?;
    world
        .with_files(id, |ws| {
            let bytes = ws
                .files
                .get(&path)
                .ok_or_else(|| tool_error(format!("{path}: no such file")))?;
            let mut text = String::from_utf8_lossy(bytes).into_owned();
            for edit in &a.edits {
                if !text.contains(&edit.search) {
                    return Err(tool_error(format!(
                        "search string not found in {path}: {:?}",
                        edit.search
                    )));
                }
                text = text.replacen(&edit.search, &edit.replace, 1);
            }
            ws.files.insert(path.clone(), text.into_bytes());
            Ok(())
        })
        .ok_or_else(|| tool_error("workspace disappeared"))??;
    Ok(with_note(json!({ "success": true, "path": path }), note))
}

/// A deterministic stand-in for a shell: a few commands behave like the real
/// ones over the workspace's files, `sleep` really waits (so timeouts and
/// cancellation can be tested), anything else is "command not found".
pub(super) async fn bash(
    world: &World,
    user: &User,
    a: args::Bash,
    ct: CancellationToken,
) -> Outcome {
    let (id, note) = open(world, user, &a.workspace)?;
    if a.background.unwrap_or(false) {
        return Ok(with_note(
            json!({ "output": "Command started in background (pid 4242)", "exit_code": 0 }),
            note,
        ));
    }
    let timeout = Duration::from_millis(a.timeout_ms.unwrap_or(DEFAULT_BASH_TIMEOUT_MS));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut output = String::new();
    let mut exit_code = 0;
    for step in a
        .command
        .split("&&")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let words: Vec<String> = step
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned())
            .collect();
        let Some((program, rest)) = words.split_first() else {
            continue;
        };
        let (out, code) = match program.as_str() {
            "echo" => (rest.join(" "), 0),
            "pwd" => (HOME.to_owned(), 0),
            "whoami" => (user.username.clone(), 0),
            "hostname" => (world.workspace(id).map(|w| w.name).unwrap_or_default(), 0),
            "true" => (String::new(), 0),
            "false" => (String::new(), 1),
            "exit" => (
                String::new(),
                rest.first().and_then(|c| c.parse().ok()).unwrap_or(0),
            ),
            "ls" => {
                let dir = rest.first().map_or(HOME.to_owned(), |p| {
                    if p.starts_with('/') {
                        p.clone()
                    } else {
                        format!("{HOME}/{p}")
                    }
                });
                let dir = absolute(&dir)?;
                match world
                    .with_files(id, |ws| ws.dirs.contains(&dir).then(|| children(ws, &dir)))
                    .flatten()
                {
                    Some(entries) => (
                        entries
                            .into_iter()
                            .map(|(n, _)| n)
                            .collect::<Vec<_>>()
                            .join("\n"),
                        0,
                    ),
                    None => (
                        format!("ls: cannot access '{dir}': No such file or directory"),
                        2,
                    ),
                }
            }
            "cat" => {
                let file = rest.first().map_or(String::new(), |p| {
                    if p.starts_with('/') {
                        p.clone()
                    } else {
                        format!("{HOME}/{p}")
                    }
                });
                match world
                    .with_files(id, |ws| ws.files.get(&file).cloned())
                    .flatten()
                {
                    Some(bytes) => (String::from_utf8_lossy(&bytes).trim_end().to_owned(), 0),
                    None => (format!("cat: {file}: No such file or directory"), 1),
                }
            }
            "sleep" => {
                let secs: f64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(0.0);
                let wake = tokio::time::Instant::now() + Duration::from_secs_f64(secs.max(0.0));
                tokio::select! {
                    () = tokio::time::sleep_until(wake.min(deadline)) => {}
                    () = ct.cancelled() => return Err(tool_error("command cancelled")),
                }
                if wake > deadline {
                    return Err(tool_error(format!(
                        "command timed out after {}ms (exit code 124)",
                        timeout.as_millis()
                    )));
                }
                (String::new(), 0)
            }
            other => (format!("bash: {other}: command not found"), 127),
        };
        if !out.is_empty() {
            if !output.is_empty() {
                output.push('\n');
            }
            output.push_str(&out);
        }
        exit_code = code;
        if code != 0 {
            break;
        }
    }
    Ok(with_note(
        json!({ "output": output, "exit_code": exit_code }),
        note,
    ))
}

/// The agent's start-up log, as `coder_get_workspace_agent_logs` returns it.
pub(super) fn agent_log(ws: &Workspace) -> Vec<String> {
    vec![
        format!("Agent main of {} connected", ws.name),
        "Running startup script".to_owned(),
        "Startup script completed".to_owned(),
    ]
}

pub(super) fn port_forward(world: &World, user: &User, a: args::PortForward) -> Outcome {
    let (id, note) = open(world, user, &a.workspace)?;
    let ws = world
        .workspace(id)
        .ok_or_else(|| tool_error("workspace disappeared"))?;
    let url = format!(
        "http://{}--main--{}--{}.apps.coder.test/",
        a.port, ws.name, ws.owner_name
    );
    Ok(with_note(json!({ "url": url, "port": a.port }), note))
}

pub(super) fn list_apps(world: &World, user: &User, a: args::WorkspaceOnly) -> Outcome {
    let (id, note) = open(world, user, &a.workspace)?;
    let ws = world
        .workspace(id)
        .ok_or_else(|| tool_error("workspace disappeared"))?;
    let app = |slug: &str, name: &str| {
        json!({"slug": slug, "display_name": name,
               "url": format!("http://{slug}--main--{}--{}.apps.coder.test/", ws.name, ws.owner_name)})
    };
    Ok(with_note(
        json!({ "apps": [app("code-server", "VS Code Web"), app("terminal", "Terminal")] }),
        note,
    ))
}

pub(super) fn edit_files(world: &World, user: &User, a: args::EditFiles) -> Outcome {
    let mut edited = Vec::new();
    let mut note = None;
    for file in a.files {
        let one = args::EditFile {
            workspace: a.workspace.clone(),
            path: file.path,
            edits: file.edits,
        };
        let result = edit_file(world, user, one)?;
        if note.is_none() {
            note = result.get("note").cloned();
        }
        edited.push(result["path"].clone());
    }
    let mut value = json!({ "success": true, "paths": edited });
    if let (Some(note), Some(obj)) = (note, value.as_object_mut()) {
        obj.insert("workspace_started".into(), json!(true));
        obj.insert("note".into(), note);
    }
    Ok(value)
}
