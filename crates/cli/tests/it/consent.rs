//! `consent`, `policy` and `activity` against a running bridge: a real agent
//! (rmcp over streamable HTTP) waits for consent while the real binary lists
//! and answers the request through the control API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bridge::auth::StoreChoice;
use bridge::clients::Dirs;
use bridge::consent::ConsentRequest;
use bridge::events::ConsentDecision;
use bridge::policy::Decision;
use bridge::supervisor::{
    ActivityView, Bridge, BridgeHandle, BridgeOptions, CredentialsOverride, PolicyView,
};
use coder_sim::{Sim, SimConfig};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::support::BIN;

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test step timed out")
}

struct Setup {
    home: tempfile::TempDir,
    sim: Sim,
    bridge: BridgeHandle,
}

impl Setup {
    async fn start() -> Self {
        let home = tempfile::tempdir().expect("temp home");
        let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
        // The same folders the binary derives from XDG_* below.
        let config = home.path().join("config/coder-bridge");
        let mut o = BridgeOptions::new(&config, home.path().join("data/coder-bridge"));
        o.port = 0;
        o.agent_dirs = Some(Dirs {
            xdg_config: home.path().join("config"),
            home: home.path().to_owned(),
            appdata: None,
        });
        o.secret_store = StoreChoice::File;
        o.consent_timeout = Duration::from_secs(30);
        o.credentials = Some(CredentialsOverride::session_token(
            sim.url(),
            sim.session_token(),
            None,
        ));
        let bridge = within(Bridge::start(o)).await.expect("bridge starts");
        Self { home, sim, bridge }
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    async fn agent(&self, name: &str) -> RunningService<RoleClient, ClientConfig> {
        let tokens = bridge::client_tokens::ClientTokens::open(
            self.path()
                .join("config/coder-bridge")
                .join(bridge::client_tokens::FILE_NAME),
        )
        .expect("client tokens");
        let token = tokens.issue(name).expect("issue a client token");
        let config = StreamableHttpClientTransportConfig::with_uri(self.bridge.mcp_url())
            .auth_header(token.expose().to_owned());
        within(ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)))
            .await
            .expect("agent connects")
    }

    /// Runs the real binary in this HOME (off the async runtime).
    async fn cli(&self, args: &[&str]) -> Output {
        let p: PathBuf = self.path().to_owned();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        within(tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(&args)
                .env("HOME", &p)
                .env("XDG_CONFIG_HOME", p.join("config"))
                .env("XDG_DATA_HOME", p.join("data"))
                .env("XDG_STATE_HOME", p.join("state"))
                .env("XDG_RUNTIME_DIR", p.join("run"))
                .env("CODER_BRIDGE_SECRET_STORE", "file")
                .env_remove("CODER_BRIDGE_PORT")
                .output()
                .expect("run coder-bridge")
        }))
        .await
        .expect("join")
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args).await;
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Waits (bounded) until `coder-bridge consent --json` lists a request.
    async fn pending(&self) -> ConsentRequest {
        for _ in 0..100 {
            let list: Vec<ConsentRequest> =
                serde_json::from_str(&self.ok(&["consent", "--json"]).await).expect("JSON list");
            if let Some(first) = list.into_iter().next() {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no consent request appeared");
    }
}

fn bash() -> CallToolRequestParams {
    let args = serde_json::json!({"workspace": "dev", "command": "echo hello"});
    CallToolRequestParams::new("coder_workspace_bash")
        .with_arguments(args.as_object().cloned().expect("object"))
}

fn text(result: &CallToolResult) -> String {
    serde_json::to_string(&result.content).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_is_listed_and_answered_from_the_command_line() {
    let s = Setup::start().await;
    let agent = s.agent("cursor").await;

    // Deny: the agent gets a tool error that says why.
    let peer = agent.peer().clone();
    let call = tokio::spawn(async move { peer.call_tool(bash()).await });
    let request = s.pending().await;
    assert_eq!(
        (request.agent.as_str(), request.tool.as_str()),
        ("cursor", "coder_workspace_bash")
    );
    let listing = s.ok(&["consent"]).await;
    assert!(
        listing.contains("cursor") && listing.contains("coder_workspace_bash"),
        "{listing}"
    );
    assert!(
        listing.contains("starts it"),
        "the start-up warning is shown: {listing}"
    );
    assert!(
        listing.contains("/command: echo hello") && listing.contains("sha256:"),
        "the arguments are shown whole: {listing}"
    );
    let short: String = request.id.to_string().chars().take(8).collect();
    let out = s.ok(&["consent", "deny", &short]).await;
    assert!(
        out.contains("Denied cursor calling coder_workspace_bash"),
        "{out}"
    );
    let result = within(call).await.expect("join").expect("answered");
    assert_eq!(result.is_error, Some(true));
    assert!(text(&result).contains("denied"), "{}", text(&result));

    // Allow once, then always.
    let peer = agent.peer().clone();
    let call = tokio::spawn(async move { peer.call_tool(bash()).await });
    let request = s.pending().await;
    s.ok(&["consent", "allow", &request.id.to_string()]).await;
    let result = within(call).await.expect("join").expect("answered");
    assert_ne!(result.is_error, Some(true), "{}", text(&result));

    let peer = agent.peer().clone();
    let call = tokio::spawn(async move { peer.call_tool(bash()).await });
    let request = s.pending().await;
    s.ok(&["consent", "always", &request.id.to_string()]).await;
    within(call).await.expect("join").expect("answered");
    // Remembered: no prompt this time.
    let result = within(agent.peer().call_tool(bash()))
        .await
        .expect("allowed without asking");
    assert_ne!(result.is_error, Some(true), "{}", text(&result));
    let view: PolicyView =
        serde_json::from_str(&s.ok(&["policy", "--json"]).await).expect("policy JSON");
    let row = view
        .tools
        .iter()
        .find(|t| t.tool == "coder_workspace_bash")
        .expect("bash row");
    assert_eq!(row.overrides.get("cursor"), Some(&Decision::Allow));

    // Answering a request that is gone fails with a reason.
    let gone = s.cli(&["consent", "allow", &request.id.to_string()]).await;
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no pending consent request"));

    // Every call is in the activity, with how it was decided.
    let rows: Vec<ActivityView> = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let out = s
                .ok(&["activity", "--json", "--tool", "coder_workspace_bash"])
                .await;
            let rows: Vec<ActivityView> = out
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON line"))
                .collect();
            if rows.len() == 4 {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("four calls recorded");
    // Who answered: this process's child, the CLI, by its pid and parent
    // (claimed, since any holder of the control token could say so).
    let by = rows[0]
        .answered_by
        .as_ref()
        .expect("the deny says who answered");
    assert_eq!(by.face, bridge::consent::Face::Cli);
    assert!(by.claimed && by.pid.is_some(), "{by:?}");
    assert_eq!(by.ppid, Some(std::process::id()), "the parent is this test");
    assert!(
        rows[0]
            .args_digest
            .as_deref()
            .is_some_and(|d| d.len() == 64)
    );
    assert!(
        rows[3].answered_by.is_none(),
        "the policy allowed the last one"
    );
    let text_rows = s.ok(&["activity", "--tool", "coder_workspace_bash"]).await;
    assert!(
        text_rows.contains("by the command line by pid") && text_rows.contains("sha256:"),
        "{text_rows}"
    );
    let decisions: Vec<_> = rows.iter().map(|r| r.consent).collect();
    assert_eq!(
        decisions,
        vec![
            Some(ConsentDecision::Denied),
            Some(ConsentDecision::AllowedOnce),
            Some(ConsentDecision::AllowedAlways),
            Some(ConsentDecision::Allowed),
        ]
    );

    // A deny set from the command line hides the tool from this agent.
    s.ok(&[
        "policy",
        "set",
        "coder_workspace_bash",
        "deny",
        "--agent",
        "cursor",
    ])
    .await;
    let tools = within(agent.peer().list_all_tools())
        .await
        .expect("tools/list");
    assert!(!tools.iter().any(|t| t.name == "coder_workspace_bash"));
    // The policy says who set the override, and so does the activity.
    let view: PolicyView =
        serde_json::from_str(&s.ok(&["policy", "--json"]).await).expect("policy JSON");
    let row = view
        .tools
        .iter()
        .find(|t| t.tool == "coder_workspace_bash")
        .expect("bash row");
    let set = row.set_by.get("cursor").expect("who set it");
    assert_eq!(set.by.face, bridge::consent::Face::Cli);
    assert_eq!(set.by.ppid, Some(std::process::id()));
    let listing = s.ok(&["policy"]).await;
    assert!(
        listing.contains("set by the command line by pid"),
        "{listing}"
    );
    s.bridge.flush_activity().await.expect("flush");
    let out = s.ok(&["activity", "--json"]).await;
    let changed = out
        .lines()
        .map(|l| serde_json::from_str::<ActivityView>(l).expect("JSON line"))
        .find(|r| r.method == "policy/set")
        .expect("the policy change is in the activity");
    assert_eq!(changed.tool.as_deref(), Some("coder_workspace_bash"));
    assert_eq!(
        changed.answered_by.as_ref().map(|b| b.face),
        Some(bridge::consent::Face::Cli)
    );
    assert!(tools.iter().any(|t| t.name == "coder_list_workspaces"));

    within(agent.cancel()).await.ok();
    within(s.bridge.shutdown()).await;
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_follow_prints_calls_as_they_finish() {
    let s = Setup::start().await;
    let agent = s.agent("zed").await;
    let p = s.path().to_owned();
    let mut follow = tokio::process::Command::new(BIN)
        .args(["activity", "--follow", "--json", "--agent", "zed"])
        .env("HOME", &p)
        .env("XDG_CONFIG_HOME", p.join("config"))
        .env("XDG_DATA_HOME", p.join("data"))
        .env("CODER_BRIDGE_SECRET_STORE", "file")
        .env_remove("CODER_BRIDGE_PORT")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn activity --follow");
    let stdout = follow.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));

    // Calls made after it started arrive; the follower may still be
    // connecting, so keep calling until one shows up.
    let reader = tokio::spawn(async move { lines.next_line().await });
    let row = within(async {
        loop {
            agent
                .peer()
                .call_tool(CallToolRequestParams::new("coder_list_templates"))
                .await
                .expect("call");
            if reader.is_finished() {
                return reader.await.expect("join").expect("read").expect("a line");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let row: ActivityView = serde_json::from_str(&row).expect("a JSON row");
    assert_eq!(
        (row.agent.as_str(), row.tool.as_deref()),
        ("zed", Some("coder_list_templates"))
    );
    assert_eq!(row.consent, Some(ConsentDecision::Allowed));

    follow.start_kill().expect("stop the follower");
    let _ = follow.wait().await;
    within(agent.cancel()).await.ok();
    within(s.bridge.shutdown()).await;
    s.sim.shutdown().await;
}
