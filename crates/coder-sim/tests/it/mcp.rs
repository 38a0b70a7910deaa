//! The MCP endpoint: authentication, both eras, tools and prompts.

use coder_sim::{Era, SimConfig, ToolKind, tool_catalog};
use rmcp::model::GetPromptRequestParams;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn unauthenticated_request_gets_coder_401() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let access = sim.url().as_str().trim_end_matches('/').to_owned();
        for token in [None, Some("abcdefghij-abcdefghijklmnopqrstuv"), Some("garbage")] {
            let mut request = http().post(sim.mcp_url()).json(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
            if let Some(token) = token {
                request = request.header("Coder-Session-Token", token);
            }
            let response = request.send().await.expect("post");
            assert_eq!(response.status(), 401);
            let header = response.headers().get("www-authenticate").expect("challenge").to_str().expect("ascii").to_owned();
            assert_eq!(
                header,
                format!(
                    "Bearer realm=\"coder\", error=\"invalid_token\", error_description=\"You are signed out or your session has expired. Please sign in again to continue.\", resource_metadata=\"{access}/.well-known/oauth-protected-resource\""
                )
            );
            let body: Value = response.json().await.expect("json");
            assert!(body["message"].is_string() && body["detail"].is_string(), "{body}");
        }
        assert_eq!(sim.counters().calls_by_tool.len(), 0);
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn every_token_source_is_accepted() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let token = sim.session_token();
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
        let base = || {
            http()
                .post(sim.mcp_url())
                .header("Accept", "application/json, text/event-stream")
                .json(&body)
        };
        let requests = [
            base().header("Coder-Session-Token", &token),
            base().header("Authorization", format!("bearer {token}")),
            base().header("Cookie", format!("coder_session_token={token}")),
            base().query(&[("coder_session_token", &token)]),
        ];
        for request in requests {
            assert_eq!(request.send().await.expect("post").status(), 200);
        }
        let bad_toolset = base()
            .header("Coder-Session-Token", &token)
            .query(&[("toolset", "everything")]);
        assert_eq!(bad_toolset.send().await.expect("post").status(), 400);
        sim.shutdown().await;
    })
    .await;
}

async fn exercise_tools(era: Era) {
    let sim = start(SimConfig::default().era(era)).await;
    let client = mcp_client(sim.mcp_url().as_str(), &sim.session_token()).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("Coder")
    );
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), tool_catalog().len());
    for tool in &tools {
        assert_eq!(
            tool.input_schema.get("additionalProperties"),
            Some(&json!(false)),
            "{}",
            tool.name
        );
        let annotations = tool.annotations.as_ref().expect("annotations");
        let entry = tool_catalog()
            .into_iter()
            .find(|t| t.name == tool.name)
            .expect("catalogued");
        assert_eq!(
            annotations.read_only_hint,
            Some(entry.kind == ToolKind::ReadOnly),
            "{}",
            tool.name
        );
    }
    let me = call(&client, "coder_get_authenticated_user", json!({})).await;
    assert_eq!(result_json(&me)["username"], "demo");
    let workspaces = result_json(&call(&client, "coder_list_workspaces", json!({})).await);
    let backend = workspaces
        .as_array()
        .expect("list")
        .iter()
        .find(|w| w["name"] == "backend")
        .expect("backend")
        .clone();
    assert_eq!(backend["latest_build"]["status"], "stopped");

    // A workspace-by-name tool starts a stopped workspace, and says so.
    let ran = call(
        &client,
        "coder_workspace_bash",
        json!({"workspace": "backend", "command": "echo hello && pwd"}),
    )
    .await;
    assert_ne!(ran.is_error, Some(true));
    let ran = result_json(&ran);
    assert_eq!(ran["output"], "hello\n/home/coder");
    assert_eq!(ran["workspace_started"], true);
    let now = result_json(
        &call(
            &client,
            "coder_get_workspace",
            json!({"workspace_id": backend["id"]}),
        )
        .await,
    );
    assert_eq!(now["latest_build"]["status"], "running");

    let counters = sim.counters();
    assert_eq!(counters.calls_by_tool.get("coder_workspace_bash"), Some(&1));
    assert_eq!(
        counters.calls_by_tool.get("coder_list_workspaces"),
        Some(&1)
    );
    client.cancel().await.expect("client closes");
    sim.shutdown().await;
}

#[tokio::test]
async fn stateless_era_with_rmcp_client() {
    within(exercise_tools(Era::Stateless)).await;
}

#[tokio::test]
async fn sessions_era_with_rmcp_client() {
    within(exercise_tools(Era::Sessions)).await;
}

