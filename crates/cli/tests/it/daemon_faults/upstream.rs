//! Coder paused (SIGSTOP) or killed and restarted under a running daemon
//! and a connected agent: calls fail clearly meanwhile, and the same agent
//! session works again within a second of recovery.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, GetPromptRequestParams};
use rmcp::service::{RoleClient, RunningService};

use super::{Home, Reaper, TOOL, agent, bounded, coder_sim_binary, free_port};

type Agent = Arc<RunningService<RoleClient, ClientConfig>>;

/// How long Coder stays paused; the issue's full run is 30 s (the default).
/// `HARDEN_PAUSE_SECS` shortens it for a quick local run.
fn pause_length() -> Duration {
    let secs = std::env::var("HARDEN_PAUSE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Longest a call may take to fail once Coder stops answering: the relay
/// probes after a request has waited 4 s and declares Coder not responding
/// after two 2-second probe time-outs (~8.5 s), plus slack for a busy CI box.
const FAILS_WITHIN: Duration = Duration::from_secs(12);

/// `coder-sim` as a child process on `port` (0: any), once it prints its
/// URL and the demo session token.
fn start_sim(port: u16) -> (Reaper, String, String) {
    let mut sim = Command::new(coder_sim_binary());
    sim.args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let mut sim = sim.spawn().expect("spawn coder-sim");
    let stdout = sim.stdout.take().expect("stdout");
    let sim = Reaper(sim);
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let (mut url, mut token) = (String::new(), String::new());
    for line in lines.by_ref() {
        if let Some(v) = line.strip_prefix("CODER_SIM_URL=") {
            url = v.to_owned();
        } else if let Some(v) = line.strip_prefix("CODER_SIM_SESSION_TOKEN=") {
            token = v.to_owned();
            break;
        }
    }
    assert!(
        !url.is_empty() && !token.is_empty(),
        "coder-sim printed its URL and token"
    );
    std::thread::spawn(move || lines.for_each(drop));
    (sim, url, token)
}

/// Signs in to `url` with `token`, starts `coder-bridge serve` and connects
/// an agent to it.
async fn signed_in_daemon(home: &Home, url: &str, token: &str) -> (Reaper, u16, Agent) {
    let mut login = home.command(&["login", url, "--token"]);
    login
        .env("CODER_BRIDGE_SECRET_STORE", "file")
        .stdin(Stdio::piped());
    let mut child = login
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("login");
    {
        use std::io::Write;
        writeln!(child.stdin.take().expect("stdin"), "{token}").expect("token");
    }
    let out = child.wait_with_output().expect("login");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tokens = bridge::client_tokens::ClientTokens::open(
        home.config().join(bridge::client_tokens::FILE_NAME),
    )
    .expect("tokens");
    let agent_token = tokens.issue("cursor").expect("issue").expose().to_owned();
    let port = free_port();
    let mut serve = home.command(&["serve", "--port", &port.to_string()]);
    serve
        .env("CODER_BRIDGE_SECRET_STORE", "file")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut daemon = serve.spawn().expect("serve");
    let out = daemon.stdout.take().expect("stdout");
    let daemon = Reaper(daemon);
    let mut out = BufReader::new(out).lines().map_while(Result::ok);
    assert!(
        out.by_ref().any(|l| l.starts_with("CODER_BRIDGE_URL=")),
        "serve prints its URL"
    );
    std::thread::spawn(move || out.for_each(drop));
    (daemon, port, Arc::new(agent(port, &agent_token).await))
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn call(client: Agent) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(TOOL))
        .await
        .expect("a tool result (errors for the model come as tool errors)")
}

/// A read nothing has cached: it must reach Coder.
async fn read_prompt(client: Agent) -> Result<(), rmcp::ServiceError> {
    let mut get = GetPromptRequestParams::new("coder_agents_delegate");
    get.arguments = serde_json::json!({"task": "check"}).as_object().cloned();
    client.get_prompt(get).await.map(|_| ())
}

fn assert_unavailable(result: Result<(), rmcp::ServiceError>) {
    let Err(rmcp::ServiceError::McpError(e)) = result else {
        panic!("expected a JSON-RPC error, got {result:?}");
    };
    assert_eq!(e.code, bridge::relay::UPSTREAM_UNAVAILABLE, "{e:?}");
    assert!(e.message.contains("is not responding"), "{}", e.message);
}

async fn relay_state(port: u16) -> String {
    let health: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    health["relay"].as_str().unwrap_or_default().to_owned()
}

/// Calls until one works, each bounded; how long after `since` it worked.
async fn works_again(client: &Agent, since: Instant) -> Duration {
    let r = bounded("call after recovery", call(client.clone())).await;
    assert_ne!(r.is_error, Some(true), "{}", text_of(&r));
    since.elapsed()
}

fn signal(sim: &Reaper, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &sim.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

/// Coder paused with SIGSTOP (30 s in the full run), then SIGCONT. While
/// paused, a call in flight ends as "may or may not have run", a read ends
/// as -32003 "not responding", both within ~10 s, and new calls are refused
/// within a probe time-out; the tool list is still served from what the
/// bridge knows. After SIGCONT the same agent session works within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_paused_30_seconds_recovers_within_a_second() {
    let home = Home::new();
    let (sim, url, token) = start_sim(0);
    let (_daemon, port, client) = signed_in_daemon(&home, &url, &token).await;
    let r = bounded("call before", call(client.clone())).await;
    assert_ne!(r.is_error, Some(true), "{}", text_of(&r));

    signal(&sim, "STOP");
    let paused_at = Instant::now();
    let in_flight = tokio::spawn(call(client.clone()));
    let read = tokio::spawn(read_prompt(client.clone()));
    let in_flight = tokio::time::timeout(FAILS_WITHIN, in_flight)
        .await
        .expect("the call in flight fails clearly, not held")
        .expect("join");
    let failed_after = paused_at.elapsed();
    assert_eq!(in_flight.is_error, Some(true), "{}", text_of(&in_flight));
    let text = text_of(&in_flight);
    assert!(text.contains("may or may not have run"), "{text}");
    assert!(text.contains("Coder stopped responding"), "{text}");
    assert!(text.contains(&url), "names the deployment: {text}");
    assert_unavailable(
        tokio::time::timeout(FAILS_WITHIN, read)
            .await
            .expect("the read fails clearly, not held")
            .expect("join"),
    );
    assert_eq!(relay_state(port).await, "error");

    let asked = Instant::now();
    let refused = bounded("call while paused", call(client.clone())).await;
    let refused_in = asked.elapsed();
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text_of(&refused).contains("is not responding"),
        "{}",
        text_of(&refused)
    );
    assert!(refused_in < Duration::from_secs(3), "{refused_in:?}");
    let tools = bounded("tools while paused", client.list_all_tools())
        .await
        .expect("the tool list the bridge already has");
    assert!(tools.iter().any(|t| t.name == TOOL));

    tokio::time::sleep(pause_length().saturating_sub(paused_at.elapsed())).await;
    signal(&sim, "CONT");
    let resumed_at = Instant::now();
    let recovered = works_again(&client, resumed_at).await;
    eprintln!(
        "paused {:?}: the call in flight failed after {failed_after:?}, a new one in {refused_in:?}; works {recovered:?} after SIGCONT",
        pause_length()
    );
    assert!(
        recovered < Duration::from_secs(1),
        "works again within 1 s: {recovered:?}"
    );
    assert_eq!(relay_state(port).await, "connected");
    drop(sim);
}

