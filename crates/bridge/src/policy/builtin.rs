//! What a tool does when nobody has said otherwise.
//!
//! Newer Coder deployments annotate every tool (`readOnlyHint`,
//! `destructiveHint`); older ones send nothing, so the bridge carries a table
//! of Coder's own tools. Some facts are only in the table whatever the
//! deployment sends: which tools cannot be undone and which ones silently start
//! a stopped workspace.

use rmcp::model::{JsonObject, ToolAnnotations};

use super::Decision;

/// Whether a known tool changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    ReadOnly,
    StateChanging,
}

/// One row of the built-in table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinTool {
    pub name: &'static str,
    pub effect: Effect,
    /// The call cannot be undone (a template or task is gone for good).
    pub irreversible: bool,
    /// The tool addresses a workspace by name and starts it when it is stopped.
    pub starts_workspace: bool,
}

const fn read_only(name: &'static str) -> BuiltinTool {
    BuiltinTool {
        name,
        effect: Effect::ReadOnly,
        irreversible: false,
        starts_workspace: false,
    }
}

const fn changes(name: &'static str) -> BuiltinTool {
    BuiltinTool {
        name,
        effect: Effect::StateChanging,
        irreversible: false,
        starts_workspace: false,
    }
}

const fn irreversible(mut tool: BuiltinTool) -> BuiltinTool {
    tool.irreversible = true;
    tool
}

const fn starts_workspace(mut tool: BuiltinTool) -> BuiltinTool {
    tool.starts_workspace = true;
    tool
}

/// Coder's tools (`toolsdk.All` as served on `/api/experimental/mcp/http`,
/// plus the `toolset=chatgpt` pair), 2025–2026 releases.
pub const CODER_TOOLS: &[BuiltinTool] = &[
    read_only("coder_get_authenticated_user"),
    read_only("coder_list_workspaces"),
    read_only("coder_get_workspace"),
    read_only("coder_list_templates"),
    read_only("coder_template_version_parameters"),
    read_only("coder_get_workspace_agent_logs"),
    read_only("coder_get_workspace_build_logs"),
    read_only("coder_get_template_version_logs"),
    starts_workspace(read_only("coder_workspace_ls")),
    starts_workspace(read_only("coder_workspace_read_file")),
    starts_workspace(read_only("coder_workspace_port_forward")),
    starts_workspace(read_only("coder_workspace_list_apps")),
    read_only("coder_list_tasks"),
    read_only("coder_get_task_status"),
    read_only("coder_get_task_logs"),
    read_only("search"),
    read_only("fetch"),
    changes("coder_create_workspace"),
    // Irreversible only with `transition: delete`; see `irreversible_call`.
    changes("coder_create_workspace_build"),
    changes("coder_upload_tar_file"),
    changes("coder_create_template_version"),
    changes("coder_create_template"),
    changes("coder_update_template_active_version"),
    irreversible(changes("coder_delete_template")),
    starts_workspace(changes("coder_workspace_bash")),
    starts_workspace(changes("coder_workspace_write_file")),
    starts_workspace(changes("coder_workspace_edit_file")),
    starts_workspace(changes("coder_workspace_edit_files")),
    changes("coder_create_task"),
    irreversible(changes("coder_delete_task")),
    changes("coder_send_task_input"),
];

/// The table row for `tool`, if it is one of Coder's.
pub fn lookup(tool: &str) -> Option<&'static BuiltinTool> {
    CODER_TOOLS.iter().find(|t| t.name == tool)
}

/// The default decision the built-in table gives.
pub fn decision_of(effect: Effect) -> Decision {
    match effect {
        Effect::ReadOnly => Decision::Allow,
        Effect::StateChanging => Decision::Ask,
    }
}

/// The decision the annotations imply, or `None` when they say nothing about
/// side effects (a title alone is no annotation for this purpose).
///
/// MCP defaults: `readOnlyHint` false, `destructiveHint` true. Anything not
/// read-only asks, destructive or merely additive.
pub fn annotation_decision(annotations: Option<&ToolAnnotations>) -> Option<Decision> {
    let a = annotations?;
    if a.read_only_hint.is_none() && a.destructive_hint.is_none() {
        return None;
    }
    if a.read_only_hint == Some(true) {
        Some(Decision::Allow)
    } else {
        Some(Decision::Ask)
    }
}

/// Whether the tool's annotations say it may destroy data. Only asked of
/// tools the table does not know: for Coder's own, the table says more.
pub fn destructive_hint(info: Option<&rmcp::model::Tool>) -> bool {
    info.and_then(|t| t.annotations.as_ref())
        .is_some_and(|a| a.read_only_hint != Some(true) && a.destructive_hint == Some(true))
}

/// Whether this particular call cannot be undone, looking at its arguments
/// where the tool alone does not tell (a build with `transition: delete`).
pub fn irreversible_call(tool: &str, arguments: Option<&JsonObject>) -> bool {
    if lookup(tool).is_some_and(|t| t.irreversible) {
        return true;
    }
    tool == "coder_create_workspace_build"
        && arguments
            .and_then(|a| a.get("transition"))
            .and_then(|t| t.as_str())
            .is_some_and(|t| t.eq_ignore_ascii_case("delete"))
}