#[tokio::test]
async fn eras_differ_on_the_wire() {
    within(async {
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        let stateless = start(SimConfig::default()).await;
        let response = mcp_post(&stateless, &stateless.session_token(), init.clone()).await.expect("post");
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("mcp-session-id").is_none());
        assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("application/json"));
        let get = http().get(stateless.mcp_url()).header("Coder-Session-Token", stateless.session_token()).send().await.expect("get");
        assert_eq!(get.status(), 405);
        let delete = http().delete(stateless.mcp_url()).header("Coder-Session-Token", stateless.session_token()).send().await.expect("delete");
        assert_eq!(delete.status(), 405);
        stateless.shutdown().await;

        let sessions = start(SimConfig::default().era(Era::Sessions)).await;
        let response = mcp_post(&sessions, &sessions.session_token(), init).await.expect("post");
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("mcp-session-id").is_some());
        assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/event-stream"));
        sessions.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn bad_arguments_and_tool_errors() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let client = mcp_client_bearer(sim.mcp_url().as_str(), &sim.session_token()).await;
        let bad = call(
            &client,
            "coder_workspace_bash",
            json!({"workspace": "dev", "cmd": "ls"}),
        )
        .await;
        assert_eq!(bad.is_error, Some(true));
        let bad = result_json(&bad);
        assert!(bad["error"].as_str().expect("error").contains("cmd"));
        assert_eq!(bad["expectedSchema"]["additionalProperties"], false);
        let slow = call(
            &client,
            "coder_workspace_bash",
            json!({"workspace": "dev", "command": "sleep 5", "timeout_ms": 100}),
        )
        .await;
        assert_eq!(slow.is_error, Some(true));
        let unknown = result_json(
            &call(
                &client,
                "coder_workspace_bash",
                json!({"workspace": "dev", "command": "frobnicate"}),
            )
            .await,
        );
        assert_eq!(
            (unknown["output"].as_str(), unknown["exit_code"].as_i64()),
            (Some("bash: frobnicate: command not found"), Some(127))
        );
        let missing = call(
            &client,
            "coder_workspace_ls",
            json!({"workspace": "nope", "path": "/home/coder"}),
        )
        .await;
        assert_eq!(missing.is_error, Some(true));
        client.cancel().await.expect("close");
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn tools_change_the_deployment() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let client = mcp_client(sim.mcp_url().as_str(), &sim.session_token()).await;
        let templates = result_json(&call(&client, "coder_list_templates", json!({})).await);
        let docker = templates.as_array().expect("list").iter().find(|t| t["name"] == "docker").expect("docker").clone();
        let aws = templates.as_array().expect("list").iter().find(|t| t["name"] == "aws-linux").expect("aws").clone();
        let params = result_json(&call(&client, "coder_template_version_parameters", json!({"template_version_id": docker["active_version_id"]})).await);
        assert_eq!(params[0]["name"], "cpu");
        let created = call(&client, "coder_create_workspace", json!({
            "user": "me", "template_version_id": docker["active_version_id"], "name": "fresh", "rich_parameters": {"cpu": "4"}
        })).await;
        let created = result_json(&created);
        assert_eq!(created["rich_parameters"]["cpu"], "4");
        let content = "aGVsbG8gd29ybGQ="; // "hello world"
        call(&client, "coder_workspace_write_file", json!({"workspace": "fresh", "path": "/home/coder/notes.txt", "content": content})).await;
        let read = result_json(&call(&client, "coder_workspace_read_file", json!({"workspace": "fresh", "path": "/home/coder/notes.txt", "offset": 6, "limit": 5})).await);
        assert_eq!(read["content"], "world");
        let listing = result_json(&call(&client, "coder_workspace_ls", json!({"workspace": "demo/fresh", "path": "/home/coder"})).await);
        assert!(listing["contents"].as_array().expect("contents").iter().any(|e| e["name"] == "notes.txt"));
        let build = result_json(&call(&client, "coder_create_workspace_build", json!({"workspace_id": created["id"], "transition": "delete"})).await);
        assert_eq!(build["status"], "deleted");
        let in_use = call(&client, "coder_delete_template", json!({"template_id": docker["id"]})).await;
        assert_eq!(in_use.is_error, Some(true), "dev and backend still use docker");
        let deleted = call(&client, "coder_delete_template", json!({"template_id": aws["id"]})).await;
        assert_ne!(deleted.is_error, Some(true));
        let templates = result_json(&call(&client, "coder_list_templates", json!({})).await);
        assert_eq!(templates.as_array().expect("list").len(), 2);
        client.cancel().await.expect("close");
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn annotations_can_be_omitted_and_toolsets_and_prompts() {
    within(async {
        let sim = start(SimConfig::default().annotations(false)).await;
        let client = mcp_client(sim.mcp_url().as_str(), &sim.session_token()).await;
        let tools = client.list_all_tools().await.expect("tools");
        assert!(tools.iter().all(|t| t.annotations.is_none()));
        let prompts = client.list_all_prompts().await.expect("prompts");
        let names: Vec<_> = prompts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["coder_agents_delegate", "coder_agents_check"]);
        let mut args = serde_json::Map::new();
        args.insert("task".into(), json!("fix the build"));
        let prompt = client
            .get_prompt(GetPromptRequestParams::new("coder_agents_delegate").with_arguments(args))
            .await
            .expect("prompt");
        assert!(format!("{:?}", prompt.messages).contains("fix the build"));
        client.cancel().await.expect("close");

        let mut chatgpt = sim.mcp_url();
        chatgpt.set_query(Some("toolset=chatgpt"));
        let client = mcp_client(chatgpt.as_str(), &sim.session_token()).await;
        let names: Vec<_> = client
            .list_all_tools()
            .await
            .expect("tools")
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        assert_eq!(names, ["search", "fetch"]);
        let found = result_json(&call(&client, "search", json!({"query": "dev"})).await);
        let id = found["results"][0]["id"].as_str().expect("id").to_owned();
        let doc = result_json(&call(&client, "fetch", json!({"id": id})).await);
        assert_eq!(doc["title"], "dev");
        client.cancel().await.expect("close");
        sim.shutdown().await;
    })
    .await;
}
