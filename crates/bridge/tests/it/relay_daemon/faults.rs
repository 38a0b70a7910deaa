//! Upstream trouble: 503s, latency, dropped connections, a restart. The
//! simulator's per-tool counters are the ground truth: every call the agent
//! saw succeed ran exactly once, and no call ran twice.

use std::time::Duration;

use bridge::events::Outcome;
use coder_sim::Era;
use futures::future::join_all;
use serde_json::json;

use super::harness::{Harness, bounded, params, text_of};

const TOOL: &str = "coder_list_templates";
const INTERRUPTED: &str = "may or may not have run";

fn ran(h: &Harness, tool: &str) -> u64 {
    h.sim
        .counters()
        .calls_by_tool
        .get(tool)
        .copied()
        .unwrap_or(0)
}

async fn faults_lose_and_duplicate_nothing(era: Era) {
    let mut h = Harness::start(era).await;
    let client = h.client("cursor").await;
    bounded("warm up", client.list_all_tools())
        .await
        .expect("tools");

    let faults = h.sim.faults();
    faults.set_latency(Duration::from_millis(10));
    faults.fail_every_nth(Some(4));
    faults.drop_every_nth(Some(7));

    const CALLS: usize = 24;
    let mut ok = 0u64;
    let mut interrupted = 0u64;
    let mut unavailable = 0u64;
    for batch in 0..(CALLS / 6) {
        let calls = (0..6).map(|_| client.call_tool(params(TOOL, json!({}))));
        let results = bounded("a batch of calls", join_all(calls)).await;
        for (i, result) in results.into_iter().enumerate() {
            let result = result.unwrap_or_else(|e| panic!("call {batch}/{i}: {e}"));
            let text = text_of(&result);
            if result.is_error != Some(true) {
                ok += 1;
            } else if text.contains(INTERRUPTED) {
                interrupted += 1;
            } else if text.contains("unreachable") {
                unavailable += 1;
            } else {
                panic!("unexpected tool error: {text}");
            }
        }
    }
    faults.fail_every_nth(None);
    faults.drop_every_nth(None);
    faults.set_latency(Duration::ZERO);

    assert_eq!(ok + interrupted + unavailable, CALLS as u64);
    assert!(
        ok >= (CALLS as u64) / 2,
        "ok={ok} interrupted={interrupted} unavailable={unavailable}"
    );
    // The simulator drops and 503s before running anything, so what ran is
    // exactly what the agent saw succeed: nothing lost, nothing twice.
    assert_eq!(
        ran(&h, TOOL),
        ok,
        "ok={ok} interrupted={interrupted} unavailable={unavailable}"
    );

    let mut call_events = 0;
    while let Ok(event) = h.events.try_recv() {
        if event.method == "tools/call" {
            call_events += 1;
            assert!(event.outcome == Outcome::Ok || event.outcome == Outcome::Failed);
        }
    }
    assert_eq!(call_events, CALLS, "one event per call");

    // And the connection is healthy afterwards.
    let after = bounded(
        "call after faults",
        client.call_tool(params(TOOL, json!({}))),
    )
    .await
    .expect("call");
    assert_ne!(after.is_error, Some(true), "{}", text_of(&after));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_era_faults_lose_and_duplicate_nothing() {
    faults_lose_and_duplicate_nothing(Era::Stateless).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_era_faults_lose_and_duplicate_nothing() {
    faults_lose_and_duplicate_nothing(Era::Sessions).await;
}

async fn a_dropped_call_is_reported_not_resent(era: Era) {
    let mut h = Harness::start(era).await;
    let client = h.client("cursor").await;
    bounded("warm up", client.list_all_tools())
        .await
        .expect("tools");

    h.sim.faults().drop_next(1);
    let result = bounded("dropped call", client.call_tool(params(TOOL, json!({}))))
        .await
        .expect("a tool result, not a protocol error");
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains(INTERRUPTED),
        "{}",
        text_of(&result)
    );
    assert_eq!(ran(&h, TOOL), 0, "never re-sent");
    let event = h.next_event("tools/call").await;
    assert_eq!(event.outcome, Outcome::Failed);
    assert!(event.error.unwrap_or_default().contains(INTERRUPTED));

    // An idempotent request is simply retried.
    h.sim.faults().drop_next(1);
    let prompts = bounded("dropped list", client.list_all_prompts())
        .await
        .expect("retried transparently");
    assert!(!prompts.is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_era_dropped_call_is_reported_not_resent() {
    a_dropped_call_is_reported_not_resent(Era::Stateless).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_era_dropped_call_is_reported_not_resent() {
    a_dropped_call_is_reported_not_resent(Era::Sessions).await;
}

async fn upstream_restart_is_invisible(era: Era) {
    let mut h = Harness::start(era).await;
    let client = h.client("cursor").await;
    let first = bounded("before restart", client.call_tool(params(TOOL, json!({}))))
        .await
        .expect("call");
    assert_ne!(first.is_error, Some(true));

    // A call made while Coder is down waits for it to come back. (A call
    // already in flight when Coder stops is a different story: it may have
    // run, so it is reported, never re-sent — see the fault tests.)
    let peer = client.peer().clone();
    let mut during = None;
    h.restart_sim(async {
        during = Some(tokio::spawn(async move {
            peer.call_tool(params(TOOL, json!({}))).await
        }));
        tokio::time::sleep(Duration::from_millis(700)).await;
    })
    .await;
    let during = during.expect("the call was started");
    let during = bounded("call across the restart", during)
        .await
        .expect("task")
        .expect("call");
    assert_ne!(during.is_error, Some(true), "{}", text_of(&during));

    let after = bounded("after restart", client.call_tool(params(TOOL, json!({}))))
        .await
        .expect("the same agent session keeps working");
    assert_ne!(after.is_error, Some(true), "{}", text_of(&after));
    assert_eq!(
        ran(&h, TOOL),
        2,
        "the restarted deployment ran both calls once"
    );
    assert_eq!(h.daemon.relay().state().status.as_str(), "connected");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_era_upstream_restart_is_invisible() {
    upstream_restart_is_invisible(Era::Stateless).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_era_upstream_restart_is_invisible() {
    upstream_restart_is_invisible(Era::Sessions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_mcp_endpoint_fails_fast_with_what_the_admin_must_enable() {
    let h = Harness::start(Era::Stateless).await;
    let client = h.client("cursor").await;
    bounded("warm up", client.list_all_tools())
        .await
        .expect("tools");
    h.sim.faults().set_provider_enabled(false);

    let started = std::time::Instant::now();
    let result = bounded("call", client.call_tool(params(TOOL, json!({}))))
        .await
        .expect("a tool result");
    assert_eq!(result.is_error, Some(true));
    let text = text_of(&result);
    assert!(text.contains("mcp-server-http"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no retrying what cannot work: {:?}",
        started.elapsed()
    );
    assert_eq!(ran(&h, TOOL), 0);

    let err = bounded("prompts", client.list_all_prompts())
        .await
        .expect_err("JSON-RPC error");
    let rmcp::ServiceError::McpError(e) = err else {
        panic!("{err:?}");
    };
    assert_eq!(e.code, bridge::relay::UPSTREAM_UNAVAILABLE);
    assert_eq!(h.daemon.relay().state().status.as_str(), "error");
    h.shutdown().await;
}
