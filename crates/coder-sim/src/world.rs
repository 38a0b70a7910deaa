//! The deployment's contents: templates and workspaces (with a tiny file
//! system each) that the MCP tools read and really change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::User;

mod authoring;

pub use authoring::Task;

#[derive(Debug, Clone, Serialize)]
pub struct TemplateParameter {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub default_value: String,
    pub required: bool,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Template {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub icon: String,
    pub active_version_id: Uuid,
    #[serde(skip)]
    pub parameters: Vec<TemplateParameter>,
    /// Every version of this template, the active one included.
    #[serde(skip)]
    pub versions: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub id: Uuid,
    pub build_number: u32,
    pub transition: String,
    pub status: String,
    pub template_version_id: Uuid,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub owner_id: Uuid,
    pub owner_name: String,
    pub template_id: Uuid,
    pub template_name: String,
    pub latest_build: Build,
    pub rich_parameters: BTreeMap<String, String>,
    /// The workspace's single agent, `main`.
    pub agent_id: Uuid,
    #[serde(skip)]
    pub files: BTreeMap<String, Vec<u8>>,
    #[serde(skip)]
    pub dirs: BTreeSet<String>,
    #[serde(skip)]
    pub build_logs: Vec<String>,
}

impl Workspace {
    pub fn is_running(&self) -> bool {
        self.latest_build.status == "running"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorldError {
    #[error("workspace {0:?} not found")]
    WorkspaceNotFound(String),
    #[error("template version {0} not found")]
    VersionNotFound(String),
    #[error("template {0} not found")]
    TemplateNotFound(String),
    #[error("a workspace named {0:?} already exists")]
    NameTaken(String),
    #[error("invalid transition {0:?}: expected start, stop or delete")]
    BadTransition(String),
    #[error("All workspaces must be deleted before a template can be removed.")]
    TemplateInUse,
    #[error("workspace {0:?} is deleted")]
    Deleted(String),
    #[error("parameter {0:?} is required")]
    MissingParameter(String),
    #[error("task {0} not found")]
    TaskNotFound(String),
    #[error("uploaded file {0} not found")]
    UploadNotFound(String),
    #[error("a template named {0:?} already exists")]
    TemplateNameTaken(String),
}

impl WorldError {
    /// A stable code for tests and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WorkspaceNotFound(_) => "workspace_not_found",
            Self::VersionNotFound(_) => "template_version_not_found",
            Self::TemplateNotFound(_) => "template_not_found",
            Self::NameTaken(_) => "workspace_name_taken",
            Self::BadTransition(_) => "bad_transition",
            Self::TemplateInUse => "template_in_use",
            Self::Deleted(_) => "workspace_deleted",
            Self::MissingParameter(_) => "missing_parameter",
            Self::TaskNotFound(_) => "task_not_found",
            Self::UploadNotFound(_) => "upload_not_found",
            Self::TemplateNameTaken(_) => "template_name_taken",
        }
    }
}

#[derive(Debug)]
struct Data {
    templates: Vec<Template>,
    workspaces: Vec<Workspace>,
    tasks: Vec<Task>,
    /// Uploaded template sources by file id (`coder_upload_tar_file`).
    uploads: BTreeMap<Uuid, BTreeMap<String, String>>,
    /// Template versions created without a template yet, with their upload.
    loose_versions: BTreeMap<Uuid, Uuid>,
}

#[derive(Debug)]
pub(crate) struct World {
    data: Mutex<Data>,
}

fn param(name: &str, description: &str, default: &str, options: &[&str]) -> TemplateParameter {
    TemplateParameter {
        name: name.into(),
        description: description.into(),
        kind: "string".into(),
        default_value: default.into(),
        required: default.is_empty(),
        options: options.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn template(
    name: &str,
    display: &str,
    description: &str,
    params: Vec<TemplateParameter>,
) -> Template {
    let version = Uuid::new_v4();
    Template {
        id: Uuid::new_v4(),
        name: name.into(),
        display_name: display.into(),
        description: description.into(),
        icon: String::new(),
        active_version_id: version,
        parameters: params,
        versions: vec![version],
    }
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl World {
    /// Seeds three templates and three workspaces for `owner` (one stopped).
    pub fn seeded(owner: &User) -> Self {
        let templates = vec![
            template(
                "docker",
                "Docker Containers",
                "Develop in a Docker container",
                vec![param("cpu", "Number of CPU cores", "2", &["2", "4", "8"])],
            ),
            template(
                "kubernetes",
                "Kubernetes Pod",
                "Develop in a Kubernetes pod",
                vec![
                    param("namespace", "Kubernetes namespace", "", &[]),
                    param("memory", "Memory in GiB", "4", &["4", "8", "16"]),
                ],
            ),
            template(
                "aws-linux",
                "AWS EC2 (Linux)",
                "Develop on an EC2 VM",
                vec![],
            ),
        ];
        let world = Self {
            data: Mutex::new(Data {
                templates,
                workspaces: Vec::new(),
                tasks: Vec::new(),
                uploads: BTreeMap::new(),
                loose_versions: BTreeMap::new(),
            }),
        };
        for (name, template, running) in [
            ("dev", "docker", true),
            ("backend", "docker", false),
            ("k8s-lab", "kubernetes", true),
        ] {
            let version = world
                .template_by_name(template)
                .map(|t| t.active_version_id);
            if let Some(version) = version {
                let params = BTreeMap::from([("namespace".to_owned(), "lab".to_owned())]);
                let created = world.create_workspace(owner, version, name, params);
                if let (Ok(ws), false) = (created, running) {
                    let _ = world.build(ws.id, "stop", None);
                }
            }
        }
        world
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn templates(&self) -> Vec<Template> {
        self.lock().templates.clone()
    }

    fn template_by_name(&self, name: &str) -> Option<Template> {
        self.lock()
            .templates
            .iter()
            .find(|t| t.name == name)
            .cloned()
    }

    pub fn template_by_version(&self, version: Uuid) -> Option<Template> {
        self.lock()
            .templates
            .iter()
            .find(|t| t.versions.contains(&version))
            .cloned()
    }

    pub fn workspaces(&self, owner: Option<&str>) -> Vec<Workspace> {
        self.lock()
            .workspaces
            .iter()
            .filter(|w| w.latest_build.status != "deleted")
            .filter(|w| owner.is_none_or(|o| o == w.owner_name))
            .cloned()
            .collect()
    }

    pub fn workspace(&self, id: Uuid) -> Option<Workspace> {
        self.lock().workspaces.iter().find(|w| w.id == id).cloned()
    }

    /// Resolves Coder's `[owner/]workspace[.agent]` form; the owner defaults
    /// to the caller.
    pub fn resolve(&self, caller: &User, reference: &str) -> Result<Uuid, WorldError> {
        let (owner, rest) = reference
            .split_once('/')
            .unwrap_or((caller.username.as_str(), reference));
        let name = rest.split_once('.').map_or(rest, |(name, _agent)| name);
        self.lock()
            .workspaces
            .iter()
            .find(|w| w.owner_name == owner && w.name == name && w.latest_build.status != "deleted")
            .map(|w| w.id)
            .ok_or_else(|| WorldError::WorkspaceNotFound(reference.to_owned()))
    }

    pub fn create_workspace(
        &self,
        owner: &User,
        version: Uuid,
        name: &str,
        mut params: BTreeMap<String, String>,
    ) -> Result<Workspace, WorldError> {
        let template = self
            .template_by_version(version)
            .ok_or_else(|| WorldError::VersionNotFound(version.to_string()))?;
        let mut rich = BTreeMap::new();
        for p in &template.parameters {
            match params.remove(&p.name) {
                Some(v) => rich.insert(p.name.clone(), v),
                None if p.required => return Err(WorldError::MissingParameter(p.name.clone())),
                None => rich.insert(p.name.clone(), p.default_value.clone()),
            };
        }
        let mut data = self.lock();
        let taken = data.workspaces.iter().any(|w| {
            w.owner_id == owner.id && w.name == name && w.latest_build.status != "deleted"
        });
        if taken {
            return Err(WorldError::NameTaken(name.to_owned()));
        }
        let home = "/home/coder".to_owned();
        let files = BTreeMap::from([
            (
                format!("{home}/README.md"),
                format!(
                    "# {name}\n\nA workspace from the {} template.\n",
                    template.name
                )
                .into_bytes(),
            ),
            (
                format!("{home}/project/main.go"),
                b"package main\n\nfunc main() { println(\"hello from coder\") }\n".to_vec(),
            ),
            (
                format!("{home}/project/go.mod"),
                b"module example.com/project\n\ngo 1.22\n".to_vec(),
            ),
        ]);
        let dirs = BTreeSet::from([
            "/".to_owned(),
            "/home".to_owned(),
            home.clone(),
            format!("{home}/project"),
        ]);
        let workspace = Workspace {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            owner_id: owner.id,
            owner_name: owner.username.clone(),
            template_id: template.id,
            template_name: template.name.clone(),
            latest_build: Build {
                id: Uuid::new_v4(),
                build_number: 1,
                transition: "start".into(),
                status: "running".into(),
                template_version_id: version,
                created_at: now(),
            },
            rich_parameters: rich,
            agent_id: Uuid::new_v4(),
            files,
            dirs,
            build_logs: build_log(1, "start", &template.name),
        };
        data.workspaces.push(workspace.clone());
        Ok(workspace)
    }

    /// Starts, stops or deletes a workspace; the build completes at once.
    pub fn build(
        &self,
        id: Uuid,
        transition: &str,
        version: Option<Uuid>,
    ) -> Result<Build, WorldError> {
        let status = match transition {
            "start" => "running",
            "stop" => "stopped",
            "delete" => "deleted",
            other => return Err(WorldError::BadTransition(other.to_owned())),
        };
        if let Some(v) = version
            && self.template_by_version(v).is_none()
        {
            return Err(WorldError::VersionNotFound(v.to_string()));
        }
        let mut data = self.lock();
        let ws = data
            .workspaces
            .iter_mut()
            .find(|w| w.id == id)
            .ok_or_else(|| WorldError::WorkspaceNotFound(id.to_string()))?;
        if ws.latest_build.status == "deleted" {
            return Err(WorldError::Deleted(ws.name.clone()));
        }
        let number = ws.latest_build.build_number + 1;
        ws.latest_build = Build {
            id: Uuid::new_v4(),
            build_number: number,
            transition: transition.to_owned(),
            status: status.to_owned(),
            template_version_id: version.unwrap_or(ws.latest_build.template_version_id),
            created_at: now(),
        };
        ws.build_logs = build_log(number, transition, &ws.template_name);
        Ok(ws.latest_build.clone())
    }

    /// Starts the workspace if it is stopped, as Coder's workspace-by-name
    /// tools do. Returns whether it had to be started.
    pub fn ensure_running(&self, id: Uuid) -> Result<bool, WorldError> {
        let running = self
            .workspace(id)
            .ok_or_else(|| WorldError::WorkspaceNotFound(id.to_string()))?
            .is_running();
        if running {
            return Ok(false);
        }
        self.build(id, "start", None)?;
        Ok(true)
    }

    pub fn delete_template(&self, id: Uuid) -> Result<Template, WorldError> {
        let mut data = self.lock();
        let index = data
            .templates
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| WorldError::TemplateNotFound(id.to_string()))?;
        let in_use = data
            .workspaces
            .iter()
            .any(|w| w.template_id == id && w.latest_build.status != "deleted");
        if in_use {
            return Err(WorldError::TemplateInUse);
        }
        Ok(data.templates.remove(index))
    }

    /// Runs `f` on the workspace's file system.
    pub fn with_files<T>(&self, id: Uuid, f: impl FnOnce(&mut Workspace) -> T) -> Option<T> {
        let mut data = self.lock();
        data.workspaces.iter_mut().find(|w| w.id == id).map(f)
    }
}

fn build_log(number: u32, transition: &str, template: &str) -> Vec<String> {
    vec![
        format!("Build #{number}: {transition} requested"),
        format!("Initializing terraform for template {template}"),
        "Terraform plan: 2 to add, 0 to change, 0 to destroy".to_owned(),
        format!("Applying {transition} transition"),
        format!("Build #{number} succeeded"),
    ]
}
