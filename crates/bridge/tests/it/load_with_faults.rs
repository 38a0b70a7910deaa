//! Many calls through the real bridge while Coder's access tokens live 5
//! seconds and every 7th upstream request is answered 503.
//!
//! The full 10,000 calls by default (about half a minute on two cores: most
//! of it is the relay's pause before retrying a 503); `HARDEN_CALLS=N`
//! scales it for a quick local run or a longer soak.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bridge::relay::RelayOptions;
use coder_sim::SimConfig;
use rmcp::ServiceError;
use rmcp::model::CallToolRequestParams;

use crate::support::rig::{Rig, within};

const TOOL: &str = "coder_get_authenticated_user";
/// Agents calling at once (each a real rmcp client with its own session).
const AGENTS: usize = 8;

fn calls() -> u64 {
    std::env::var("HARDEN_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_survive_short_tokens_and_503s_without_loss_duplication_or_sign_in() {
    let total = calls();
    let rig = Rig::start(
        SimConfig::default().access_token_lifetime(Duration::from_secs(5)),
        RelayOptions::default(),
    )
    .await;
    rig.sign_in().await;
    let signed_in = rig.sim.counters();
    assert_eq!(signed_in.registrations, 1);
    assert_eq!(signed_in.authorizations, 1);

    let agents = {
        let mut v = Vec::new();
        for _ in 0..AGENTS {
            v.push(Arc::new(rig.agent("cursor").await));
        }
        v
    };
    rig.sim.faults().fail_every_nth(Some(7));
    let tally = Arc::new(Tally::default());
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let budget = Duration::from_secs(60 + total / 20);
    let workers: Vec<_> = agents
        .iter()
        .map(|agent| {
            let (agent, tally, next) = (agent.clone(), tally.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < total {
                    match agent.call_tool(CallToolRequestParams::new(TOOL)).await {
                        Ok(result) if result.is_error != Some(true) => {
                            tally.ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(result) => panic!("the tool reported an error: {result:?}"),
                        Err(ServiceError::McpError(e)) => {
                            // A failure is a JSON-RPC error that says why.
                            assert!(
                                e.code.0 <= -32000 && !e.message.trim().is_empty(),
                                "unclear error: {e:?}"
                            );
                            tally.failed.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(other) => panic!("not a JSON-RPC error: {other:?}"),
                    }
                }
            })
        })
        .collect();
    tokio::time::timeout(budget, futures::future::try_join_all(workers))
        .await
        .unwrap_or_else(|_| panic!("{total} calls did not finish within {budget:?}"))
        .expect("every worker finished");
    let elapsed = started.elapsed();
    rig.sim.faults().fail_every_nth(None);

    let ok = tally.ok.load(Ordering::SeqCst);
    let failed = tally.failed.load(Ordering::SeqCst);
    let after = rig.sim.counters();
    let ran = after.calls_by_tool.get(TOOL).copied().unwrap_or(0);
    eprintln!(
        "{total} calls in {elapsed:?}: {ok} ok, {failed} failed; upstream ran {ran}; \
         {} MCP requests, {} refreshes",
        after.mcp_requests, after.refreshes
    );
    assert_eq!(ok + failed, total, "every call got an answer");
    // Nothing lost, nothing run twice: every success ran exactly once
    // upstream and no failed call ran there.
    assert_eq!(ran, ok, "upstream ran {ran} calls for {ok} successes");
    assert_eq!(failed, 0, "a 503 is retried: no call should fail");
    // Tokens expired many times over and were refreshed in place; the user
    // was never sent back through sign-in.
    if elapsed > Duration::from_secs(6) {
        assert!(after.refreshes >= 1, "tokens were refreshed");
    }
    assert_eq!(after.failed_refreshes, 0, "no refresh token was reused");
    assert_eq!(after.registrations, 1, "no extra registration");
    assert_eq!(after.authorizations, 1, "no extra browser sign-in");
    assert_eq!(after.token_grants, 1, "no extra code exchange");

    for agent in agents {
        if let Ok(agent) = Arc::try_unwrap(agent) {
            within("agent close", agent.cancel()).await.ok();
        }
    }
    rig.shutdown().await;
}
