//! Tool inputs. `deny_unknown_fields` makes schemars emit
//! `additionalProperties: false`, as Coder's schemas do, and makes serde
//! refuse the same extra fields Coder refuses.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWorkspaces {
    /// The owner of the workspaces to list. Use "me" for the authenticated user.
    pub owner: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceId {
    /// The workspace ID (a UUID).
    pub workspace_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateVersionId {
    /// The template version ID (a UUID).
    pub template_version_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildLogs {
    /// The workspace build ID (a UUID).
    pub workspace_build_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceLs {
    /// The workspace: `[owner/]workspace[.agent]`.
    pub workspace: String,
    /// The absolute path of the directory to list.
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFile {
    /// The workspace: `[owner/]workspace[.agent]`.
    pub workspace: String,
    /// The absolute path of the file to read.
    pub path: String,
    /// A byte offset to start reading from.
    pub offset: Option<u64>,
    /// The number of bytes to read.
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    /// The workspace: `[owner/]workspace[.agent]`.
    pub workspace: String,
    /// The absolute path of the file to write.
    pub path: String,
    /// The base64-encoded bytes to write to the file.
    pub content: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// The exact text to replace.
    pub search: String,
    /// The replacement text.
    pub replace: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFile {
    /// The workspace: `[owner/]workspace[.agent]`.
    pub workspace: String,
    /// The absolute path of the file to edit.
    pub path: String,
    /// Edits applied in order.
    pub edits: Vec<Edit>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    /// The user to create the workspace for. Use "me" for the authenticated user.
    pub user: String,
    /// The template version ID to create the workspace from.
    pub template_version_id: String,
    /// The name of the new workspace.
    pub name: String,
    /// Values for the template's rich parameters.
    pub rich_parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Start,
    Stop,
    Delete,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Delete => "delete",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceBuild {
    /// The workspace ID (a UUID).
    pub workspace_id: String,
    /// The transition to perform.
    pub transition: Transition,
    /// Optional template version to build with (defaults to the current one).
    pub template_version_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bash {
    /// The workspace: `[owner/]workspace[.agent]`.
    pub workspace: String,
    /// The command to run.
    pub command: String,
    /// Timeout in milliseconds (default 60000).
    pub timeout_ms: Option<u64>,
    /// Run the command in the background and return at once.
    pub background: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteTemplate {
    /// The template ID (a UUID).
    pub template_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// What to look for in workspace and template names.
    pub query: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// An id returned by search, such as `workspace:<uuid>`.
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentLogs {
    /// The workspace agent ID (a UUID).
    pub workspace_agent_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceOnly {
    /// The workspace: `[owner/]workspace[.agent]`.
    pub workspace: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortForward {
    /// The workspace: `[owner/]workspace[.agent]`.
    pub workspace: String,
    /// The port to forward.
    pub port: u16,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEdits {
    /// The absolute path of the file to edit.
    pub path: String,
    /// Edits applied in order.
    pub edits: Vec<Edit>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFiles {
    /// The workspace: `[owner/]workspace[.agent]`.
    pub workspace: String,
    /// The files to edit.
    pub files: Vec<FileEdits>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadTar {
    /// File contents keyed by path inside the archive.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplateVersion {
    /// The uploaded file ID (from coder_upload_tar_file).
    pub file_id: String,
    /// The template to add the version to, if any.
    pub template_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    /// The template's name.
    pub name: String,
    /// A human-friendly name.
    pub display_name: String,
    /// What the template is for.
    pub description: String,
    /// An icon URL.
    pub icon: Option<String>,
    /// The template version to make active.
    pub version_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateActiveVersion {
    /// The template ID (a UUID).
    pub template_id: String,
    /// The template version to make active.
    pub template_version_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// The prompt for the task's agent.
    pub input: String,
    /// The template version for the task's workspace (default: the first template's active version).
    pub template_version_id: Option<String>,
    /// The user to create the task for. Use "me" for the authenticated user.
    pub user: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasks {
    /// Only tasks with this status.
    pub status: Option<String>,
    /// The owner of the tasks. Use "me" for the authenticated user.
    pub user: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskId {
    /// The task ID (a UUID).
    pub task_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    /// The task ID (a UUID).
    pub task_id: String,
    /// What to tell the task's agent.
    pub input: String,
}
