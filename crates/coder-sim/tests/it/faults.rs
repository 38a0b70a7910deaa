//! Fault injection, counters and restarts.

use std::time::{Duration, Instant};

use coder_sim::{Sim, SimConfig};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn latency_delays_every_request() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let url = sim.url().join("api/v2/buildinfo").expect("url");
        sim.faults().set_latency(Duration::from_millis(300));
        let started = Instant::now();
        let info: Value = http()
            .get(url.clone())
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(info["version"].is_string());
        sim.faults().set_latency(Duration::ZERO);
        let started = Instant::now();
        http().get(url).send().await.expect("get");
        assert!(started.elapsed() < Duration::from_millis(300));
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn every_nth_mcp_request_fails_with_503_and_is_not_counted_as_a_call() {
    within(async {
        let sim = start(SimConfig::default()).await;
        sim.faults().fail_every_nth(Some(2));
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let response = mcp_post(
                &sim,
                &sim.session_token(),
                call_body("coder_get_authenticated_user", json!({})),
            )
            .await
            .expect("post");
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses, [200, 503, 200, 503]);
        sim.faults().fail_every_nth(None);
        let counters = sim.counters();
        assert_eq!(counters.mcp_requests, 4);
        assert_eq!(
            counters.calls_by_tool.get("coder_get_authenticated_user"),
            Some(&2)
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn dropped_connections() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let body = || call_body("coder_list_templates", json!({}));
        sim.faults().drop_next(2);
        for _ in 0..2 {
            let error = mcp_post(&sim, &sim.session_token(), body())
                .await
                .expect_err("connection dropped");
            assert!(!error.is_status(), "no HTTP response at all: {error}");
        }
        assert_eq!(
            mcp_post(&sim, &sim.session_token(), body())
                .await
                .expect("post")
                .status(),
            200
        );
        sim.faults().drop_every_nth(Some(3));
        let outcomes: Vec<bool> = {
            let mut outcomes = Vec::new();
            for _ in 0..3 {
                outcomes.push(mcp_post(&sim, &sim.session_token(), body()).await.is_ok());
            }
            outcomes
        };
        assert_eq!(outcomes, [true, true, false]);
        sim.faults().drop_every_nth(None);
        // Other routes are never dropped.
        sim.faults().drop_next(1);
        assert!(
            http()
                .get(sim.url().join("api/v2/buildinfo").expect("url"))
                .send()
                .await
                .is_ok()
        );
        let counters = sim.counters();
        assert_eq!(counters.mcp_requests, 6);
        assert_eq!(counters.calls_by_tool.get("coder_list_templates"), Some(&3));
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn forced_expiry_then_refresh_recovers() {
    within(async {
        let sim = start(SimConfig::default().auto_approve(true)).await;
        let (token, client_id, secret) = sign_in(&sim).await;
        let access = token["access_token"].as_str().expect("access").to_owned();
        let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
        let post = |t: String| {
            let request = http()
                .post(sim.mcp_url())
                .bearer_auth(t)
                .header("Accept", "application/json, text/event-stream")
                .json(&list);
            async move { request.send().await.expect("post") }
        };
        assert_eq!(post(access.clone()).await.status(), 200);
        sim.faults().expire_all_tokens();
        let expired = post(access).await;
        assert_eq!(expired.status(), 401);
        assert_eq!(
            expired.json::<Value>().await.expect("json")["detail"],
            "API key expired."
        );
        // Session tokens are not OAuth2 access tokens: they keep working.
        assert_eq!(
            mcp_post(&sim, &sim.session_token(), list.clone())
                .await
                .expect("post")
                .status(),
            200
        );
        let refreshed: Value = refresh(
            &sim,
            &client_id,
            &secret,
            token["refresh_token"].as_str().expect("r"),
        )
        .await
        .json()
        .await
        .expect("json");
        assert_eq!(
            post(refreshed["access_token"].as_str().expect("new").to_owned())
                .await
                .status(),
            200
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn short_access_lifetime_expires() {
    within(async {
        let sim = start(
            SimConfig::default()
                .auto_approve(true)
                .access_token_lifetime(Duration::from_secs(1)),
        )
        .await;
        let (token, _, _) = sign_in(&sim).await;
        assert!(token["expires_in"].as_i64().expect("expires_in") <= 1);
        // Refused as soon as the second is up: look until it is.
        let access = token["access_token"].as_str().expect("access");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let me = http()
                .get(sim.url().join("api/v2/users/me").expect("url"))
                .bearer_auth(access)
                .send()
                .await
                .expect("me");
            if me.status() == 401 {
                break;
            }
            assert_eq!(me.status(), 200, "a live token works until it expires");
            assert!(
                tokio::time::Instant::now() < deadline,
                "the token never expired"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn restart_on_the_same_port_keeps_session_token() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let port = sim.url().port().expect("port");
        let token = sim.session_token();
        sim.shutdown().await;
        let again = Sim::start_on(port, SimConfig::default())
            .await
            .expect("restart on the same port");
        assert_eq!(again.url().port(), Some(port));
        let response = mcp_post(
            &again,
            &token,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await
        .expect("post");
        assert_eq!(response.status(), 200);
        assert_eq!(again.counters().mcp_requests, 1, "state is fresh");
        again.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    within(async {
        let sim = start(SimConfig::default()).await;
        sim.faults().set_latency(Duration::from_millis(200));
        let url = sim.url().join("api/v2/buildinfo").expect("url");
        let in_flight =
            tokio::spawn(async move { http().get(url).send().await.map(|r| r.status()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let port = sim.url().port().expect("port");
        sim.shutdown().await;
        assert_eq!(
            in_flight.await.expect("task").expect("answered").as_u16(),
            200
        );
        let refused = http()
            .get(format!("http://127.0.0.1:{port}/api/v2/buildinfo"))
            .send()
            .await;
        assert!(refused.is_err(), "nothing listens after shutdown");
    })
    .await;
}
