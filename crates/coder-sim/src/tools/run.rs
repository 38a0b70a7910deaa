//! Executes one tool call against the in-memory deployment.

use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{ToolInfo, args, authoring, tool_error, workspace};
use crate::state::Shared;
use crate::store::User;
use crate::world::WorldError;

/// Tool outcome before it becomes an MCP result: a JSON value or an error.
pub(super) type Outcome = Result<Value, CallToolResult>;

pub(super) async fn run(
    shared: &Shared,
    user: &User,
    info: &ToolInfo,
    args: JsonObject,
    ct: CancellationToken,
) -> CallToolResult {
    let outcome = dispatch(shared, user, info, args, ct).await;
    match outcome {
        Ok(value) => {
            let text = serde_json::to_string(&value).unwrap_or_default();
            CallToolResult::success(vec![ContentBlock::text(text)])
        }
        Err(error) => error,
    }
}

/// Coder's answer to arguments that do not fit the schema: a tool error whose
/// text is JSON naming the problem and the schema that was expected.
pub(super) fn parse<T: DeserializeOwned>(
    info: &ToolInfo,
    args: JsonObject,
) -> Result<T, CallToolResult> {
    serde_json::from_value(Value::Object(args)).map_err(|e| {
        let body = json!({
            "error": format!("invalid arguments for {}: {e}", info.name),
            "expectedSchema": Value::Object((info.schema)().as_ref().clone()),
        });
        tool_error(body.to_string())
    })
}

pub(super) fn uuid(field: &str, text: &str) -> Result<Uuid, CallToolResult> {
    Uuid::parse_str(text)
        .map_err(|_| tool_error(format!("{field} must be a valid UUID, got {text:?}")))
}

pub(super) fn failed(e: WorldError) -> CallToolResult {
    tracing::debug!(code = e.code(), error = %e, "tool failed");
    tool_error(e.to_string())
}

