//! Template-authoring and task tools.

use rmcp::model::JsonObject;
use serde_json::json;

use super::run::{Outcome, failed, parse, resolve_user, uuid};
use super::{ToolInfo, args, tool_error};
use crate::state::Shared;
use crate::store::User;

pub(super) fn dispatch(
    shared: &Shared,
    user: &User,
    info: &ToolInfo,
    name: &str,
    args: JsonObject,
) -> Outcome {
    let world = &shared.world;
    match name {
        "coder_get_template_version_logs" => {
            let a: args::TemplateVersionId = parse(info, args)?;
            let id = uuid("template_version_id", &a.template_version_id)?;
            Ok(json!(world.version_logs(id).map_err(failed)?))
        }
        "coder_upload_tar_file" => {
            let a: args::UploadTar = parse(info, args)?;
            let count = a.files.len();
            Ok(json!({ "hash": world.upload(a.files), "files": count }))
        }
        "coder_create_template_version" => {
            let a: args::CreateTemplateVersion = parse(info, args)?;
            let file = uuid("file_id", &a.file_id)?;
            let template = a
                .template_id
                .as_deref()
                .map(|t| uuid("template_id", t))
                .transpose()?;
            let version = world.create_version(file, template).map_err(failed)?;
            Ok(json!({ "id": version, "template_id": template, "job": { "status": "succeeded" } }))
        }
        "coder_create_template" => {
            let a: args::CreateTemplate = parse(info, args)?;
            let version = uuid("version_id", &a.version_id)?;
            let template = world
                .create_template(
                    &a.name,
                    &a.display_name,
                    &a.description,
                    a.icon.as_deref().unwrap_or(""),
                    version,
                )
                .map_err(failed)?;
            Ok(json!(template))
        }
        "coder_update_template_active_version" => {
            let a: args::UpdateActiveVersion = parse(info, args)?;
            let template = uuid("template_id", &a.template_id)?;
            let version = uuid("template_version_id", &a.template_version_id)?;
            Ok(json!(
                world
                    .set_active_version(template, version)
                    .map_err(failed)?
            ))
        }
        "coder_create_task" => {
            let a: args::CreateTask = parse(info, args)?;
            let owner = resolve_user(shared, user, a.user.as_deref().unwrap_or("me"))?;
            let version = match a.template_version_id.as_deref() {
                Some(v) => uuid("template_version_id", v)?,
                None => world
                    .templates()
                    .first()
                    .map(|t| t.active_version_id)
                    .ok_or_else(|| tool_error("no template to create the task's workspace from"))?,
            };
            Ok(json!(
                world
                    .create_task(&owner, version, &a.input)
                    .map_err(failed)?
            ))
        }
        "coder_list_tasks" => {
            let a: args::ListTasks = parse(info, args)?;
            let owner = resolve_user(shared, user, a.user.as_deref().unwrap_or("me"))?;
            let tasks: Vec<_> = world
                .tasks(&owner.username)
                .into_iter()
                .filter(|t| a.status.as_deref().is_none_or(|s| s == t.status))
                .collect();
            Ok(json!({ "tasks": tasks }))
        }
        "coder_get_task_status" => {
            let a: args::TaskId = parse(info, args)?;
            let task = world.task(uuid("task_id", &a.task_id)?).map_err(failed)?;
            Ok(json!({ "status": task.status, "workspace_id": task.workspace_id }))
        }
        "coder_get_task_logs" => {
            let a: args::TaskId = parse(info, args)?;
            let task = world.task(uuid("task_id", &a.task_id)?).map_err(failed)?;
            Ok(json!({ "logs": task.log }))
        }
        "coder_send_task_input" => {
            let a: args::TaskInput = parse(info, args)?;
            let task = world
                .send_task_input(uuid("task_id", &a.task_id)?, &a.input)
                .map_err(failed)?;
            Ok(json!({ "id": task.id, "status": task.status, "last": task.log.last() }))
        }
        "coder_delete_task" => {
            let a: args::TaskId = parse(info, args)?;
            let task = world
                .delete_task(uuid("task_id", &a.task_id)?)
                .map_err(failed)?;
            Ok(json!({ "deleted": true, "id": task.id }))
        }
        other => Err(tool_error(format!(
            "tool {other} is not implemented by this deployment"
        ))),
    }
}
