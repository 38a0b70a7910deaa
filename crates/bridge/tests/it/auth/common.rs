//! Helpers shared by the auth tests.

use std::future::Future;
use std::time::Duration;

use bridge::auth::{Account, AuthManager, SignIn, SignInOptions, StoreChoice};
use coder_sim::{Sim, SimConfig};
use tempfile::TempDir;
use url::Url;

/// Fails a hung test instead of stalling the suite.
pub async fn within<F: Future<Output = T>, T>(body: F) -> T {
    tokio::time::timeout(Duration::from_secs(40), body)
        .await
        .expect("test timed out")
}

pub async fn sim(config: SimConfig) -> Sim {
    Sim::start(config).await.expect("simulator starts")
}

pub fn auto() -> SimConfig {
    SimConfig::default().auto_approve(true)
}

/// A manager over a fresh temp config dir, secrets in the 0600 file.
pub struct Env {
    pub dir: TempDir,
    pub manager: AuthManager,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let manager = AuthManager::with_store(dir.path().join("config"), StoreChoice::File);
        Self { dir, manager }
    }

    pub fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("config")
    }

    /// The raw secrets file (to check what is, and is not, stored).
    pub fn secrets(&self) -> serde_json::Map<String, serde_json::Value> {
        let text = std::fs::read_to_string(self.config().join("secrets.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_default()
    }

    pub fn secret(&self, suffix: &str) -> Option<String> {
        self.secrets()
            .into_iter()
            .find(|(k, _)| k.ends_with(suffix))
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    }

    pub fn set_secret(&self, suffix: &str, value: &str) {
        let mut all = self.secrets();
        let key = all
            .keys()
            .find(|k| k.ends_with(suffix))
            .cloned()
            .expect("secret present");
        all.insert(key, value.into());
        std::fs::write(
            self.config().join("secrets.json"),
            serde_json::to_vec(&all).expect("json"),
        )
        .expect("write secrets");
    }
}

/// Plays the browser: GET the authorize URL (auto-approve answers with a
/// redirect), then GET the callback it names. Returns the callback's status
/// and page.
pub async fn browse(authorize: &Url) -> (u16, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let first = http.get(authorize.clone()).send().await.expect("authorize");
    assert!(
        first.status().is_redirection(),
        "authorize answered {}: {}",
        first.status(),
        first.text().await.unwrap_or_default()
    );
    let location = first
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    let back = http.get(location).send().await.expect("callback");
    let status = back.status().as_u16();
    (status, back.text().await.unwrap_or_default())
}

/// A whole browser sign-in.
pub async fn sign_in(manager: &AuthManager, options: SignInOptions) -> Account {
    let flow = SignIn::start(manager, options)
        .await
        .expect("sign-in starts");
    let url = flow.authorize_url().clone();
    // Spawned: the control API will finish sign-ins on a task, so the
    // future must be Send + 'static.
    let finishing = tokio::spawn(flow.finish());
    let (status, page) = browse(&url).await;
    let account = finishing
        .await
        .expect("finish task")
        .expect("sign-in finishes");
    assert_eq!(status, 200);
    assert!(page.contains("You can close this tab"), "{page}");
    account
}

/// Calls `GET /api/v2/users/me` with a bearer token; the status code.
pub async fn users_me(sim: &Sim, token: &str) -> u16 {
    reqwest::Client::new()
        .get(sim.url().join("api/v2/users/me").expect("url"))
        .bearer_auth(token)
        .send()
        .await
        .expect("users/me")
        .status()
        .as_u16()
}

pub use crate::support::logs::captured as captured_logs;
