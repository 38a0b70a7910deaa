//! Relay overhead: the same calls straight to the simulator and through the
//! daemon. Ignored by default (timing, not correctness); run with
//! `cargo test -p bridge --release --test it measure -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use coder_sim::Era;
use futures::future::join_all;
use rmcp::{
    ServiceExt,
    model::ClientConfig,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::json;

use super::harness::{Client, Harness, bounded, params};

const CALLS: usize = 200;
const TOOL: &str = "coder_get_authenticated_user";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn sequential(client: &Client) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        client
            .call_tool(params(TOOL, json!({})))
            .await
            .expect("call");
        times.push(start.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.95))
}

async fn concurrent(client: &Client) -> f64 {
    let start = Instant::now();
    for _ in 0..(CALLS / 8) {
        let calls = (0..8).map(|_| client.call_tool(params(TOOL, json!({}))));
        for r in join_all(calls).await {
            r.expect("call");
        }
    }
    CALLS as f64 / start.elapsed().as_secs_f64()
}

async fn measure(era: Era) {
    let h = Harness::start(era).await;
    let config = StreamableHttpClientTransportConfig::with_uri(h.sim.mcp_url().as_str())
        .auth_header(h.sim.session_token());
    let direct: Client = bounded(
        "direct client",
        ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("direct");
    let relayed = h.client("cursor").await;
    // Warm both paths (connections, tool list cache).
    sequential(&direct).await;
    sequential(&relayed).await;

    let (d50, d95) = sequential(&direct).await;
    let (r50, r95) = sequential(&relayed).await;
    let dt = concurrent(&direct).await;
    let rt = concurrent(&relayed).await;
    // A pooled, keep-alive client (the relay itself, as the stdio shim uses
    // it) against the daemon's SSE answers.
    let pooled = bridge::relay::Relay::new(
        std::sync::Arc::new(bridge::auth::StaticToken(bridge::auth::UpstreamSession {
            access_url: format!("http://{}/", h.daemon.local_addr())
                .parse()
                .expect("url"),
            access_token: bridge::secret::Secret::new(h.token("cursor")),
            expires_at: None,
        })),
        bridge::relay::RelayOptions {
            endpoint: bridge::relay::Endpoint::Fixed(h.daemon.mcp_url().parse().expect("url")),
            ..bridge::relay::RelayOptions::default()
        },
    );
    let mut pooled_times = Vec::new();
    for i in 0..(CALLS + 20) {
        let start = Instant::now();
        pooled
            .call_tool(params(TOOL, json!({})), Default::default())
            .await
            .expect("pooled call");
        if i >= 20 {
            pooled_times.push(start.elapsed());
        }
    }
    pooled_times.sort();
    let p50 = percentile(&pooled_times, 0.5);
    pooled.shutdown().await;
    println!("{era:?}: pooled relay client via daemon p50 {p50:?}");
    println!(
        "{era:?}: sequential p50/p95 direct {d50:?}/{d95:?}, via daemon {r50:?}/{r95:?}; 8-way calls/s direct {dt:.0}, via daemon {rt:.0}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing, not correctness"]
async fn measure_relay_overhead() {
    for era in [Era::Stateless, Era::Sessions] {
        tokio::time::timeout(Duration::from_secs(180), measure(era))
            .await
            .expect("measurement finishes");
    }
}
