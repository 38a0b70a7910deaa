//! Template authoring, tasks and the remaining workspace tools.

use coder_sim::SimConfig;
use serde_json::{Value, json};

use crate::support::*;

fn id(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {value}"))
        .to_owned()
}

#[tokio::test]
async fn template_authoring_chain() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let client = mcp_client(sim.mcp_url().as_str(), &sim.session_token()).await;
        let upload = result_json(
            &call(
                &client,
                "coder_upload_tar_file",
                json!({"files": {"main.tf": "resource \"null\" \"x\" {}"}}),
            )
            .await,
        );
        let file = id(&upload, "hash");
        let version = result_json(
            &call(
                &client,
                "coder_create_template_version",
                json!({"file_id": file}),
            )
            .await,
        );
        let version = id(&version, "id");
        let template = result_json(&call(&client, "coder_create_template", json!({
            "name": "nix", "display_name": "Nix", "description": "Nix shells", "version_id": version
        })).await);
        assert_eq!(template["active_version_id"], version.as_str());
        let again = call(
            &client,
            "coder_create_template",
            json!({
                "name": "nix", "display_name": "Nix", "description": "dup", "version_id": version
            }),
        )
        .await;
        assert_eq!(
            again.is_error,
            Some(true),
            "names are unique and versions adopted once"
        );
        let logs = result_json(
            &call(
                &client,
                "coder_get_template_version_logs",
                json!({"template_version_id": version}),
            )
            .await,
        );
        assert!(logs.as_array().is_some_and(|l| !l.is_empty()));
        let created = result_json(&call(&client, "coder_create_workspace", json!({
            "user": "me", "template_version_id": version, "name": "nixy", "rich_parameters": {}
        })).await);
        assert_eq!(created["template_name"], "nix");
        let next = result_json(
            &call(
                &client,
                "coder_create_template_version",
                json!({"file_id": file, "template_id": template["id"]}),
            )
            .await,
        );
        let updated = result_json(
            &call(
                &client,
                "coder_update_template_active_version",
                json!({
                    "template_id": template["id"], "template_version_id": next["id"]
                }),
            )
            .await,
        );
        assert_eq!(updated["active_version_id"], next["id"]);
        client.cancel().await.expect("close");
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn tasks_lifecycle() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let client = mcp_client(sim.mcp_url().as_str(), &sim.session_token()).await;
        let task = result_json(
            &call(
                &client,
                "coder_create_task",
                json!({"input": "write tests"}),
            )
            .await,
        );
        let task_id = id(&task, "id");
        let listed = result_json(&call(&client, "coder_list_tasks", json!({})).await);
        assert_eq!(listed["tasks"].as_array().map(Vec::len), Some(1));
        let status = result_json(
            &call(
                &client,
                "coder_get_task_status",
                json!({"task_id": task_id}),
            )
            .await,
        );
        assert_eq!(status["status"], "idle");
        call(
            &client,
            "coder_send_task_input",
            json!({"task_id": task_id, "input": "and docs"}),
        )
        .await;
        let logs =
            result_json(&call(&client, "coder_get_task_logs", json!({"task_id": task_id})).await);
        let contents: Vec<&str> = logs["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .filter_map(|m| m["content"].as_str())
            .collect();
        assert_eq!(
            contents,
            [
                "write tests",
                "Done: write tests",
                "and docs",
                "Done: and docs"
            ]
        );
        call(&client, "coder_delete_task", json!({"task_id": task_id})).await;
        let gone = call(
            &client,
            "coder_get_task_status",
            json!({"task_id": task_id}),
        )
        .await;
        assert_eq!(gone.is_error, Some(true));
        let workspace = result_json(
            &call(
                &client,
                "coder_get_workspace",
                json!({"workspace_id": task["workspace_id"]}),
            )
            .await,
        );
        assert_eq!(
            workspace["latest_build"]["status"], "deleted",
            "the task's workspace goes with it"
        );
        client.cancel().await.expect("close");
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn more_workspace_tools() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let client = mcp_client(sim.mcp_url().as_str(), &sim.session_token()).await;
        let forward = result_json(&call(&client, "coder_workspace_port_forward", json!({"workspace": "backend", "port": 8080})).await);
        assert!(forward["url"].as_str().expect("url").starts_with("http://8080--main--backend--demo."));
        assert_eq!(forward["workspace_started"], true, "port forwarding starts a stopped workspace");
        let apps = result_json(&call(&client, "coder_workspace_list_apps", json!({"workspace": "dev"})).await);
        assert!(apps["apps"].as_array().is_some_and(|a| !a.is_empty()));
        assert!(apps.get("workspace_started").is_none(), "dev was already running");
        let edited = call(&client, "coder_workspace_edit_files", json!({"workspace": "dev", "files": [
            {"path": "/home/coder/project/main.go", "edits": [{"search": "hello from coder", "replace": "hello, edited"}]}
        ]})).await;
        assert_ne!(edited.is_error, Some(true));
        let read = result_json(&call(&client, "coder_workspace_read_file", json!({"workspace": "dev", "path": "/home/coder/project/main.go"})).await);
        assert!(read["content"].as_str().expect("content").contains("hello, edited"));
        let workspaces = result_json(&call(&client, "coder_list_workspaces", json!({})).await);
        let agent = workspaces[0]["agent_id"].clone();
        let logs = result_json(&call(&client, "coder_get_workspace_agent_logs", json!({"workspace_agent_id": agent})).await);
        assert!(logs.as_array().is_some_and(|l| !l.is_empty()));
        client.cancel().await.expect("close");
        sim.shutdown().await;
    })
    .await;
}
