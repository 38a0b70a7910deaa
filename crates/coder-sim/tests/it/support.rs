//! Helpers shared by the simulator's integration tests.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coder_sim::{Sim, SimConfig};
use http::{HeaderName, HeaderValue};
use rand::Rng;
use rand::distr::Alphanumeric;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

pub const CALLBACK: &str = "http://127.0.0.1:4455/callback";

/// Runs a test body with an upper bound so a hang fails instead of stalling.
pub async fn within<F: Future<Output = T>, T>(body: F) -> T {
    tokio::time::timeout(Duration::from_secs(20), body)
        .await
        .expect("test timed out")
}

pub async fn start(config: SimConfig) -> Sim {
    Sim::start(config).await.expect("simulator starts")
}

/// A client that does not follow redirects, so tests can read `Location`.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// A PKCE verifier and its S256 challenge, computed independently of the
/// simulator.
pub fn pkce() -> (String, String) {
    let verifier: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(64)
        .map(char::from)
        .collect();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn authorize_url(sim: &Sim, params: &[(&str, &str)]) -> Url {
    let mut url = sim.url().join("oauth2/authorize").expect("authorize url");
    url.query_pairs_mut().extend_pairs(params);
    url
}

/// The standard parameter set a well-behaved client sends.
pub fn standard_params<'a>(
    client_id: &'a str,
    redirect: &'a str,
    challenge: &'a str,
    resource: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("state", "st4te"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("resource", resource),
        ("scope", "all"),
    ]
}

pub fn location(response: &reqwest::Response) -> Url {
    let location = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ascii location");
    Url::parse(location).expect("absolute location")
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The resource the protected-resource metadata names (the access URL).
pub async fn resource(sim: &Sim) -> String {
    let metadata: Value = http()
        .get(
            sim.url()
                .join(".well-known/oauth-protected-resource")
                .expect("url"),
        )
        .send()
        .await
        .expect("metadata request")
        .json()
        .await
        .expect("metadata json");
    metadata["resource"].as_str().expect("resource").to_owned()
}

/// Runs authorize (auto-approve) and returns the code and verifier.
pub async fn authorize(sim: &Sim, client_id: &str, resource: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        sim,
        &standard_params(client_id, CALLBACK, &challenge, resource),
    );
    let response = http().get(url).send().await.expect("authorize");
    assert_eq!(response.status(), 302, "authorize redirects");
    let back = location(&response);
    assert_eq!(query_param(&back, "state").as_deref(), Some("st4te"));
    let code = query_param(&back, "code").expect("a code");
    (code, verifier)
}

pub async fn exchange(
    sim: &Sim,
    client_id: &str,
    secret: &str,
    code: &str,
    verifier: &str,
    resource: &str,
) -> reqwest::Response {
    http()
        .post(sim.url().join("oauth2/tokens").expect("url"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
            ("resource", resource),
        ])
        .send()
        .await
        .expect("token request")
}

/// Full sign-in: a confidential app, authorize, exchange. Returns the token
/// JSON and the app's credentials.
pub async fn sign_in(sim: &Sim) -> (Value, String, String) {
    let (client_id, secret) = sim.register_app("Test app", &[CALLBACK], true);
    let secret = secret.expect("confidential app has a secret");
    let resource = resource(sim).await;
    let (code, verifier) = authorize(sim, &client_id, &resource).await;
    let response = exchange(sim, &client_id, &secret, &code, &verifier, &resource).await;
    assert_eq!(response.status(), 200);
    (
        response.json().await.expect("token json"),
        client_id,
        secret,
    )
}

pub async fn refresh(sim: &Sim, client_id: &str, secret: &str, token: &str) -> reqwest::Response {
    http()
        .post(sim.url().join("oauth2/tokens").expect("url"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("refresh request")
}

/// A raw JSON-RPC POST to the MCP endpoint with a session token.
pub async fn mcp_post(
    sim: &Sim,
    token: &str,
    body: Value,
) -> Result<reqwest::Response, reqwest::Error> {
    http()
        .post(sim.mcp_url())
        .header("Coder-Session-Token", token)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18")
        .json(&body)
        .send()
        .await
}

pub fn call_body(tool: &str, arguments: Value) -> Value {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}
    })
}

pub type Client = RunningService<RoleClient, ClientConfig>;

/// An rmcp client that authenticates with the `Coder-Session-Token` header.
pub async fn mcp_client(url: &str, token: &str) -> Client {
    let headers = HashMap::from([(
        HeaderName::from_static("coder-session-token"),
        HeaderValue::from_str(token).expect("token header"),
    )]);
    let config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers);
    ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP client connects")
}

/// An rmcp client that authenticates with `Authorization: Bearer`.
pub async fn mcp_client_bearer(url: &str, token: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
    ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP client connects")
}

pub async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let arguments = arguments.as_object().cloned().expect("object arguments");
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .expect("tools/call succeeds at the protocol level")
}

/// The JSON a Coder tool returns as its text content.
pub fn result_json(result: &CallToolResult) -> Value {
    let text = result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .expect("text content");
    serde_json::from_str(&text).expect("tool text is JSON")
}
