//! MCP 2026-07-28 messages through the relay, for agents of both local eras
//! (session-era agents with a handshake, and 2026-07-28 agents without one):
//! what the simulator receives and what the agent gets back are compared
//! with what a client talking to the simulator directly sends and gets.

use std::{sync::Arc, time::Duration};

use bridge::{
    auth::{StaticToken, UpstreamSession},
    client_tokens::ClientTokens,
    events::{self, CallEvent, Outcome},
    relay::RelayOptions,
    secret::Secret,
    server::{Daemon, DaemonHandle},
};
use coder_sim::{Era, Sim, SimConfig, probe};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient,
    model::{
        CallToolRequestParams, CallToolResponse, ClientConfig, ProtocolVersion, RequestMetaObject,
        Tool,
    },
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::broadcast;

type Client = RunningService<RoleClient, ClientConfig>;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// How an agent talks to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentEra {
    /// `initialize` handshake, `Mcp-Session-Id`, protocol 2025-06-18.
    Sessions,
    /// No handshake: `server/discover` and self-contained 2026-07-28 requests.
    Stateless,
}

const BOTH: [AgentEra; 2] = [AgentEra::Sessions, AgentEra::Stateless];

struct Setup {
    sim: Sim,
    daemon: DaemonHandle,
    token: String,
    events: broadcast::Receiver<CallEvent>,
    _dir: TempDir,
}

