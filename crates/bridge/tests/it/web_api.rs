//! The control API through a real bridge (`Bridge::start` on port 0, temp
//! folders), a real rmcp client as the agent and the simulated Coder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bridge::auth::StoreChoice;
use bridge::clients::Dirs;
use bridge::supervisor::{Bridge, BridgeHandle, BridgeOptions, CredentialsOverride, DemoLauncher};
use coder_sim::{Sim, SimConfig};
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

type Agent = RunningService<RoleClient, ClientConfig>;

mod trust;

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test step timed out")
}

struct Harness {
    tmp: tempfile::TempDir,
    sim: Sim,
    bridge: BridgeHandle,
    base: String,
    token: String,
    http: reqwest::Client,
    /// Every body the API answered, scanned for Coder tokens at the end.
    bodies: Mutex<Vec<String>>,
}

impl Harness {
    /// A bridge using the simulator's session token as a fixed credential.
    async fn start(consent_timeout: Duration) -> Self {
        let sim = Sim::start(SimConfig::default().dcr(true).auto_approve(true))
            .await
            .expect("sim starts");
        let over = bridge::demo::session(&sim);
        Self::start_with(sim, Some(over), None, consent_timeout).await
    }

    async fn start_with(
        sim: Sim,
        over: Option<CredentialsOverride>,
        launcher: Option<Arc<dyn DemoLauncher>>,
        consent_timeout: Duration,
    ) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let mut o = BridgeOptions::new(tmp.path().join("config"), tmp.path().join("data"));
        o.port = 0;
        o.agent_dirs = Some(Dirs {
            xdg_config: home.join(".config"),
            home,
            appdata: None,
        });
        o.binary = Some("/opt/coder-bridge/bin/coder-bridge".into());
        o.secret_store = StoreChoice::File;
        o.consent_timeout = consent_timeout;
        o.credentials = over;
        o.demo_launcher = launcher;
        let bridge = within(Bridge::start(o)).await.expect("bridge starts");
        let token = bridge::web::read_control_token(&tmp.path().join("config"))
            .expect("control token written")
            .expose()
            .to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            base: format!("http://{}", bridge.local_addr()),
            tmp,
            sim,
            bridge,
            token,
            http,
            bodies: Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, HeaderMap, Value) {
        let resp = within(req.send()).await.expect("request sent");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = within(resp.text()).await.expect("body");
        self.bodies.lock().expect("bodies lock").push(text.clone());
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self
            .send(
                self.http
                    .get(format!("{}{path}", self.base))
                    .bearer_auth(&self.token),
            )
            .await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let req = self.http.post(format!("{}{path}", self.base));
        let (s, _, v) = self.send(req.bearer_auth(&self.token).json(&body)).await;
        (s, v)
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let req = self.http.put(format!("{}{path}", self.base));
        let (s, _, v) = self.send(req.bearer_auth(&self.token).json(&body)).await;
        (s, v)
    }

    /// An MCP client for `agent`, with the client token from its copyable entry.
    async fn agent(&self, agent: &str) -> Agent {
        let (status, entry) = self
            .post(&format!("/api/agents/{agent}/entry"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{entry}");
        let header = entry["entry"]["headers"]["Authorization"]
            .as_str()
            .expect("entry has the client token");
        let token = header.strip_prefix("Bearer ").expect("bearer header");
        assert_eq!(entry["entry"]["url"], json!(self.bridge.mcp_url()));
        let config =
            StreamableHttpClientTransportConfig::with_uri(self.bridge.mcp_url()).auth_header(token);
        within(ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)))
            .await
            .expect("agent connects")
    }

    /// Waits (bounded) for the first pending consent request.
    async fn pending(&self) -> Value {
        for _ in 0..200 {
            let (_, list) = self.get("/api/consent").await;
            if let Some(first) = list.as_array().and_then(|l| l.first()) {
                return first.clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no consent request appeared");
    }

    /// No answer may hold the simulator's session token, nor any secret the
    /// bridge stored (OAuth access and refresh tokens, client secret).
    fn assert_no_coder_token(&self) -> usize {
        let mut secrets = vec![self.sim.session_token()];
        let stored = self.tmp.path().join("config/secrets.json");
        if let Ok(text) = std::fs::read_to_string(&stored) {
            collect_strings(
                &serde_json::from_str(&text).expect("secrets.json parses"),
                &mut secrets,
            );
        }
        let secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 16).collect();
        let bodies = self.bodies.lock().expect("bodies lock");
        assert!(!bodies.is_empty());
        for body in bodies.iter() {
            for secret in &secrets {
                assert!(
                    !body.contains(secret.as_str()),
                    "a response leaked a Coder secret"
                );
            }
        }
        secrets.len()
    }

    async fn stop(self) {
        self.assert_no_coder_token();
        within(self.bridge.shutdown()).await;
        self.sim.shutdown().await;
    }
}

