//! A `tools/call` for a tool the upstream does not list is refused by the
//! bridge at once (-32602), without asking the gate (so no consent prompt)
//! and without reaching Coder; listed tools reach the gate with Coder's
//! description; when the list cannot be had the call goes to the gate as
//! before, without a description. Agents on protocol 2026-07-28 (no
//! handshake, plain JSON replies from the daemon) get the same.

use std::{sync::Mutex, time::Duration};

use bridge::{
    events::Outcome,
    gate::{CallGate, GateDecision, GateRequest},
    relay::RelayOptions,
};
use coder_sim::{Era, Sim, SimConfig};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt, ServiceError,
    model::{CallToolRequestParams, ClientConfig, ErrorCode, ProtocolVersion, Tool},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use crate::support::bounded;
use crate::support::gated_daemon::{Client, GatedDaemon};

/// What the gate was asked: the tool and whether Coder's description came along.
#[derive(Debug, Clone, PartialEq)]
struct Asked {
    tool: String,
    described: bool,
    read_only: Option<bool>,
}

/// A gate that allows everything and remembers every call it was asked about.
#[derive(Debug, Default)]
struct RecordingGate {
    asked: Mutex<Vec<Asked>>,
}

impl RecordingGate {
    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl CallGate for RecordingGate {
    async fn admit(&self, request: GateRequest) -> GateDecision {
        let info = request.tool_info.as_deref();
        self.asked.lock().expect("lock").push(Asked {
            tool: request.tool.clone(),
            described: info.is_some_and(|t| t.name == request.tool),
            read_only: info
                .and_then(|t| t.annotations.as_ref())
                .and_then(|a| a.read_only_hint),
        });
        GateDecision::Allow(bridge::events::ConsentDecision::Allowed)
    }

    fn visible(&self, _agent: &str, _tool: &Tool) -> bool {
        true
    }
}

/// The shared rig and one agent connected to it.
struct Setup {
    rig: GatedDaemon<RecordingGate>,
    client: Client,
}

impl std::ops::Deref for Setup {
    type Target = GatedDaemon<RecordingGate>;
    fn deref(&self) -> &Self::Target {
        &self.rig
    }
}

impl std::ops::DerefMut for Setup {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.rig
    }
}

async fn start(options: RelayOptions) -> Setup {
    let sim = SimConfig::default().era(Era::Stateless);
    let rig = GatedDaemon::start(sim, RecordingGate::default(), options).await;
    let client = rig.client("cursor").await;
    Setup { rig, client }
}

impl Setup {
    async fn stop(self) {
        self.rig.stop(self.client).await;
    }
}

fn quick_options() -> RelayOptions {
    RelayOptions {
        retry_window: Duration::from_secs(1),
        backoff_cap: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..RelayOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_tool_is_refused_at_once_without_asking_anyone() {
    let mut s = start(quick_options()).await;

    // A listed tool reaches the gate with Coder's description (annotations included).
    let ok = bounded(
        "listed call",
        s.client
            .call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
    )
    .await
    .expect("a listed tool is relayed");
    assert_ne!(ok.is_error, Some(true), "{:?}", ok.content);
    assert_eq!(
        s.gate.asked(),
        vec![Asked {
            tool: "coder_get_authenticated_user".into(),
            described: true,
            read_only: Some(true),
        }]
    );
    assert_eq!(s.next_call_event().await.outcome, Outcome::Ok);
    let upstream_before = s.sim.counters();

    let err = bounded(
        "unlisted call",
        s.client
            .call_tool(CallToolRequestParams::new("coder_no_such_tool")),
    )
    .await
    .expect_err("an unlisted tool is an error");
    let ServiceError::McpError(e) = err else {
        panic!("expected a JSON-RPC error, got {err:?}");
    };
    assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(
        e.message,
        "unknown tool coder_no_such_tool; call tools/list to see the tools of this deployment"
    );

    // Nobody was asked, and Coder never saw the call.
    assert_eq!(s.gate.asked().len(), 1, "{:?}", s.gate.asked());
    let upstream_after = s.sim.counters();
    assert_eq!(
        upstream_after.calls_by_tool, upstream_before.calls_by_tool,
        "the unknown tool reached Coder"
    );

    // The activity record says what happened.
    let event = s.next_call_event().await;
    assert_eq!(event.tool.as_deref(), Some("coder_no_such_tool"));
    assert_eq!(event.outcome, Outcome::Failed);
    assert_eq!(event.consent, None);
    assert!(
        event
            .error
            .as_deref()
            .is_some_and(|m| m.contains("unknown tool coder_no_such_tool")),
        "{:?}",
        event.error
    );
    assert!(event.bytes_in > 0 && event.bytes_out > 0, "{event:?}");

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tool_list_the_gate_still_decides() {
    let mut s = start(quick_options()).await;
    // Coder goes away before the bridge has seen its tool list: the call
    // cannot be judged unknown, so the gate is asked (as before) and the
    // relay then reports that Coder is unavailable.
    let sim = std::mem::replace(
        &mut s.sim,
        bounded("stand-in sim", Sim::start(SimConfig::default()))
            .await
            .expect("a stand-in simulator"),
    );
    bounded("sim shutdown", sim.shutdown()).await;

    let result = bounded(
        "call while Coder is down",
        s.client
            .call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
    )
    .await;
    assert_eq!(
        s.gate.asked(),
        vec![Asked {
            tool: "coder_get_authenticated_user".into(),
            described: false,
            read_only: None,
        }]
    );
    match result {
        Ok(r) => assert_eq!(r.is_error, Some(true), "{:?}", r.content),
        Err(ServiceError::McpError(e)) => assert_ne!(e.code, ErrorCode::INVALID_PARAMS, "{e:?}"),
        Err(other) => panic!("unexpected failure: {other:?}"),
    }
    assert_eq!(s.next_call_event().await.outcome, Outcome::Failed);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_a_handshake_calls_tools_and_is_told_about_unknown_ones() {
    let s = start(quick_options()).await;
    let config = StreamableHttpClientTransportConfig::with_uri(s.daemon.mcp_url())
        .auth_header(s.token.expose());
    let modern = bounded(
        "modern client connect",
        ClientConfig::default().serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(config),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
    )
    .await
    .expect("a 2026-07-28 agent connects to the daemon");

    let ok = bounded(
        "modern call",
        modern.call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
    )
    .await
    .expect("a listed tool is relayed");
    assert_ne!(ok.is_error, Some(true), "{:?}", ok.content);

    let err = bounded(
        "modern unlisted call",
        modern.call_tool(CallToolRequestParams::new("coder_no_such_tool")),
    )
    .await
    .expect_err("an unlisted tool is an error");
    let ServiceError::McpError(e) = err else {
        panic!("expected a JSON-RPC error, got {err:?}");
    };
    assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(s.gate.asked().len(), 1, "{:?}", s.gate.asked());

    bounded("modern client close", modern.cancel()).await.ok();
    s.stop().await;
}
