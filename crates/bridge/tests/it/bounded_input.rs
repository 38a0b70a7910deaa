//! What an agent can make the bridge hold is bounded, and what the user
//! approved is what goes upstream:
//! - a 200 KB tool name is refused before anything is recorded, and the
//!   refusal does not echo it back;
//! - a 300 KB client name is cut before it is stored;
//! - arguments over the limit are refused without reaching Coder;
//! - a call whose arguments do not hash to the approved digest is refused
//!   and never sent, while a matching one is relayed.

use std::sync::Mutex;
use std::time::Duration;

use bridge::{
    consent::{AnsweredBy, ArgumentsDigest},
    events::{ConsentDecision, Outcome},
    gate::{CallGate, GateDecision, GateRequest},
    relay::RelayOptions,
    server::limits::{MAX_ARGUMENTS_BYTES, MAX_CLIENT_NAME_BYTES},
};
use coder_sim::{Sim, SimConfig};
use rmcp::{
    ServiceError,
    model::{CallToolRequestParams, ErrorCode, JsonObject, Tool},
};
use serde_json::json;

use crate::support::bounded;
use crate::support::gated_daemon::GatedDaemon;

/// A gate that approves every call, as the user would, for the digest it
/// is set to: the digest of the call (`None`) or of other arguments.
#[derive(Debug, Default)]
struct ApprovingGate {
    approve: Mutex<Option<ArgumentsDigest>>,
    asked: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl CallGate for ApprovingGate {
    async fn admit(&self, request: GateRequest) -> GateDecision {
        self.asked.lock().expect("lock").push(request.tool.clone());
        let digest = self
            .approve
            .lock()
            .expect("lock")
            .clone()
            .unwrap_or(request.digest);
        GateDecision::Approved {
            decision: ConsentDecision::AllowedOnce,
            digest,
            by: AnsweredBy::in_process(),
        }
    }

    fn visible(&self, _agent: &str, _tool: &Tool) -> bool {
        true
    }
}

type Setup = GatedDaemon<ApprovingGate>;

async fn start() -> Setup {
    let options = RelayOptions {
        retry_window: Duration::from_secs(1),
        ..RelayOptions::default()
    };
    GatedDaemon::start(SimConfig::default(), ApprovingGate::default(), options).await
}

const TOOL: &str = "coder_list_workspaces";

fn list_call(arguments: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(TOOL).with_arguments(arguments.as_object().cloned().expect("object"))
}

fn calls_of(sim: &Sim, tool: &str) -> u64 {
    sim.counters().calls_by_tool.get(tool).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_tool_name_is_refused_unrecorded_and_a_huge_client_name_is_cut() {
    let mut s = start().await;
    let client_name = "Claude Desktop ".repeat(300 * 1024 / 15);
    let client = s.client(&client_name).await;

    let huge = "coder_".to_owned() + &"x".repeat(200 * 1024);
    let err = bounded(
        "huge name",
        client.call_tool(CallToolRequestParams::new(huge.clone())),
    )
    .await
    .expect_err("refused");
    let ServiceError::McpError(e) = err else {
        panic!("expected a JSON-RPC error, got {err:?}");
    };
    assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
    assert!(
        e.message.len() < 200,
        "echoed back: {} bytes",
        e.message.len()
    );
    assert!(
        s.gate.asked.lock().expect("lock").is_empty(),
        "nobody was asked"
    );

    // The next record is the next call: the refused one left none.
    bounded("listed call", client.call_tool(list_call(json!({}))))
        .await
        .expect("relayed");
    let event = s.next_call_event().await;
    assert_eq!(event.tool.as_deref(), Some(TOOL));
    let stored = event.client_name.expect("the client's name");
    assert!(
        stored.len() <= MAX_CLIENT_NAME_BYTES && stored.starts_with("Claude Desktop"),
        "{} bytes kept",
        stored.len()
    );
    s.stop(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_over_the_limit_never_reach_coder() {
    let mut s = start().await;
    let client = s.client("cursor").await;
    let before = calls_of(&s.sim, TOOL);
    let big = json!({"owner": "a".repeat(MAX_ARGUMENTS_BYTES)});
    let err = bounded("big call", client.call_tool(list_call(big)))
        .await
        .expect_err("refused");
    let ServiceError::McpError(e) = err else {
        panic!("expected a JSON-RPC error, got {err:?}");
    };
    assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
    assert!(e.message.contains("at most"), "{}", e.message);
    assert_eq!(calls_of(&s.sim, TOOL), before);
    let event = s.next_call_event().await;
    assert_eq!(event.outcome, Outcome::Failed);
    assert!(
        s.gate.asked.lock().expect("lock").is_empty(),
        "nobody was asked"
    );
    s.stop(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_approved_bytes_go_upstream() {
    let mut s = start().await;
    let client = s.client("cursor").await;
    let tool = TOOL;

    // Approved for other arguments than the ones about to be sent: refused.
    let approved: JsonObject = json!({"owner": "me"}).as_object().cloned().expect("object");
    *s.gate.approve.lock().expect("lock") = Some(ArgumentsDigest::of(Some(&approved)));
    let before = calls_of(&s.sim, tool);
    let result = bounded(
        "tampered call",
        client.call_tool(list_call(json!({"owner": "alice"}))),
    )
    .await
    .expect("answered with a tool error");
    assert_eq!(result.is_error, Some(true));
    let text = serde_json::to_string(&result.content).expect("content");
    assert!(text.contains("not the ones the"), "{text}");
    assert_eq!(calls_of(&s.sim, tool), before, "the call reached Coder");
    let event = s.next_call_event().await;
    assert_eq!(event.outcome, Outcome::Denied);
    assert_eq!(event.consent, Some(ConsentDecision::Denied));

    // The approved arguments themselves go through, digest recorded.
    let result = bounded(
        "approved call",
        client.call_tool(list_call(json!({"owner": "me"}))),
    )
    .await
    .expect("relayed");
    assert_ne!(result.is_error, Some(true), "{:?}", result.content);
    assert_eq!(calls_of(&s.sim, tool), before + 1);
    let event = s.next_call_event().await;
    assert_eq!(event.outcome, Outcome::Ok);
    assert_eq!(
        event.args_digest.as_deref(),
        Some(ArgumentsDigest::of(Some(&approved)).as_str())
    );
    s.stop(client).await;
}
