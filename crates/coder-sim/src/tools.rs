//! Coder's MCP tools and prompts, served through rmcp.
//!
//! The handler is written against `ServerHandler` directly rather than the
//! `#[tool]` macros because Coder answers bad arguments with a tool error
//! whose text is `{"error":…,"expectedSchema":…}`, not a JSON-RPC error.

mod args;
mod authoring;
mod run;
mod workspace;

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::common::schema_for_input;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, JsonObject, ListPromptsResult,
    ListToolsResult, PaginatedRequestParams, Prompt, PromptArgument, PromptMessage,
    ProtocolVersion, Role, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;

use crate::config::Era;
use crate::state::Shared;
use crate::store::User;

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
    schema: fn() -> Arc<JsonObject>,
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

const STANDARD: &[ToolInfo] = &[
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

const CHATGPT: &[ToolInfo] = &[
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

/// `?toolset=` on the MCP URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Toolset {
    Standard,
    ChatGpt,
}

/// Who is calling, put in the request's extensions by the auth middleware.
#[derive(Debug, Clone)]
pub(crate) struct McpCaller {
    pub user: User,
    pub toolset: Toolset,
}

/// The MCP server; one instance per session (or per request when stateless).
#[derive(Debug, Clone)]
pub(crate) struct CoderMcp {
    shared: Arc<Shared>,
}

impl CoderMcp {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn tool(&self, info: &ToolInfo) -> Tool {
        let tool = Tool::new(info.name, info.description, (info.schema)());
        if !self.shared.config.annotations {
            return tool;
        }
        let annotations = match info.kind {
            ReadOnly => ToolAnnotations::new()
                .read_only(true)
                .destructive(false)
                .idempotent(true),
            StateChanging | Irreversible => ToolAnnotations::new()
                .read_only(false)
                .destructive(info.destructive)
                .idempotent(false),
        };
        tool.annotate(annotations.open_world(info.name == "coder_workspace_bash"))
    }
}

fn caller(context: &RequestContext<RoleServer>) -> Result<McpCaller, ErrorData> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<McpCaller>())
        .cloned()
        .ok_or_else(|| {
            ErrorData::internal_error("request reached the MCP handler unauthenticated", None)
        })
}

fn tools_for(toolset: Toolset) -> &'static [ToolInfo] {
    match toolset {
        Toolset::Standard => STANDARD,
        Toolset::ChatGpt => CHATGPT,
    }
}

impl ServerHandler for CoderMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            "Coder",
            self.shared.config.version.clone(),
        ))
        .with_instructions(
            "Coder MCP server: manage workspaces and templates, and run commands in workspaces.",
        )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        match self.shared.config.era {
            Era::Stateless => Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS),
            // mcp-go never spoke the session-less 2026 revision.
            Era::Sessions => {
                Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_06_18))
            }
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        let tools = tools_for(caller.toolset)
            .iter()
            .map(|i| self.tool(i))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context)?;
        let Some(info) = tools_for(caller.toolset)
            .iter()
            .find(|i| i.name == request.name)
        else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {:?}", request.name),
                None,
            ));
        };
        let args = request.arguments.unwrap_or_default();
        self.shared.counters.tool_called(info.name);
        let result = run::run(&self.shared, &caller.user, info, args, context.ct.clone()).await;
        Ok(result.into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                "coder_agents_delegate",
                Some("Delegate a task to a Coder agent running in a workspace."),
                Some(vec![
                    PromptArgument::new("task")
                        .with_description("What the agent should do.")
                        .with_required(true),
                ]),
            ),
            Prompt::new(
                "coder_agents_check",
                Some("Check on the tasks delegated to Coder agents."),
                None::<Vec<PromptArgument>>,
            ),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let text = match request.name.as_str() {
            "coder_agents_delegate" => {
                let task = request
                    .arguments
                    .as_ref()
                    .and_then(|a| a.get("task"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| {
                        ErrorData::invalid_params("missing required argument \"task\"", None)
                    })?;
                format!(
                    "Create a Coder task for the following work, pick a suitable template, and report the task ID: {task}"
                )
            }
            "coder_agents_check" => {
                "List the Coder tasks you delegated and summarise the status of each.".to_owned()
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown prompt {other:?}"),
                    None,
                ));
            }
        };
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).into())
    }
}

/// A tool error result with Coder's text.
pub(crate) fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}
