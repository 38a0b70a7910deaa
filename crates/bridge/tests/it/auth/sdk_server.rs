//! Sign-in, refresh and logout against an authorization server nobody here
//! wrote: the official MCP Python SDK's (`mcp.server.auth`), run from the
//! Python test environment by `tests/python/sdk_auth_server.py`. One
//! client per token endpoint authentication method, plus dynamic
//! registration.
//!
//! The interpreter is `$CODER_BRIDGE_TEST_PYTHON`, else the repository's
//! `.venv` (scripts/test creates it from requirements-test.txt). Without
//! one these tests say so and pass, unless `CODER_BRIDGE_TEST_REQUIRE_ALL=1`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use bridge::auth::{ClientAuth, Credentials, PreRegisteredClient, SignInOptions};
use bridge::secret::Secret;
use serde_json::Value;

use super::common::{Env, captured_logs, sign_in, within};

struct SdkServer {
    child: Child,
    values: HashMap<String, String>,
}

impl Drop for SdkServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CODER_BRIDGE_TEST_PYTHON") {
        return Some(path.into());
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.is_file() {
        return Some(venv);
    }
    let message = "no Python test environment (.venv): create it with `python3 -m venv .venv && .venv/bin/pip install -r requirements-test.txt`";
    assert!(
        std::env::var("CODER_BRIDGE_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
        "{message}"
    );
    eprintln!("skipped: {message}");
    None
}

impl SdkServer {
    /// Starts the server; its pre-registered clients accept `redirect_uri`.
    async fn start(redirect_uri: &str) -> Option<Self> {
        let python = python()?;
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/sdk_auth_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .args(["--redirect-uri", redirect_uri])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the SDK authorization server starts");
        let stdout = child.stdout.take().expect("stdout");
        let values = tokio::task::spawn_blocking(move || {
            let mut values = HashMap::new();
            for line in BufReader::new(stdout).lines() {
                let line = line.expect("read stdout");
                if let Some((key, value)) = line.split_once('=') {
                    values.insert(key.to_owned(), value.to_owned());
                }
                if values.contains_key("CLIENT_NONE_ID") {
                    break;
                }
            }
            values
        })
        .await
        .expect("reader");
        assert!(
            values.contains_key("RS_URL"),
            "the server printed {values:?}"
        );
        Some(Self { child, values })
    }

    fn value(&self, key: &str) -> String {
        self.values.get(key).cloned().unwrap_or_default()
    }

    fn resource_server(&self) -> String {
        self.value("RS_URL")
    }

    fn client(&self, short: &str) -> PreRegisteredClient {
        PreRegisteredClient {
            client_id: self.value(&format!("CLIENT_{short}_ID")),
            client_secret: self
                .values
                .get(&format!("CLIENT_{short}_SECRET"))
                .map(|s| Secret::new(s.clone())),
        }
    }

    async fn stats(&self) -> Value {
        reqwest::get(format!("{}/test/stats", self.resource_server()))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    probe.local_addr().expect("addr").port()
}

/// What the server recorded for `client_id` in `list` (`grants`, ...).
fn records<'a>(stats: &'a Value, list: &str, client_id: &str) -> Vec<&'a Value> {
    stats[list]
        .as_array()
        .map(|all| all.iter().filter(|r| r["client_id"] == client_id).collect())
        .unwrap_or_default()
}

/// Signs in with `client` (or by dynamic registration), renews the token
/// and signs out, checking each step at the SDK's server. False when
/// skipped (no Python environment).
async fn round_trip(client: Option<&str>, expected: ClientAuth) -> bool {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let Some(server) = SdkServer::start(&redirect).await else {
        return false;
    };
    let env = Env::new();
    let mut options = SignInOptions::new(server.resource_server());
    options.callback_port = Some(port);
    options.client = client.map(|c| server.client(c));

    let account = sign_in(&env.manager, options).await;
    assert_eq!(account.user.username, "sdk-user");
    assert_eq!(account.client_auth, Some(expected));
    let client_id = account.client_id.clone().expect("client id");
    let stats = server.stats().await;
    let grants = records(&stats, "grants", &client_id);
    assert_eq!(grants.len(), 1, "{stats}");
    assert_eq!(grants[0]["kind"], "code");

    // A 401 upstream: the refresh-token grant, with the same method.
    let session = env.manager.current().await.expect("a token");
    let renewed = env
        .manager
        .after_unauthorized(&session.access_token)
        .await
        .expect("renewed at the SDK's server");
    assert_ne!(renewed.access_token, session.access_token);
    let me = reqwest::Client::new()
        .get(format!("{}/api/v2/users/me", server.resource_server()))
        .bearer_auth(renewed.access_token.expose())
        .send()
        .await
        .expect("users/me");
    assert_eq!(me.status(), 200, "the renewed token works");
    let stats = server.stats().await;
    let kinds: Vec<&Value> = records(&stats, "grants", &client_id)
        .iter()
        .map(|g| &g["kind"])
        .collect();
    assert_eq!(kinds, ["code", "refresh"], "{stats}");

    let report = env.manager.logout().await.expect("logout");
    assert!(report.revoked, "{report:?}");
    assert_eq!(report.revoke_note, None, "{report:?}");
    let stats = server.stats().await;
    let revocations = records(&stats, "revocations", &client_id);
    assert!(revocations.iter().any(|r| r["revoked"] == true), "{stats}");
    true
}

#[tokio::test]
async fn sdk_server_with_a_client_secret_basic_client() {
    within(round_trip(Some("BASIC"), ClientAuth::ClientSecretBasic)).await;
}

#[tokio::test]
async fn sdk_server_with_a_client_secret_post_client() {
    let logs = captured_logs();
    if !within(round_trip(Some("POST"), ClientAuth::ClientSecretPost)).await {
        return;
    }
    let logged = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(
        logged.contains("trying once with the other method"),
        "the fallback is logged"
    );
}

#[tokio::test]
async fn sdk_server_with_a_public_client() {
    within(round_trip(Some("NONE"), ClientAuth::None)).await;
}

#[tokio::test]
async fn sdk_server_with_dynamic_registration() {
    within(round_trip(None, ClientAuth::ClientSecretBasic)).await;
}
