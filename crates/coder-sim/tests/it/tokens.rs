//! Token endpoint rules: rotation, one live token, audience, strictness,
//! public clients and revocation.

use coder_sim::SimConfig;
use serde_json::Value;

use crate::support::*;

fn auto() -> SimConfig {
    SimConfig::default().auto_approve(true)
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_is_rejected() {
    within(async {
        let sim = start(auto()).await;
        let (token, client_id, secret) = sign_in(&sim).await;
        let old_access = token["access_token"].as_str().expect("access");
        let old_refresh = token["refresh_token"].as_str().expect("refresh");
        let first = refresh(&sim, &client_id, &secret, old_refresh).await;
        assert_eq!(first.status(), 200);
        let first: Value = first.json().await.expect("json");
        assert_ne!(first["refresh_token"], old_refresh, "rotated");
        let me = |t: String| {
            let url = sim.url().join("api/v2/users/me").expect("url");
            async move {
                http()
                    .get(url)
                    .bearer_auth(t)
                    .send()
                    .await
                    .expect("me")
                    .status()
            }
        };
        assert_eq!(me(old_access.to_owned()).await, 401, "the old key is gone");
        assert_eq!(
            me(first["access_token"].as_str().expect("new").to_owned()).await,
            200
        );
        let reused = refresh(&sim, &client_id, &secret, old_refresh).await;
        assert_eq!(reused.status(), 400);
        assert_eq!(
            reused.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );
        let counters = sim.counters();
        assert_eq!((counters.refreshes, counters.failed_refreshes), (1, 1));
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn one_live_token_per_user_and_app() {
    within(async {
        let sim = start(auto()).await;
        let (first, client_id, secret) = sign_in(&sim).await;
        let resource = resource(&sim).await;
        let (code, verifier) = authorize(&sim, &client_id, &resource).await;
        let second: Value = exchange(&sim, &client_id, &secret, &code, &verifier, &resource)
            .await
            .json()
            .await
            .expect("json");
        let status = |t: &str| {
            let request = http()
                .get(sim.url().join("api/v2/users/me").expect("url"))
                .bearer_auth(t);
            async move { request.send().await.expect("me").status() }
        };
        assert_eq!(
            status(first["access_token"].as_str().expect("a")).await,
            401
        );
        assert_eq!(
            status(second["access_token"].as_str().expect("b")).await,
            200
        );
        let stale = refresh(
            &sim,
            &client_id,
            &secret,
            first["refresh_token"].as_str().expect("r"),
        )
        .await;
        assert_eq!(
            stale.status(),
            400,
            "the earlier refresh token died with its key"
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn wrong_audience_is_forbidden() {
    within(async {
        let sim = start(auto()).await;
        let (client_id, secret) = sim.register_app("App", &[CALLBACK], true);
        let secret = secret.expect("secret");
        // The classic mistake: the MCP URL as the resource.
        let mcp = sim.mcp_url().to_string();
        let (code, verifier) = authorize(&sim, &client_id, &mcp).await;
        let token: Value = exchange(&sim, &client_id, &secret, &code, &verifier, &mcp)
            .await
            .json()
            .await
            .expect("json");
        let access = token["access_token"].as_str().expect("access");
        let response = http()
            .post(sim.mcp_url())
            .bearer_auth(access)
            .header("Accept", "application/json, text/event-stream")
            .json(&serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
            .send()
            .await
            .expect("mcp");
        assert_eq!(response.status(), 403);
        let challenge = response
            .headers()
            .get("www-authenticate")
            .expect("challenge")
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["message"], "Token audience validation failed");
        // A resource that differs from the code's is an invalid target.
        let resource = resource(&sim).await;
        let (code, verifier) = authorize(&sim, &client_id, &resource).await;
        let mismatch = exchange(&sim, &client_id, &secret, &code, &verifier, &mcp).await;
        assert_eq!(
            mismatch.json::<Value>().await.expect("json")["error"],
            "invalid_target"
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn token_endpoint_is_strict() {
    within(async {
        let sim = start(auto()).await;
        let (token, client_id, secret) = sign_in(&sim).await;
        let refresh_token = token["refresh_token"].as_str().expect("refresh");
        let url = sim.url().join("oauth2/tokens").expect("url");
        let error = |response: reqwest::Response| async move {
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.expect("json")["error"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        let extra = http()
            .post(url.clone())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", &client_id),
                ("client_secret", &secret),
                ("scope", "all"),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(error(extra).await, (400, "invalid_request".into()));
        let json = http()
            .post(url.clone())
            .json(&serde_json::json!({"grant_type": "refresh_token"}))
            .send()
            .await
            .expect("post");
        assert_eq!(error(json).await, (400, "invalid_request".into()));
        let grant = http()
            .post(url.clone())
            .form(&[("grant_type", "password")])
            .send()
            .await
            .expect("post");
        assert_eq!(error(grant).await, (400, "unsupported_grant_type".into()));
        let wrong = http()
            .post(url.clone())
            .basic_auth(&client_id, Some("coder_nope_nope"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(error(wrong).await, (401, "invalid_client".into()));
        let missing = http()
            .post(url.clone())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", &client_id),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(error(missing).await, (401, "invalid_client".into()));
        // None of the refused requests consumed the refresh token.
        assert_eq!(
            refresh(&sim, &client_id, &secret, refresh_token)
                .await
                .status(),
            200
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn public_clients_use_no_secret() {
    within(async {
        let sim = start(auto()).await;
        let (client_id, secret) = sim.register_app("Public", &[CALLBACK], false);
        assert!(secret.is_none());
        let resource = resource(&sim).await;
        let (code, verifier) = authorize(&sim, &client_id, &resource).await;
        let response = http()
            .post(sim.url().join("oauth2/tokens").expect("url"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
                ("resource", &resource),
                ("client_id", &client_id),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200);
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn revoke_answers_200_and_revokes() {
    within(async {
        let sim = start(auto()).await;
        let (token, client_id, _) = sign_in(&sim).await;
        let access = token["access_token"].as_str().expect("access");
        let revoke = |t: String, hint: &'static str| {
            let request = http()
                .post(sim.url().join("oauth2/revoke").expect("url"))
                .form(&[
                    ("token", t.as_str()),
                    ("token_type_hint", hint),
                    ("client_id", client_id.as_str()),
                ]);
            async move { request.send().await.expect("revoke").status() }
        };
        assert_eq!(
            revoke(
                token["refresh_token"].as_str().expect("r").to_owned(),
                "refresh_token"
            )
            .await,
            200
        );
        assert_eq!(
            revoke("coder_unknown_token".to_owned(), "refresh_token").await,
            200
        );
        let me = http()
            .get(sim.url().join("api/v2/users/me").expect("url"))
            .bearer_auth(access)
            .send()
            .await
            .expect("me");
        assert_eq!(
            me.status(),
            401,
            "revoking the refresh token deletes its key"
        );
        let revocations = sim.counters().revocations;
        assert_eq!(revocations.len(), 2);
        assert!(revocations[0].revoked && !revocations[1].revoked);
        assert_eq!(revocations[0].client_id, client_id);
        sim.shutdown().await;
    })
    .await;
}
