//! End to end: `configure cursor` in a temp HOME, the daemon signed in to the
//! simulated Coder (`coder-bridge demo`), a real MCP client that connects with
//! exactly what was written into Cursor's config and calls a tool; then
//! `unconfigure cursor` removes only our entry and the token stops working.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;

use crate::support::{BIN, Reaper, free_port};

const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn root(&self) -> PathBuf {
        self.dir.path().join("home ñ")
    }

    fn command(&self, args: &[&str]) -> Command {
        let root = self.root();
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("HOME", &root)
            .env("XDG_CONFIG_HOME", root.join(".config"))
            .env("XDG_DATA_HOME", root.join(".local/share"))
            .env("XDG_STATE_HOME", root.join(".local/state"))
            .env("XDG_RUNTIME_DIR", root.join("run"))
            .env("CODER_BRIDGE_SECRET_STORE", "file")
            .env_remove("CODER_BRIDGE_PORT")
            .stdin(Stdio::null());
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run coder-bridge");
        assert!(
            out.status.success(),
            "coder-bridge {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Kills (and reaps) the demo when the test ends, however it ends.
fn start_demo(home: &Home, port: u16) -> Reaper {
    let mut child = home
        .command(&["demo", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let reaper = Reaper(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("CODER_BRIDGE_URL=") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(LIMIT).expect("the demo daemon came up");
    reaper
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read config")).expect("JSON")
}

/// URL and bearer token exactly as Cursor would read them from its config.
fn cursor_entry(config: &Path) -> (String, String) {
    let entry = &read_json(config)["mcpServers"]["coder"];
    let url = entry["url"].as_str().expect("url").to_owned();
    let header = entry["headers"]["Authorization"]
        .as_str()
        .expect("Authorization");
    let token = header
        .strip_prefix("Bearer ")
        .expect("a bearer header")
        .to_owned();
    (url, token)
}

async fn status_for(url: &str, token: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("reach the daemon")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_cursor_entry_reaches_coder_and_unconfigure_revokes_it() {
    let home = Home {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let config = home.root().join(".cursor/mcp.json");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &config,
        "{\"mcpServers\": {\"linear\": {\"url\": \"https://mcp.linear.app/sse\"}}}\n",
    )
    .expect("seed");

    let port = free_port();
    let port_arg = port.to_string();
    home.ok(&["configure", "cursor", "--port", &port_arg]);
    let _demo = start_demo(&home, port);

    let (url, token) = cursor_entry(&config);
    assert_eq!(url, format!("http://127.0.0.1:{port}/mcp"));
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.clone()).auth_header(token.clone()),
    );
    let client = bounded("initialize", ClientConfig::default().serve(transport))
        .await
        .expect("the configured entry connects");
    let tools = bounded("list tools", client.list_all_tools())
        .await
        .expect("tools");
    assert!(
        tools
            .iter()
            .any(|t| t.name == "coder_get_authenticated_user"),
        "{tools:?}"
    );
    let result = bounded(
        "call a tool",
        client.call_tool(CallToolRequestParams::new("coder_get_authenticated_user")),
    )
    .await
    .expect("the call goes through to the simulated Coder");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let _ = client.cancel().await;

    home.ok(&["unconfigure", "cursor"]);
    let after = read_json(&config);
    assert!(after["mcpServers"].get("coder").is_none(), "{after:#}");
    assert_eq!(
        after["mcpServers"]["linear"]["url"],
        "https://mcp.linear.app/sse"
    );
    // The running daemon notices the revocation made by another process
    // within its re-check interval (250 ms), without a restart.
    let revoked_at = std::time::Instant::now();
    loop {
        let status = status_for(&url, &token).await;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "the revoked token still works ({status})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("revocation took effect after {:?}", revoked_at.elapsed());
    let fresh = ClientConfig::default().serve(StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
    ));
    assert!(
        bounded("initialize with a revoked token", fresh)
            .await
            .is_err()
    );
}
