//! Secrets never leak: a bridge that signs in (browser flow), has its tokens
//! refreshed, relays calls from agents and signs out, with every log line at
//! TRACE captured. Afterwards no access token, refresh token, client secret
//! or authorization code appears in the logs, the activity database file or
//! any control API answer.

use std::collections::BTreeSet;

use std::time::Duration;

use bridge::relay::RelayOptions;
use coder_sim::SimConfig;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

use crate::support::rig::{Rig, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_activity_or_the_control_api() {
    let logs = crate::support::logs::captured();

    let rig = Rig::start(
        SimConfig::default().access_token_lifetime(Duration::from_secs(3)),
        RelayOptions::default(),
    )
    .await;
    let mut secrets = BTreeSet::new();
    rig.sign_in().await;
    secrets.extend(rig.stored_secrets().into_iter().map(|(_, v)| v));

    let agent = rig.agent("cursor").await;
    // Calls that carry a secret-looking argument too (redacted in activity).
    for round in 0..6 {
        for tool in ["coder_get_authenticated_user", "coder_list_workspaces"] {
            let result = within("call", agent.call_tool(CallToolRequestParams::new(tool)))
                .await
                .expect("call");
            assert_ne!(result.is_error, Some(true), "{result:?}");
        }
        if round == 2 {
            // Force a refresh on the next call as well as the timed ones.
            rig.sim.faults().expire_all_tokens();
        }
        secrets.extend(rig.stored_secrets().into_iter().map(|(_, v)| v));
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert!(rig.sim.counters().refreshes >= 1, "tokens were refreshed");

    // Look at everything the control API offers.
    for path in [
        "/api/status",
        "/api/agents",
        "/api/policy",
        "/api/consent",
        "/api/activity",
        "/api/activity/stats",
        "/api/agents/cursor/entry",
    ] {
        let (status, body) = rig.api(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, body) = rig
        .api(reqwest::Method::POST, "/api/signout", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, status_after) = rig.api(reqwest::Method::GET, "/api/status", None).await;
    within("agent close", agent.cancel()).await.ok();
    let codes = rig.codes.lock().expect("codes").clone();
    let bodies = rig.bodies.lock().expect("bodies").join("\n");
    assert!(
        !codes.is_empty(),
        "the browser carried an authorization code"
    );
    secrets.extend(codes);
    // Sign-out deletes the session's tokens; only the client registration
    // (kept so the next sign-in does not register again) stays.
    let left = rig.stored_secrets();
    assert!(
        left.iter()
            .all(|(k, _)| !k.ends_with("#access_token") && !k.ends_with("#refresh_token")),
        "tokens left after sign-out: {:?}",
        left.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert!(status_after.to_string().contains("false"), "{status_after}");

    let tmp = rig.shutdown().await;
    let db = std::fs::read(tmp.path().join("data").join(bridge::activity::FILE_NAME))
        .expect("the activity database exists");
    // The WAL too, should the last writes still be in it.
    let wal = std::fs::read(
        tmp.path()
            .join("data")
            .join(format!("{}-wal", bridge::activity::FILE_NAME)),
    )
    .unwrap_or_default();
    let log = crate::support::logs::text(&logs);
    assert!(
        log.len() > 10_000,
        "TRACE logging captured the run ({} bytes)",
        log.len()
    );
    assert!(
        secrets.len() >= 4,
        "collected the secrets to look for: {}",
        secrets.len()
    );

    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    for secret in &secrets {
        // Client ids are not secret; everything stored in the secrets file is.
        assert!(secret.len() >= 16, "a short secret would match by chance");
        let shown = format!("…{}", &secret[secret.len() - 4..]);
        assert!(
            !log.contains(secret.as_str()),
            "a secret ({shown}) is in the logs"
        );
        assert!(
            !contains(&db, secret),
            "a secret ({shown}) is in the activity database"
        );
        assert!(
            !contains(&wal, secret),
            "a secret ({shown}) is in the activity WAL"
        );
        assert!(
            !bodies.contains(secret.as_str()),
            "a secret ({shown}) is in a control API answer"
        );
    }
}
