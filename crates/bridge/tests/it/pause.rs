//! "Pause relay" through the real daemon: while paused, a real agent's call is
//! refused with a tool error saying how to resume and nothing reaches Coder;
//! after resuming, the same agent session works again.

use std::time::Duration;

use bridge::supervisor::Bridge;
use coder_sim::{Sim, SimConfig};
use rmcp::model::CallToolRequestParams;

use crate::support::signed_in;

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test step timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_refuses_calls_without_reaching_coder_and_resuming_restores_them() {
    let home = tempfile::tempdir().expect("temp home");
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let config = signed_in::config_dir(home.path());
    let bridge = within(Bridge::start(signed_in::options(home.path(), &sim)))
        .await
        .expect("bridge starts");
    let agent = signed_in::agent(&bridge, home.path()).await;
    let whoami = || CallToolRequestParams::new("coder_get_authenticated_user");

    // Paused through the control API, as the dashboard and the CLI would.
    let control = bridge::web::read_control_token(&config).expect("control token");
    let http = reqwest::Client::new();
    let status: serde_json::Value = within(
        http.post(format!("http://{}/api/pause", bridge.local_addr()))
            .bearer_auth(control.expose())
            .json(&serde_json::json!({ "paused": true }))
            .send(),
    )
    .await
    .expect("pause request")
    .json()
    .await
    .expect("status body");
    assert_eq!(status["paused"], true);

    let before = sim.counters().calls_by_tool.values().sum::<u64>();
    let refused = within(agent.call_tool(whoami()))
        .await
        .expect("a tool result");
    assert_eq!(refused.is_error, Some(true));
    let text = serde_json::to_string(&refused.content).expect("content");
    assert!(text.contains("paused") && text.contains("resume"), "{text}");
    assert_eq!(
        sim.counters().calls_by_tool.values().sum::<u64>(),
        before,
        "a paused call must not reach Coder"
    );
    // The tool list still works, so agents keep their tools while paused.
    let tools = within(agent.list_all_tools()).await.expect("tools/list");
    assert!(
        tools
            .iter()
            .any(|t| t.name == "coder_get_authenticated_user")
    );

    let resumed = bridge.set_paused(false).await;
    assert!(!resumed.paused);
    let ok = within(agent.call_tool(whoami()))
        .await
        .expect("a tool result");
    assert_ne!(ok.is_error, Some(true));

    within(agent.cancel()).await.ok();
    within(bridge.shutdown()).await;
    sim.shutdown().await;
}