async fn dispatch(
    shared: &Shared,
    user: &User,
    info: &ToolInfo,
    args: JsonObject,
    ct: CancellationToken,
) -> Outcome {
    let world = &shared.world;
    match info.name {
        "coder_get_authenticated_user" => {
            parse::<args::NoArgs>(info, args)?;
            Ok(json!(user))
        }
        "coder_list_workspaces" => {
            let a: args::ListWorkspaces = parse(info, args)?;
            let owner = match a.owner.as_deref() {
                None | Some("me") | Some("") => user.username.clone(),
                Some(o) => o.to_owned(),
            };
            Ok(json!(world.workspaces(Some(&owner))))
        }
        "coder_get_workspace" => {
            let a: args::WorkspaceId = parse(info, args)?;
            let id = uuid("workspace_id", &a.workspace_id)?;
            world
                .workspace(id)
                .map(|w| json!(w))
                .ok_or_else(|| tool_error(format!("workspace {id} not found")))
        }
        "coder_list_templates" => {
            parse::<args::NoArgs>(info, args)?;
            Ok(json!(world.templates()))
        }
        "coder_template_version_parameters" => {
            let a: args::TemplateVersionId = parse(info, args)?;
            let id = uuid("template_version_id", &a.template_version_id)?;
            world
                .template_by_version(id)
                .map(|t| json!(t.parameters))
                .ok_or_else(|| tool_error(format!("template version {id} not found")))
        }
        "coder_get_workspace_build_logs" => {
            let a: args::BuildLogs = parse(info, args)?;
            let id = uuid("workspace_build_id", &a.workspace_build_id)?;
            world
                .workspaces(None)
                .into_iter()
                .find(|w| w.latest_build.id == id)
                .map(|w| json!(w.build_logs))
                .ok_or_else(|| tool_error(format!("workspace build {id} not found")))
        }
        "coder_create_workspace" => {
            let a: args::CreateWorkspace = parse(info, args)?;
            let owner = resolve_user(shared, user, &a.user)?;
            let version = uuid("template_version_id", &a.template_version_id)?;
            let ws = world
                .create_workspace(&owner, version, &a.name, a.rich_parameters)
                .map_err(failed)?;
            Ok(json!(ws))
        }
        "coder_create_workspace_build" => {
            let a: args::CreateWorkspaceBuild = parse(info, args)?;
            let id = uuid("workspace_id", &a.workspace_id)?;
            let version = a
                .template_version_id
                .as_deref()
                .map(|v| uuid("template_version_id", v))
                .transpose()?;
            let build = world
                .build(id, a.transition.as_str(), version)
                .map_err(failed)?;
            Ok(json!(build))
        }
        "coder_delete_template" => {
            let a: args::DeleteTemplate = parse(info, args)?;
            let id = uuid("template_id", &a.template_id)?;
            let template = world.delete_template(id).map_err(failed)?;
            Ok(json!({ "deleted": true, "template_id": template.id, "name": template.name }))
        }
        "coder_get_workspace_agent_logs" => {
            let a: args::AgentLogs = parse(info, args)?;
            let id = uuid("workspace_agent_id", &a.workspace_agent_id)?;
            world
                .workspaces(None)
                .into_iter()
                .find(|w| w.agent_id == id)
                .map(|w| json!(workspace::agent_log(&w)))
                .ok_or_else(|| tool_error(format!("workspace agent {id} not found")))
        }
        "coder_workspace_ls" => workspace::ls(world, user, parse(info, args)?),
        "coder_workspace_port_forward" => workspace::port_forward(world, user, parse(info, args)?),
        "coder_workspace_list_apps" => workspace::list_apps(world, user, parse(info, args)?),
        "coder_workspace_edit_files" => workspace::edit_files(world, user, parse(info, args)?),
        "coder_workspace_read_file" => workspace::read_file(world, user, parse(info, args)?),
        "coder_workspace_write_file" => workspace::write_file(world, user, parse(info, args)?),
        "coder_workspace_edit_file" => workspace::edit_file(world, user, parse(info, args)?),
        "coder_workspace_bash" => workspace::bash(world, user, parse(info, args)?, ct).await,
        "search" => {
            let a: args::Search = parse(info, args)?;
            let q = a.query.to_lowercase();
            let mut results: Vec<Value> = world
                .workspaces(None)
                .into_iter()
                .filter(|w| w.name.to_lowercase().contains(&q))
                .map(|w| json!({"id": format!("workspace:{}", w.id), "title": w.name, "url": ""}))
                .collect();
            results.extend(
                world
                    .templates()
                    .into_iter()
                    .filter(|t| t.name.to_lowercase().contains(&q))
                    .map(|t| json!({"id": format!("template:{}", t.id), "title": t.display_name, "url": ""})),
            );
            Ok(json!({ "results": results }))
        }
        "fetch" => {
            let a: args::Fetch = parse(info, args)?;
            let (kind, id) =
                a.id.split_once(':')
                    .ok_or_else(|| tool_error(format!("malformed id {:?}", a.id)))?;
            let id = uuid("id", id)?;
            let found = match kind {
                "workspace" => world.workspace(id).map(|w| json!(w)),
                "template" => world
                    .templates()
                    .into_iter()
                    .find(|t| t.id == id)
                    .map(|t| json!(t)),
                _ => None,
            };
            let doc = found.ok_or_else(|| tool_error(format!("{} not found", a.id)))?;
            Ok(json!({ "id": a.id, "title": doc["name"], "text": doc.to_string() }))
        }
        other => authoring::dispatch(shared, user, info, other, args),
    }
}

pub(super) fn resolve_user(
    shared: &Shared,
    caller: &User,
    name: &str,
) -> Result<User, CallToolResult> {
    if name == "me" || name == caller.username {
        return Ok(caller.clone());
    }
    shared
        .store
        .users()
        .into_iter()
        .find(|u| u.username == name || u.id.to_string() == name)
        .ok_or_else(|| tool_error(format!("user {name:?} not found")))
}
