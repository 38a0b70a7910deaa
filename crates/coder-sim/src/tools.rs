//! Coder's MCP tools and prompts, served through rmcp.
//!
//! The handler is written against `ServerHandler` directly rather than the
//! `#[tool]` macros because Coder answers bad arguments with a tool error
//! whose text is `{"error":…,"expectedSchema":…}`, not a JSON-RPC error.

mod args;
mod authoring;
mod catalog;
pub mod probe;
mod run;
mod workspace;

use catalog::ToolKind::{Irreversible, ReadOnly, StateChanging};
use catalog::{CHATGPT, STANDARD};
pub use catalog::{ToolInfo, ToolKind, tool_catalog};

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult, ListToolsResult,
    PaginatedRequestParams, Prompt, PromptArgument, PromptMessage, ProtocolVersion, Role,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::config::Era;
use crate::state::Shared;
use crate::store::User;

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
        let description = self
            .shared
            .faults
            .description_of(info.name, info.description);
        let tool = Tool::new(info.name, description, (info.schema)());
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

    /// The probe tools, when the configuration serves them.
    fn probe_tools(&self) -> Vec<Tool> {
        if !self.shared.config.probe_tools {
            return Vec::new();
        }
        let faults = &self.shared.faults;
        probe::tools(
            |name, original| faults.description_of(name, original),
            faults.probe_param_header(),
        )
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

    /// Only the probe tools are described here: the transport validates
    /// `Mcp-Param-*` headers against these schemas, and Coder's own tools
    /// declare none.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.probe_tools().into_iter().find(|t| t.name == name)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        let mut tools: Vec<Tool> = tools_for(caller.toolset)
            .iter()
            .map(|i| self.tool(i))
            .collect();
        tools.extend(self.probe_tools());
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context)?;
        self.shared
            .counters
            .call_seen(&request.name, seen_call(&context));
        if self.shared.config.probe_tools
            && let Some(response) = probe::call(&request)
        {
            self.shared.counters.tool_called(&request.name);
            return Ok(response);
        }
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

/// The `_meta` and `Mcp-*` headers a call arrived with, for tests to check
/// what a relay forwarded.
fn seen_call(context: &RequestContext<RoleServer>) -> crate::SeenCall {
    let header = |name: &str| {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    crate::SeenCall {
        meta: serde_json::to_value(&context.meta).unwrap_or_default(),
        mcp_method: header("mcp-method"),
        mcp_name: header("mcp-name"),
    }
}

/// A tool error result with Coder's text.
pub(crate) fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}