/// Reads `GET /api/events` message by message.
struct Events {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
    /// Events read while waiting for another one: events of different
    /// kinds (a consent resolved, the call it let run) may come in either
    /// order, so none is thrown away.
    unclaimed: Vec<(String, Value)>,
}

impl Events {
    async fn open(h: &Harness) -> Self {
        let resp = within(
            h.http
                .get(format!("{}/api/events", h.base))
                .bearer_auth(&h.token)
                .send(),
        )
        .await
        .expect("SSE opens");
        assert_eq!(resp.status(), StatusCode::OK);
        let ct = resp.headers()["content-type"]
            .to_str()
            .expect("type")
            .to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Self {
            stream: Box::pin(resp.bytes_stream()),
            buffer: String::new(),
            unclaimed: Vec::new(),
        }
    }

    /// The data of the next `name` event that `accept` takes.
    async fn next(&mut self, name: &str, accept: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .unclaimed
            .iter()
            .position(|(event, v)| event == name && accept(v))
        {
            return self.unclaimed.remove(i).1;
        }
        within(async {
            loop {
                while let Some(end) = self.buffer.find("\n\n") {
                    let message: String = self.buffer.drain(..end + 2).collect();
                    let event = message.lines().find_map(|l| l.strip_prefix("event: "));
                    let data = message.lines().find_map(|l| l.strip_prefix("data: "));
                    if let (Some(event), Some(data)) = (event, data) {
                        let v: Value = serde_json::from_str(data).expect("json data");
                        if event == name && accept(&v) {
                            return v;
                        }
                        self.unclaimed.push((event.to_owned(), v));
                    }
                }
                let chunk = self.stream.next().await.expect("the event stream ended");
                self.buffer
                    .push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            }
        })
        .await
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn bash_call() -> CallToolRequestParams {
    let args = json!({"workspace": "dev", "command": "echo hello"});
    CallToolRequestParams::new("coder_workspace_bash")
        .with_arguments(args.as_object().cloned().expect("object"))
}

fn text_of(result: &CallToolResult) -> String {
    serde_json::to_string(&result.content).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_needs_a_credential_the_right_host_origin_and_json() {
    let h = Harness::start(Duration::from_secs(30)).await;
    let url = format!("{}/api/status", h.base);

    let (s, _, body) = h.send(h.http.get(&url)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (s, _, _) = h.send(h.http.get(&url).bearer_auth("cbc_wrong")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, headers, status) = h.send(h.http.get(&url).bearer_auth(&h.token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(status["signed_in"], true);
    assert_eq!(status["user"]["username"], "demo");
    assert_eq!(status["endpoint"], json!(h.bridge.mcp_url()));
    assert_eq!(status["demo"], true);

    // Ticket → session, once; the session is a bearer credential, never a
    // cookie (a cookie for 127.0.0.1 would go to every port of the host).
    let (s, t) = h.post("/api/tickets", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let ticket_url = t["url"].as_str().expect("url").to_owned();
    let ticket = ticket_url
        .split("ticket=")
        .nth(1)
        .expect("ticket")
        .to_owned();
    let (s, headers, _) = h.send(h.http.get(&ticket_url)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], format!("/#ticket={ticket}").as_str());
    let expired = headers["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(
        expired.starts_with("cb_session=;") && expired.contains("Max-Age=0"),
        "only an old cookie is expired: {expired}"
    );
    let exchange = format!("{}/auth/session", h.base);
    let (s, headers, session) = h
        .send(h.http.post(&exchange).json(&json!({ "ticket": ticket })))
        .await;
    assert_eq!(s, StatusCode::OK, "{session}");
    assert!(headers.get("set-cookie").is_none(), "no session cookie");
    assert_eq!(headers["cache-control"], "no-store");
    let session = session["session"].as_str().expect("session").to_owned();
    let (s, _, _) = h.send(h.http.get(&url).bearer_auth(&session)).await;
    assert_eq!(s, StatusCode::OK, "the session authenticates as a bearer");
    let cookie = format!("cb_session={session}");
    let (s, _, _) = h.send(h.http.get(&url).header("cookie", &cookie)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a cookie is not a credential");
    let (s, _, _) = h
        .send(h.http.post(&exchange).json(&json!({ "ticket": ticket })))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a ticket works once");
    let (s, _, _) = h.send(h.http.get(&ticket_url)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a spent link says it expired");
    // A browser session cannot mint more tickets.
    let tickets = format!("{}/api/tickets", h.base);
    let (s, _, _) = h
        .send(h.http.post(&tickets).bearer_auth(&session).json(&json!({})))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Foreign Origin, rebinding Host.
    let (s, _, _) = h
        .send(
            h.http
                .get(&url)
                .bearer_auth(&h.token)
                .header("origin", "http://evil.example"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let port = h.bridge.local_addr().port();
    let (s, _, _) = h
        .send(
            h.http
                .get(&url)
                .bearer_auth(&h.token)
                .header("host", format!("evil.example:{port}")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = h
        .send(
            h.http
                .get(&url)
                .bearer_auth(&h.token)
                .header("origin", format!("http://localhost:{port}")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "our own origin passes");

    // A cross-site form cannot change anything.
    let form = h
        .http
        .post(format!("{}/api/signout", h.base))
        .bearer_auth(&h.token)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("a=1");
    let (s, _, body) = h.send(form).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["error"]["code"], "unsupported_media_type");

    let (s, body) = h.get("/api/nope").await;
    assert_eq!(
        (s, body["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );

    // The UI: index for `/`, typed, with the strict CSP.
    let (s, headers, _) = h.send(h.http.get(format!("{}/", h.base))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let (s, headers, _) = h.send(h.http.get(format!("{}/main.js", h.base))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bridge_on_a_taken_port_leaves_the_first_ones_token_alone() {
    let h = Harness::start(Duration::from_secs(30)).await;
    let config = h.tmp.path().join("config");
    let mut o = BridgeOptions::new(&config, h.tmp.path().join("data2"));
    o.port = h.bridge.local_addr().port();
    o.secret_store = StoreChoice::File;
    let err = within(Bridge::start(o))
        .await
        .expect_err("the port is taken");
    assert_eq!(err.code(), "port_in_use");
    let token = bridge::web::read_control_token(&config).expect("token");
    assert_eq!(
        token.expose(),
        h.token,
        "the running bridge's token is intact"
    );
    let (s, _) = h.get("/api/status").await;
    assert_eq!(s, StatusCode::OK);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_answers_through_the_api_release_the_waiting_call() {
    let h = Harness::start(Duration::from_secs(30)).await;
    let agent = h.agent("cursor").await;
    let mut events = Events::open(&h).await;

    // Allow once.
    let peer = agent.peer().clone();
    let call = tokio::spawn(async move { peer.call_tool(bash_call()).await });
    let added = events.next("consent", |v| v["kind"] == "added").await;
    assert_eq!(added["request"]["tool"], "coder_workspace_bash");
    let request = within(h.pending()).await;
    assert_eq!(request["id"], added["id"]);
    assert_eq!(request["tool"], "coder_workspace_bash");
    assert_eq!(request["agent"], "cursor");
    assert_eq!(request["starts_workspace"], true);
    let id = request["id"].as_str().expect("id").to_owned();
    let (s, _) = h
        .post(
            &format!("/api/consent/{id}"),
            json!({"answer": "allow_once"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let result = within(call).await.expect("joined").expect("call answered");
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    let resolved = events.next("consent", |v| v["kind"] == "resolved").await;
    assert_eq!(resolved["id"].as_str(), Some(id.as_str()));
    assert_eq!(resolved["answer"], "allowed_once");
    assert_eq!(resolved["request"]["agent"], "cursor");
    let (s, body) = h
        .post(&format!("/api/consent/{id}"), json!({"answer": "deny"}))
        .await;
    assert_eq!(
        (s, body["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );

    // Deny.
    let peer = agent.peer().clone();
    let call = tokio::spawn(async move { peer.call_tool(bash_call()).await });
    let id = within(h.pending()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (s, _) = h
        .post(&format!("/api/consent/{id}"), json!({"answer": "deny"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let result = within(call).await.expect("joined").expect("call answered");
    assert_eq!(result.is_error, Some(true));
    assert!(text_of(&result).contains("denied"), "{}", text_of(&result));

    // Allow always: remembered as a policy override, the next call goes straight through.
    let peer = agent.peer().clone();
    let call = tokio::spawn(async move { peer.call_tool(bash_call()).await });
    let id = within(h.pending()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (s, _) = h
        .post(
            &format!("/api/consent/{id}"),
            json!({"answer": "allow_always"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    within(call).await.expect("joined").expect("call answered");
    events.next("policy", |_| true).await;
    let again = tokio::time::timeout(Duration::from_secs(10), agent.peer().call_tool(bash_call()))
        .await
        .expect("no second prompt")
        .expect("call answered");
    assert_ne!(again.is_error, Some(true), "{}", text_of(&again));
    let (_, policy) = h.get("/api/policy").await;
    let bash = policy["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["tool"] == "coder_workspace_bash")
        .expect("bash")
        .clone();
    assert_eq!(bash["overrides"]["cursor"], "allow");

    let (s, body) = h
        .post("/api/consent/not-a-uuid", json!({"answer": "maybe"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    agent.cancel().await.ok();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_call_times_out_with_a_reason() {
    let h = Harness::start(Duration::from_millis(800)).await;
    let agent = h.agent("vscode").await;
    let result = within(agent.peer().call_tool(bash_call()))
        .await
        .expect("call answered");
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains("not approved"),
        "{}",
        text_of(&result)
    );
    let (_, pending) = h.get("/api/consent").await;
    assert_eq!(pending, json!([]));
    agent.cancel().await.ok();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_put_hides_a_denied_tool_and_activity_is_recorded_and_streamed() {
    let h = Harness::start(Duration::from_secs(30)).await;
    let agent = h.agent("cursor").await;

    // Live events: the stream opens with the status, then calls arrive.
    let mut events = Events::open(&h).await;
    let first = events.next("status", |_| true).await;
    assert_eq!(first["signed_in"], true);
    let tools = within(agent.peer().list_all_tools()).await.expect("tools");
    assert!(tools.iter().any(|t| t.name == "coder_workspace_bash"));
    let (s, view) = h
        .put(
            "/api/policy",
            json!({"tool": "coder_workspace_bash", "agent": "cursor", "decision": "deny"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{view}");
    let row = view["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["tool"] == "coder_workspace_bash")
        .expect("bash listed")
        .clone();
    assert_eq!(row["overrides"]["cursor"], "deny");
    assert_eq!(row["default"], "ask");
    let tools = within(agent.peer().list_all_tools()).await.expect("tools");
    assert!(
        !tools.iter().any(|t| t.name == "coder_workspace_bash"),
        "denied tool hidden"
    );
    let (s, _) = h
        .put(
            "/api/policy",
            json!({"tool": "coder_workspace_bash", "agent": "cursor", "decision": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = h
        .put(
            "/api/policy",
            json!({"tool": "x", "agent": "cursor", "decision": "sometimes"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // A read-only call is allowed by default; it is streamed and recorded.
    let args = json!({}).as_object().cloned().expect("object");
    let result = within(
        agent
            .peer()
            .call_tool(CallToolRequestParams::new("coder_list_workspaces").with_arguments(args)),
    )
    .await
    .expect("call");
    assert_ne!(result.is_error, Some(true));
    let call_event = events
        .next("call", |v| v["tool"] == "coder_list_workspaces")
        .await;
    assert_eq!(call_event["agent"], "cursor");
    assert_eq!(call_event["outcome"], "ok");

    h.bridge.flush_activity().await.expect("flush");
    let (s, rows) = h
        .get("/api/activity?tool=coder_list_workspaces&limit=5")
        .await;
    assert_eq!(s, StatusCode::OK, "{rows}");
    let rows = rows.as_array().expect("rows").clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["agent"], "cursor");
    assert!(rows[0]["id"].is_i64());
    let (s, stats) = h.get("/api/activity/stats?window_secs=600").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        stats["by_tool"]
            .as_array()
            .expect("by_tool")
            .iter()
            .any(|g| g["key"] == "coder_list_workspaces")
    );
    let (s, _) = h.get("/api/activity?outcome=bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    agent.cancel().await.ok();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_listed_previewed_configured_and_removed_in_a_temp_home() {
    let h = Harness::start(Duration::from_secs(30)).await;
    let (s, list) = h.get("/api/agents").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    for name in [
        "claude-desktop",
        "cursor",
        "vscode",
        "windsurf",
        "claude-code",
        "zed",
    ] {
        assert!(names.contains(&name), "{name} listed");
    }
    let cursor_file = h.tmp.path().join("home/.cursor/mcp.json");

    let (s, plan) = h
        .post("/api/agents/cursor/configure", json!({"dry_run": true}))
        .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(
        (plan["changed"].clone(), plan["applied"].clone()),
        (json!(true), json!(false))
    );
    assert!(plan["diff"].as_str().expect("diff").contains("+"), "{plan}");
    assert!(!cursor_file.exists(), "a dry run writes nothing");

    let (s, done) = h
        .post("/api/agents/cursor/configure", json!({"dry_run": false}))
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["applied"], true);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&cursor_file).expect("written"))
            .expect("json");
    assert_eq!(
        written["mcpServers"]["coder"]["url"],
        json!(h.bridge.mcp_url())
    );
    let (_, list) = h.get("/api/agents").await;
    let cursor = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "cursor")
        .unwrap()
        .clone();
    assert_eq!(
        (cursor["configured"].clone(), cursor["up_to_date"].clone()),
        (json!(true), json!(true))
    );

    let (s, gone) = h.post("/api/agents/cursor/unconfigure", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(gone["removed"], true);
    let (s, body) = h
        .post("/api/agents/notepad/configure", json!({"dry_run": true}))
        .await;
    assert_eq!(
        (s, body["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("unknown_agent"))
    );

    std::fs::create_dir_all(h.tmp.path().join("home/.codeium/windsurf")).unwrap();
    std::fs::write(
        h.tmp.path().join("home/.codeium/windsurf/mcp_config.json"),
        "{ not json",
    )
    .unwrap();
    let (s, body) = h
        .post("/api/agents/windsurf/configure", json!({"dry_run": true}))
        .await;
    assert_eq!(
        (s, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("config_unparseable"))
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_out_through_the_api() {
    let sim = Sim::start(SimConfig::default().dcr(true).auto_approve(true))
        .await
        .expect("sim");
    let h = Harness::start_with(sim, None, None, Duration::from_secs(30)).await;
    let (_, status) = h.get("/api/status").await;
    assert_eq!(status["signed_in"], false);
    let mut events = h.bridge.subscribe();

    let (s, started) = h
        .post(
            "/api/signin",
            json!({"deployment_url": h.sim.url().as_str()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    let attempt = started["attempt_id"].as_str().expect("id").to_owned();
    // The browser: the simulator approves at once and redirects to our callback.
    let authorize = started["authorize_url"].as_str().expect("url");
    let resp = within(h.http.get(authorize).send())
        .await
        .expect("authorize");
    let callback = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    within(h.http.get(&callback).send())
        .await
        .expect("callback");

    let done = within(async {
        loop {
            if let Ok(bridge::supervisor::BridgeEvent::SignIn(v)) = events.recv().await {
                return v;
            }
        }
    })
    .await;
    assert_eq!(
        done.state,
        bridge::supervisor::SignInState::Done,
        "{done:?}"
    );
    let (_, view) = h.get(&format!("/api/signin/{attempt}")).await;
    assert_eq!(view["state"], "done");
    let (_, status) = h.get("/api/status").await;
    assert_eq!(status["signed_in"], true, "{status}");
    assert_eq!(status["user"]["username"], "demo");
    assert_eq!(status["storage_backend"], "file");
    let (s, agents) = h.get("/api/agents").await;
    assert_eq!(s, StatusCode::OK, "{agents}");
    // The OAuth tokens are in the file store now: scan every answer so far.
    assert!(h.tmp.path().join("config/secrets.json").exists());
    // The sim's session token plus the stored OAuth access and refresh tokens.
    assert!(h.assert_no_coder_token() >= 3);

    let (s, _) = h.post("/api/signout", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, status) = h.get("/api/status").await;
    assert_eq!(status["signed_in"], false);
    let (s, body) = h.post("/api/signin", json!({"demo": true})).await;
    assert_eq!(
        (s, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("demo_unavailable"))
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_is_used_in_memory_until_sign_out() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    // The core's own launcher: the demo runs on a simulator of its own.
    let demo = Arc::new(bridge::demo::SimLauncher::default());
    let launcher: Arc<dyn DemoLauncher> = demo.clone();
    let h = Harness::start_with(sim, None, Some(launcher), Duration::from_secs(30)).await;
    let (_, status) = h.get("/api/status").await;
    assert_eq!(
        (
            status["signed_in"].clone(),
            status["demo"].clone(),
            status["demo_available"].clone()
        ),
        (json!(false), json!(false), json!(true))
    );
    let mut events = Events::open(&h).await;
    let (s, started) = h.post("/api/signin", json!({"demo": true})).await;
    assert_eq!(s, StatusCode::OK, "{started}");
    assert_eq!(
        (started["state"].clone(), started["authorize_url"].clone()),
        (json!("done"), Value::Null)
    );
    let signin = events.next("signin", |_| true).await;
    assert_eq!(signin["attempt_id"], started["attempt_id"]);
    events.next("status", |v| v["demo"] == true).await;
    let (_, status) = h.get("/api/status").await;
    assert_eq!(
        (status["signed_in"].clone(), status["demo"].clone()),
        (json!(true), json!(true))
    );
    assert!(
        !h.tmp.path().join("config/account.json").exists(),
        "nothing stored"
    );

    let agent = h.agent("zed").await;
    let args = json!({}).as_object().cloned().expect("object");
    let result = within(agent.peer().call_tool(
        CallToolRequestParams::new("coder_get_authenticated_user").with_arguments(args),
    ))
    .await
    .expect("call");
    assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    agent.cancel().await.ok();

    let (s, _) = h.post("/api/signout", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, status) = h.get("/api/status").await;
    assert_eq!(
        (status["signed_in"].clone(), status["demo"].clone()),
        (json!(false), json!(false))
    );
    h.stop().await;
    demo.shutdown().await;
}
