//! The tool list: Coder's names, descriptions, input schemas and how each
//! tool affects the deployment.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_input;
use rmcp::model::JsonObject;
use schemars::JsonSchema;

use super::args;

/// How a tool affects the deployment; the bridge's default policy keys on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    ReadOnly,
    StateChanging,
    /// State-changing and cannot be undone (e.g. deleting a template).
    Irreversible,
}

/// One entry of the simulator's tool list.
#[derive(Debug, Clone, Copy)]
pub struct ToolInfo {
    pub name: &'static str,
    pub kind: ToolKind,
    /// `destructiveHint` as Coder annotates it.
    pub destructive: bool,
    /// Takes a workspace by name and starts it when it is stopped.
    pub starts_workspace: bool,
    pub description: &'static str,
    pub(super) schema: fn() -> Arc<JsonObject>,
}

fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    // The argument types are fixed and tested, so a failure is a bug here.
    let schema = schema_for_input::<T>().unwrap_or_else(|e| panic!("tool input schema: {e}"));
    if schema.contains_key("properties") {
        return schema;
    }
    // Some clients insist on `properties` even for tools without arguments.
    let mut object = schema.as_ref().clone();
    object.insert("properties".into(), serde_json::json!({}));
    Arc::new(object)
}

const fn info(
    name: &'static str,
    kind: ToolKind,
    destructive: bool,
    starts_workspace: bool,
    description: &'static str,
    schema: fn() -> Arc<JsonObject>,
) -> ToolInfo {
    ToolInfo {
        name,
        kind,
        destructive,
        starts_workspace,
        description,
        schema,
    }
}

use ToolKind::{Irreversible, ReadOnly, StateChanging};

pub(super) const STANDARD: &[ToolInfo] = &[
    info(
        "coder_get_authenticated_user",
        ReadOnly,
        false,
        false,
        "Get the currently authenticated user.",
        schema::<args::NoArgs>,
    ),
    info(
        "coder_list_workspaces",
        ReadOnly,
        false,
        false,
        "List workspaces, optionally by owner.",
        schema::<args::ListWorkspaces>,
    ),
    info(
        "coder_get_workspace",
        ReadOnly,
        false,
        false,
        "Get a workspace by ID.",
        schema::<args::WorkspaceId>,
    ),
    info(
        "coder_list_templates",
        ReadOnly,
        false,
        false,
        "List the templates workspaces can be created from.",
        schema::<args::NoArgs>,
    ),
    info(
        "coder_template_version_parameters",
        ReadOnly,
        false,
        false,
        "Get the rich parameters of a template version.",
        schema::<args::TemplateVersionId>,
    ),
    info(
        "coder_get_workspace_agent_logs",
        ReadOnly,
        false,
        false,
        "Get the logs of a workspace agent.",
        schema::<args::AgentLogs>,
    ),
    info(
        "coder_get_workspace_build_logs",
        ReadOnly,
        false,
        false,
        "Get the logs of a workspace build.",
        schema::<args::BuildLogs>,
    ),
    info(
        "coder_get_template_version_logs",
        ReadOnly,
        false,
        false,
        "Get the import logs of a template version.",
        schema::<args::TemplateVersionId>,
    ),
    info(
        "coder_workspace_ls",
        ReadOnly,
        false,
        true,
        "List a directory in a workspace. Starts the workspace if it is stopped.",
        schema::<args::WorkspaceLs>,
    ),
    info(
        "coder_workspace_read_file",
        ReadOnly,
        false,
        true,
        "Read a file in a workspace. Starts the workspace if it is stopped.",
        schema::<args::ReadFile>,
    ),
    info(
        "coder_workspace_port_forward",
        ReadOnly,
        false,
        true,
        "Get a URL that forwards to a port in a workspace. Starts the workspace if it is stopped.",
        schema::<args::PortForward>,
    ),
    info(
        "coder_workspace_list_apps",
        ReadOnly,
        false,
        true,
        "List the apps of a workspace. Starts the workspace if it is stopped.",
        schema::<args::WorkspaceOnly>,
    ),
    info(
        "coder_list_tasks",
        ReadOnly,
        false,
        false,
        "List tasks.",
        schema::<args::ListTasks>,
    ),
    info(
        "coder_get_task_status",
        ReadOnly,
        false,
        false,
        "Get the status of a task.",
        schema::<args::TaskId>,
    ),
    info(
        "coder_get_task_logs",
        ReadOnly,
        false,
        false,
        "Get the conversation log of a task.",
        schema::<args::TaskId>,
    ),
    info(
        "coder_create_workspace",
        StateChanging,
        false,
        false,
        "Create a workspace from a template version.",
        schema::<args::CreateWorkspace>,
    ),
    info(
        "coder_create_workspace_build",
        StateChanging,
        true,
        false,
        "Start, stop or delete a workspace.",
        schema::<args::CreateWorkspaceBuild>,
    ),
    info(
        "coder_upload_tar_file",
        StateChanging,
        false,
        false,
        "Upload template source files.",
        schema::<args::UploadTar>,
    ),
    info(
        "coder_create_template_version",
        StateChanging,
        false,
        false,
        "Create a template version from uploaded files.",
        schema::<args::CreateTemplateVersion>,
    ),
    info(
        "coder_create_template",
        StateChanging,
        false,
        false,
        "Create a template from a template version.",
        schema::<args::CreateTemplate>,
    ),
    info(
        "coder_update_template_active_version",
        StateChanging,
        false,
        false,
        "Make a template version the template's active version.",
        schema::<args::UpdateActiveVersion>,
    ),
    info(
        "coder_delete_template",
        Irreversible,
        true,
        false,
        "Delete a template. This cannot be undone.",
        schema::<args::DeleteTemplate>,
    ),
    info(
        "coder_workspace_bash",
        StateChanging,
        true,
        true,
        "Run a bash command in a workspace. Starts the workspace if it is stopped.",
        schema::<args::Bash>,
    ),
    info(
        "coder_workspace_write_file",
        StateChanging,
        true,
        true,
        "Write a file in a workspace. Starts the workspace if it is stopped.",
        schema::<args::WriteFile>,
    ),
    info(
        "coder_workspace_edit_file",
        StateChanging,
        true,
        true,
        "Edit a file in a workspace by search and replace. Starts the workspace if it is stopped.",
        schema::<args::EditFile>,
    ),
    info(
        "coder_workspace_edit_files",
        StateChanging,
        true,
        true,
        "Edit several files in a workspace. Starts the workspace if it is stopped.",
        schema::<args::EditFiles>,
    ),
    info(
        "coder_create_task",
        StateChanging,
        false,
        false,
        "Create a task: an agent works on a prompt in its own workspace.",
        schema::<args::CreateTask>,
    ),
    info(
        "coder_delete_task",
        Irreversible,
        true,
        false,
        "Delete a task and its workspace. This cannot be undone.",
        schema::<args::TaskId>,
    ),
    info(
        "coder_send_task_input",
        StateChanging,
        false,
        false,
        "Send input to a task's agent.",
        schema::<args::TaskInput>,
    ),
];

pub(super) const CHATGPT: &[ToolInfo] = &[
    info(
        "search",
        ReadOnly,
        false,
        false,
        "Search workspaces and templates.",
        schema::<args::Search>,
    ),
    info(
        "fetch",
        ReadOnly,
        false,
        false,
        "Fetch a search result by id.",
        schema::<args::Fetch>,
    ),
];

/// The tools of the standard toolset, with their classification.
pub fn tool_catalog() -> Vec<ToolInfo> {
    STANDARD.to_vec()
}
