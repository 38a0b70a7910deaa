//! Template authoring (upload → version → template → active version) and
//! Coder tasks (a prompt run by an agent in its own workspace).

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

use super::{Template, World, WorldError, now, template};
use crate::store::User;

#[derive(Debug, Clone, Serialize)]
pub struct TaskMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: Uuid,
    pub name: String,
    pub owner_name: String,
    pub workspace_id: Uuid,
    pub status: String,
    pub initial_prompt: String,
    pub created_at: String,
    #[serde(skip)]
    pub log: Vec<TaskMessage>,
}

/// What the simulated agent answers: deterministic, so tests can assert it.
fn agent_reply(input: &str) -> TaskMessage {
    TaskMessage {
        role: "agent".into(),
        content: format!("Done: {input}"),
    }
}

impl World {
    /// `coder_upload_tar_file`: keeps the files, returns their id.
    pub fn upload(&self, files: BTreeMap<String, String>) -> Uuid {
        let id = Uuid::new_v4();
        self.lock().uploads.insert(id, files);
        id
    }

    /// `coder_create_template_version`: a version from an upload, attached to
    /// a template when one is named (without becoming active).
    pub fn create_version(
        &self,
        file_id: Uuid,
        template_id: Option<Uuid>,
    ) -> Result<Uuid, WorldError> {
        let mut data = self.lock();
        if !data.uploads.contains_key(&file_id) {
            return Err(WorldError::UploadNotFound(file_id.to_string()));
        }
        let version = Uuid::new_v4();
        match template_id {
            Some(id) => data
                .templates
                .iter_mut()
                .find(|t| t.id == id)
                .ok_or_else(|| WorldError::TemplateNotFound(id.to_string()))?
                .versions
                .push(version),
            None => {
                data.loose_versions.insert(version, file_id);
            }
        }
        Ok(version)
    }

    /// `coder_create_template`: a template whose active version is `version`.
    pub fn create_template(
        &self,
        name: &str,
        display: &str,
        description: &str,
        icon: &str,
        version: Uuid,
    ) -> Result<Template, WorldError> {
        let mut data = self.lock();
        if data.templates.iter().any(|t| t.name == name) {
            return Err(WorldError::TemplateNameTaken(name.to_owned()));
        }
        if data.loose_versions.remove(&version).is_none() {
            return Err(WorldError::VersionNotFound(version.to_string()));
        }
        let mut created = template(name, display, description, Vec::new());
        created.icon = icon.to_owned();
        created.active_version_id = version;
        created.versions = vec![version];
        data.templates.push(created.clone());
        Ok(created)
    }

    /// `coder_update_template_active_version`.
    pub fn set_active_version(
        &self,
        template_id: Uuid,
        version: Uuid,
    ) -> Result<Template, WorldError> {
        let mut data = self.lock();
        let found = data
            .templates
            .iter_mut()
            .find(|t| t.id == template_id)
            .ok_or_else(|| WorldError::TemplateNotFound(template_id.to_string()))?;
        if !found.versions.contains(&version) {
            return Err(WorldError::VersionNotFound(version.to_string()));
        }
        found.active_version_id = version;
        Ok(found.clone())
    }

    /// The log of the build that produced a template version.
    pub fn version_logs(&self, version: Uuid) -> Result<Vec<String>, WorldError> {
        let data = self.lock();
        let known = data.loose_versions.contains_key(&version)
            || data.templates.iter().any(|t| t.versions.contains(&version));
        if !known {
            return Err(WorldError::VersionNotFound(version.to_string()));
        }
        Ok(vec![
            format!("Template version {version}: parsing"),
            "Detected 1 resource, 0 parameters".to_owned(),
            format!("Template version {version}: import succeeded"),
        ])
    }

    /// `coder_create_task`: creates the task's workspace and runs the prompt.
    pub fn create_task(
        &self,
        owner: &User,
        version: Uuid,
        prompt: &str,
    ) -> Result<Task, WorldError> {
        let name = format!("task-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let workspace = self.create_workspace(owner, version, &name, BTreeMap::new())?;
        let task = Task {
            id: Uuid::new_v4(),
            name,
            owner_name: owner.username.clone(),
            workspace_id: workspace.id,
            status: "idle".into(),
            initial_prompt: prompt.to_owned(),
            created_at: now(),
            log: vec![
                TaskMessage {
                    role: "user".into(),
                    content: prompt.to_owned(),
                },
                agent_reply(prompt),
            ],
        };
        self.lock().tasks.push(task.clone());
        Ok(task)
    }

    pub fn tasks(&self, owner: &str) -> Vec<Task> {
        self.lock()
            .tasks
            .iter()
            .filter(|t| t.owner_name == owner)
            .cloned()
            .collect()
    }

    pub fn task(&self, id: Uuid) -> Result<Task, WorldError> {
        self.lock()
            .tasks
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or_else(|| WorldError::TaskNotFound(id.to_string()))
    }

    pub fn send_task_input(&self, id: Uuid, input: &str) -> Result<Task, WorldError> {
        let mut data = self.lock();
        let task = data
            .tasks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| WorldError::TaskNotFound(id.to_string()))?;
        task.log.push(TaskMessage {
            role: "user".into(),
            content: input.to_owned(),
        });
        task.log.push(agent_reply(input));
        Ok(task.clone())
    }

    /// `coder_delete_task`: the task and its workspace are gone.
    pub fn delete_task(&self, id: Uuid) -> Result<Task, WorldError> {
        let task = {
            let mut data = self.lock();
            let index = data
                .tasks
                .iter()
                .position(|t| t.id == id)
                .ok_or_else(|| WorldError::TaskNotFound(id.to_string()))?;
            data.tasks.remove(index)
        };
        self.build(task.workspace_id, "delete", None)?;
        Ok(task)
    }
}