/// Coder killed (SIGKILL) and, a while later, started again on the same
/// port: while it is down a waiting call ends as "not run", new calls are
/// refused at once (connection refused), and after the restart the same
/// agent session works within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_killed_and_restarted_recovers_within_a_second() {
    let home = Home::new();
    let (sim, url, token) = start_sim(0);
    let sim_port = url::Url::parse(&url)
        .expect("sim url")
        .port()
        .expect("sim port");
    let (_daemon, port, client) = signed_in_daemon(&home, &url, &token).await;
    let r = bounded("call before", call(client.clone())).await;
    assert_ne!(r.is_error, Some(true), "{}", text_of(&r));

    drop(sim); // SIGKILL, reaped
    let killed_at = Instant::now();
    let waited = bounded("call while down", call(client.clone())).await;
    let failed_after = killed_at.elapsed();
    assert_eq!(waited.is_error, Some(true));
    let text = text_of(&waited);
    assert!(text.contains("the request was not run"), "{text}");
    assert!(text.contains("is not responding"), "{text}");
    assert!(failed_after < FAILS_WITHIN, "{failed_after:?}");

    let asked = Instant::now();
    let refused = bounded("call while down", call(client.clone())).await;
    let refused_in = asked.elapsed();
    assert!(
        text_of(&refused).contains("is not responding"),
        "{}",
        text_of(&refused)
    );
    assert!(refused_in < Duration::from_millis(500), "{refused_in:?}");
    assert_unavailable(bounded("read while down", read_prompt(client.clone())).await);
    assert_eq!(relay_state(port).await, "error");

    let (sim, _, _) = start_sim(sim_port);
    let restarted_at = Instant::now();
    let recovered = works_again(&client, restarted_at).await;
    eprintln!(
        "killed: the waiting call failed after {failed_after:?}, a new one in {refused_in:?}; works {recovered:?} after the restart"
    );
    assert!(
        recovered < Duration::from_secs(1),
        "works again within 1 s: {recovered:?}"
    );
    drop(sim);
}
