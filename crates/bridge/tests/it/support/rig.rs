//! A real bridge (`Bridge::start` on port 0 over temp folders, secrets in
//! the 0600 file) signed in to the simulated Coder through the control API
//! and a scripted browser, with real rmcp clients as agents.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bridge::auth::StoreChoice;
use bridge::clients::Dirs;
use bridge::relay::RelayOptions;
use bridge::supervisor::{Bridge, BridgeHandle, BridgeOptions};
use coder_sim::{Sim, SimConfig};
use rmcp::ServiceExt;
use rmcp::model::ClientConfig;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

pub type Agent = RunningService<RoleClient, ClientConfig>;

/// Every step is bounded: a hang fails the test instead of the suite.
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub struct Rig {
    pub tmp: tempfile::TempDir,
    pub sim: Sim,
    pub bridge: BridgeHandle,
    pub base: String,
    control: String,
    http: reqwest::Client,
    /// Every control API answer, for the secrets scan.
    pub bodies: Mutex<Vec<String>>,
    /// Authorization codes the browser carried back.
    pub codes: Mutex<Vec<String>>,
}

impl Rig {
    /// A simulator with `config` (DCR on, auto-approve forced), a bridge
    /// with `relay` options, not signed in yet.
    pub async fn start(config: SimConfig, relay: RelayOptions) -> Self {
        let sim = within("sim", Sim::start(config.dcr(true).auto_approve(true)))
            .await
            .expect("the simulator starts");
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
        o.relay = relay;
        let bridge = within("bridge", Bridge::start(o))
            .await
            .expect("the bridge starts");
        let control = bridge::web::read_control_token(&tmp.path().join("config"))
            .expect("control token")
            .expose()
            .to_owned();
        Self {
            base: format!("http://{}", bridge.local_addr()),
            tmp,
            sim,
            bridge,
            control,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            bodies: Mutex::new(Vec::new()),
            codes: Mutex::new(Vec::new()),
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.tmp.path().join("config")
    }

    /// Calls the control API; the status and the JSON answer.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.control);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = within("control API", req.send())
            .await
            .expect("control API answers");
        let status = resp.status().as_u16();
        let text = within("body", resp.text()).await.expect("body");
        self.bodies.lock().expect("bodies").push(text.clone());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Signs in through `POST /api/signin`, plays the browser, and waits
    /// until the attempt is done.
    pub async fn sign_in(&self) {
        let (status, started) = self
            .api(
                reqwest::Method::POST,
                "/api/signin",
                Some(json!({"deployment_url": self.sim.url().as_str()})),
            )
            .await;
        assert_eq!(status, 200, "{started}");
        let authorize = started["authorize_url"].as_str().expect("authorize URL");
        let first = within("authorize", self.http.get(authorize).send())
            .await
            .expect("authorize");
        assert!(first.status().is_redirection(), "{}", first.status());
        let location = first.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let url = url::Url::parse(&location).expect("callback URL");
        if let Some((_, code)) = url.query_pairs().find(|(k, _)| k == "code") {
            self.codes.lock().expect("codes").push(code.into_owned());
        }
        let back = within("callback", self.http.get(location).send())
            .await
            .expect("callback");
        assert_eq!(back.status(), 200);
        let id = started["attempt_id"]
            .as_str()
            .expect("attempt id")
            .to_owned();
        within("sign-in done", async {
            loop {
                let (_, view) = self
                    .api(reqwest::Method::GET, &format!("/api/signin/{id}"), None)
                    .await;
                match view["state"].as_str() {
                    Some("done") => return,
                    Some("failed") => panic!("sign-in failed: {view}"),
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        })
        .await;
    }

    /// The client token the bridge hands out for `agent` (its copyable entry).
    pub async fn agent_token(&self, agent: &str) -> String {
        let (status, entry) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/agents/{agent}/entry"),
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(status, 200, "{entry}");
        entry["entry"]["headers"]["Authorization"]
            .as_str()
            .and_then(|h| h.strip_prefix("Bearer "))
            .expect("the entry carries a bearer client token")
            .to_owned()
    }

    /// An rmcp client speaking for `agent` with its own client token.
    pub async fn agent(&self, agent: &str) -> Agent {
        let token = self.agent_token(agent).await;
        let config =
            StreamableHttpClientTransportConfig::with_uri(self.bridge.mcp_url()).auth_header(token);
        within(
            "agent connects",
            ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)),
        )
        .await
        .expect("the agent connects")
    }

    /// Every (key, secret) in the 0600 secrets file right now.
    pub fn stored_secrets(&self) -> Vec<(String, String)> {
        let text =
            std::fs::read_to_string(self.config_dir().join("secrets.json")).unwrap_or_default();
        let map: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap_or_default();
        map.into_iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
            .collect()
    }

    pub async fn shutdown(self) -> tempfile::TempDir {
        within("bridge shutdown", self.bridge.shutdown()).await;
        within("sim shutdown", self.sim.shutdown()).await;
        self.tmp
    }
}