async fn start() -> Setup {
    let sim = bounded(
        "sim start",
        Sim::start(SimConfig::default().era(Era::Stateless).probe_tools(true)),
    )
    .await
    .expect("the simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = ClientTokens::open(dir.path().join("client-tokens.json")).expect("tokens");
    let token = tokens.issue("claude").expect("a client token");
    let events = events::channel();
    let receiver = events.subscribe();
    let session = UpstreamSession {
        access_url: sim.url(),
        access_token: Secret::new(sim.session_token()),
        expires_at: None,
    };
    let daemon = bounded(
        "daemon start",
        Daemon::builder()
            .credentials(Arc::new(StaticToken(session)))
            .tokens(tokens)
            .events(events)
            .port(0)
            .relay_options(RelayOptions {
                retry_window: Duration::from_secs(8),
                backoff_cap: Duration::from_millis(400),
                ..RelayOptions::default()
            })
            .start(),
    )
    .await
    .expect("the daemon starts");
    Setup {
        sim,
        daemon,
        token: token.expose().to_owned(),
        events: receiver,
        _dir: dir,
    }
}

impl Setup {
    async fn agent(&self, era: AgentEra) -> Client {
        let config = StreamableHttpClientTransportConfig::with_uri(self.daemon.mcp_url())
            .auth_header(self.token.clone());
        connect(config, era).await
    }

    /// A client of the simulator itself, with the same user's token.
    async fn direct(&self, era: AgentEra) -> Client {
        let config = StreamableHttpClientTransportConfig::with_uri(self.sim.mcp_url().as_str())
            .auth_header(self.sim.session_token());
        connect(config, era).await
    }

    async fn next_call(&mut self) -> CallEvent {
        bounded("a tools/call event", async {
            loop {
                let event = self.events.recv().await.expect("event channel open");
                if event.method == "tools/call" {
                    return event;
                }
            }
        })
        .await
    }

    async fn stop(self) {
        bounded("daemon shutdown", self.daemon.shutdown()).await;
        bounded("sim shutdown", self.sim.shutdown()).await;
    }
}

async fn connect(config: StreamableHttpClientTransportConfig, era: AgentEra) -> Client {
    let transport = StreamableHttpClientTransport::from_config(config);
    let mut info = ClientConfig::default();
    let lifecycle = match era {
        AgentEra::Sessions => {
            info.protocol_version = ProtocolVersion::V_2025_06_18;
            ClientLifecycleMode::Initialize
        }
        AgentEra::Stateless => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    };
    bounded(
        "client connect",
        info.serve_with_lifecycle(transport, lifecycle),
    )
    .await
    .expect("the client connects")
}

fn call(tool: &str, arguments: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new(tool.to_owned());
    p.arguments = arguments.as_object().cloned();
    p
}

fn text(response: &CallToolResponse) -> String {
    let CallToolResponse::Complete(result) = response else {
        panic!("expected a complete result, got {response:?}");
    };
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_trace_context_reaches_coder_unchanged_and_its_credentials_do_not() {
    let mut s = start().await;
    for era in BOTH {
        let agent = s.agent(era).await;
        let mut request = call("coder_get_authenticated_user", json!({}));
        request.meta = Some(
            serde_json::from_value::<RequestMetaObject>(json!({
                "traceparent": TRACEPARENT,
                "tracestate": "congo=t61rcWkgMzE",
                "com.example/request-label": {"ticket": "OPS-12"},
                "apiToken": "would-be-smuggled",
                "com.example/auth": "Bearer abc.def",
            }))
            .expect("meta"),
        );
        let result = bounded("call", agent.call_tool_once(request))
            .await
            .expect("tools/call");
        assert!(text(&result).contains("demo"), "{era:?}: {result:?}");
        let seen = s.sim.counters().last_calls["coder_get_authenticated_user"].clone();
        let meta = seen.meta.as_object().expect("a meta object");
        assert_eq!(meta["traceparent"], TRACEPARENT, "{era:?}: {meta:?}");
        assert_eq!(meta["tracestate"], "congo=t61rcWkgMzE", "{era:?}");
        assert_eq!(
            meta["com.example/request-label"],
            json!({"ticket": "OPS-12"})
        );
        assert!(!meta.contains_key("apiToken"), "{era:?}: {meta:?}");
        assert!(!meta.contains_key("com.example/auth"), "{era:?}: {meta:?}");
        // The bridge's own connection to Coder speaks for itself.
        assert_eq!(
            meta["io.modelcontextprotocol/clientInfo"]["name"], "coder-bridge",
            "{era:?}: {meta:?}"
        );
        // 2026-07-28 routing headers on the upstream request (SEP-2243).
        assert_eq!(seen.mcp_method.as_deref(), Some("tools/call"));
        assert_eq!(
            seen.mcp_name.as_deref(),
            Some("coder_get_authenticated_user")
        );
        assert_eq!(s.next_call().await.outcome, Outcome::Ok);
        bounded("agent close", agent.cancel()).await.ok();
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_required_reaches_a_2026_agent_and_an_older_agent_is_told_clearly() {
    let mut s = start().await;
    let modern = s.agent(AgentEra::Stateless).await;
    let first = bounded(
        "first round",
        modern.call_tool_once(call(probe::CONFIRM, json!({"action": "rotate keys"}))),
    )
    .await
    .expect("tools/call");
    let CallToolResponse::InputRequired(asked) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let requests = serde_json::to_value(&asked.input_requests).expect("json");
    assert_eq!(
        requests["confirm"]["params"]["message"], "Confirm: rotate keys?",
        "{requests}"
    );
    assert_eq!(s.next_call().await.outcome, Outcome::Ok);

    let mut second = call(probe::CONFIRM, json!({"action": "rotate keys"}));
    second.request_state = asked.request_state.clone();
    second.input_responses = Some(
        [(
            "confirm".to_owned(),
            json!({"action": "accept", "content": {"confirmed": true}}),
        )]
        .into(),
    );
    let done = bounded("second round", modern.call_tool_once(second))
        .await
        .expect("tools/call");
    assert_eq!(text(&done), "confirmed: rotate keys");
    s.next_call().await;

    let older = s.agent(AgentEra::Sessions).await;
    let refused = bounded(
        "older agent",
        older.call_tool_once(call(probe::CONFIRM, json!({"action": "rotate keys"}))),
    )
    .await
    .expect("a tool result, not a protocol error");
    let CallToolResponse::Complete(result) = &refused else {
        panic!("expected a tool error, got {refused:?}");
    };
    assert_eq!(result.is_error, Some(true));
    let message = text(&refused);
    assert!(message.contains("input_required"), "{message}");
    assert!(message.contains("2025-06-18"), "{message}");
    assert!(message.contains("2026-07-28"), "{message}");
    let event = s.next_call().await;
    assert_eq!(event.outcome, Outcome::Failed);
    assert!(event.error.is_some_and(|e| e.contains("input_required")));

    bounded("close", modern.cancel()).await.ok();
    bounded("close", older.cancel()).await.ok();
    s.stop().await;
}

fn tool_json(tools: &[Tool], name: &str) -> Vec<u8> {
    let tool = tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} is listed"));
    serde_json::to_vec(tool).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_definitions_and_structured_results_are_byte_equal_through_the_relay() {
    let s = start().await;
    for era in BOTH {
        let direct = s.direct(era).await;
        let relayed = s.agent(era).await;
        let direct_tools = bounded("direct list", direct.list_all_tools())
            .await
            .expect("tools/list");
        let relayed_tools = bounded("relayed list", relayed.list_all_tools())
            .await
            .expect("tools/list");
        let rich = tool_json(&direct_tools, probe::RICH);
        let parsed: Value = serde_json::from_slice(&rich).expect("json");
        for part in ["title", "icons", "annotations", "outputSchema"] {
            assert!(
                parsed.get(part).is_some(),
                "{era:?}: {part} missing in {parsed}"
            );
        }
        for tool in &direct_tools {
            assert_eq!(
                String::from_utf8(tool_json(&relayed_tools, &tool.name)),
                String::from_utf8(tool_json(&direct_tools, &tool.name)),
                "{era:?}"
            );
        }

        let direct_result = bounded(
            "direct call",
            direct.call_tool_once(call(probe::RICH, json!({}))),
        )
        .await
        .expect("tools/call");
        let relayed_result = bounded(
            "relayed call",
            relayed.call_tool_once(call(probe::RICH, json!({}))),
        )
        .await
        .expect("tools/call");
        let (CallToolResponse::Complete(d), CallToolResponse::Complete(r)) =
            (&direct_result, &relayed_result)
        else {
            panic!("expected complete results: {direct_result:?} {relayed_result:?}");
        };
        assert_eq!(
            d.structured_content,
            Some(json!({"healthy": true, "workspaces": 2, "regions": ["eu-west", "us-east"]}))
        );
        assert_eq!(
            serde_json::to_string(r).expect("json"),
            serde_json::to_string(d).expect("json"),
            "{era:?}"
        );
        bounded("close", direct.cancel()).await.ok();
        bounded("close", relayed.cancel()).await.ok();
    }
    s.stop().await;
}

/// The raw `tools/list` answer for a 2026-07-28 request, as bytes of JSON
/// per tool: no client library stands between the wire and the comparison.
async fn raw_tools(url: &str, token: &str) -> Vec<(String, Vec<u8>)> {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/list",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}
        }}
    });
    let reply: Value = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .json(&body)
        .send()
        .await
        .expect("tools/list")
        .json()
        .await
        .expect("a JSON reply");
    reply["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {reply}"))
        .iter()
        .map(|t| {
            let name = t["name"].as_str().expect("a name").to_owned();
            (name, serde_json::to_vec(t).expect("json"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_2026_tool_lists_are_byte_equal_through_the_relay() {
    let s = start().await;
    let direct = raw_tools(s.sim.mcp_url().as_str(), &s.sim.session_token()).await;
    let relayed = raw_tools(&s.daemon.mcp_url(), &s.token).await;
    assert!(direct.iter().any(|(name, _)| name == probe::RICH));
    assert_eq!(relayed.len(), direct.len());
    for ((dn, d), (rn, r)) in direct.iter().zip(&relayed) {
        assert_eq!(rn, dn);
        assert_eq!(String::from_utf8_lossy(r), String::from_utf8_lossy(d));
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_style_client_info_names_the_client_in_the_activity() {
    let mut s = start().await;
    // What Claude Code 2.1 sends on 2026-07-28: no handshake, its client
    // info in every request's `_meta`.
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {
            "name": "coder_get_authenticated_user",
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {
                    "name": "claude-code", "title": "Claude Code", "version": "2.1.332"
                },
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    });
    let response = reqwest::Client::new()
        .post(s.daemon.mcp_url())
        .bearer_auth(&s.token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "coder_get_authenticated_user")
        .json(&body)
        .send()
        .await
        .expect("tools/call");
    let status = response.status();
    let reply = response.text().await.expect("body");
    assert!(status.is_success(), "{status} {reply}");
    assert!(reply.contains("demo"), "{reply}");
    let event = s.next_call().await;
    assert_eq!(event.agent, "claude");
    assert_eq!(event.client_name.as_deref(), Some("claude-code"));

    // A session-era agent is still named by its handshake.
    let older = s.agent(AgentEra::Sessions).await;
    bounded(
        "call",
        older.call_tool_once(call("coder_get_authenticated_user", json!({}))),
    )
    .await
    .expect("tools/call");
    assert_eq!(s.next_call().await.client_name.as_deref(), Some("rmcp"));
    bounded("close", older.cancel()).await.ok();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_mismatch_refreshes_the_tool_list_once_and_resends() {
    let mut s = start().await;
    let agent = s.agent(AgentEra::Stateless).await;
    bounded("list", agent.list_all_tools())
        .await
        .expect("tools/list");
    // Coder now wants `region` in a header too; the relay's list predates it.
    s.sim.faults().set_probe_param_header(true);
    let result = bounded(
        "call",
        agent.call_tool_once(call(probe::REGIONAL, json!({"region": "eu-west"}))),
    )
    .await
    .expect("tools/call");
    assert_eq!(text(&result), "region: eu-west");
    assert_eq!(s.sim.counters().calls_by_tool[probe::REGIONAL], 1);
    assert_eq!(s.next_call().await.outcome, Outcome::Ok);
    // The refreshed list is what agents see now.
    let tools = bounded("list", agent.list_all_tools())
        .await
        .expect("tools/list");
    let regional = tools
        .iter()
        .find(|t| t.name == probe::REGIONAL)
        .expect("listed");
    assert_eq!(
        regional.input_schema["properties"]["region"]["x-mcp-header"],
        "Region"
    );
    bounded("close", agent.cancel()).await.ok();
    s.stop().await;
}
