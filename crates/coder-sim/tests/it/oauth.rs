//! Discovery, authorize (parameters, PKCE, consent) and the provider switch.

use coder_sim::{Sim, SimConfig};
use serde_json::Value;

use crate::support::*;

fn auto() -> SimConfig {
    SimConfig::default().auto_approve(true)
}

async fn get_status_and_body(url: url::Url) -> (u16, String) {
    let response = http().get(url).send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[tokio::test]
async fn discovery_matches_coder() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let access = sim.url().as_str().trim_end_matches('/').to_owned();
        for path in [
            ".well-known/oauth-protected-resource",
            ".well-known/oauth-protected-resource/api/experimental/mcp/http",
        ] {
            let prm: Value = http()
                .get(sim.url().join(path).expect("url"))
                .send()
                .await
                .expect("prm")
                .json()
                .await
                .expect("json");
            assert_eq!(
                prm["resource"],
                access.as_str(),
                "resource is the access URL, not the MCP URL"
            );
            assert_eq!(prm["authorization_servers"], serde_json::json!([access]));
            assert_eq!(
                prm["bearer_methods_supported"],
                serde_json::json!(["header", "query"])
            );
        }
        let asm: Value = http()
            .get(
                sim.url()
                    .join(".well-known/oauth-authorization-server/anything")
                    .expect("url"),
            )
            .send()
            .await
            .expect("asm")
            .json()
            .await
            .expect("json");
        assert_eq!(asm["issuer"], access.as_str());
        assert_eq!(
            asm["authorization_endpoint"],
            format!("{access}/oauth2/authorize")
        );
        assert_eq!(asm["token_endpoint"], format!("{access}/oauth2/tokens"));
        assert_eq!(
            asm["revocation_endpoint"],
            format!("{access}/oauth2/revoke")
        );
        assert_eq!(
            asm["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            asm["grant_types_supported"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(
            asm["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
        );
        assert!(
            asm.get("registration_endpoint").is_none(),
            "DCR is off by default"
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn extra_authorize_parameter_is_rejected() {
    within(async {
        let sim = start(auto()).await;
        let (client_id, _) = sim.register_app("App", &[CALLBACK], true);
        let (_, challenge) = pkce();
        let resource = resource(&sim).await;
        let mut params = standard_params(&client_id, CALLBACK, &challenge, &resource);
        params.push(("prompt", "consent"));
        let (status, body) = get_status_and_body(authorize_url(&sim, &params)).await;
        assert_eq!(status, 400);
        assert!(
            body.contains("Unknown parameter") && body.contains("prompt"),
            "{body}"
        );
        assert_eq!(sim.counters().authorizations, 0);
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn only_s256_pkce_is_accepted() {
    within(async {
        let sim = start(auto()).await;
        let (client_id, _) = sim.register_app("App", &[CALLBACK], true);
        let resource = resource(&sim).await;
        let (_, challenge) = pkce();
        for (method, short) in [("plain", false), ("S256", true)] {
            let mut params = standard_params(&client_id, CALLBACK, &challenge, &resource);
            params.retain(|(k, _)| {
                *k != "code_challenge_method" && (!short || *k != "code_challenge")
            });
            params.push(("code_challenge_method", method));
            if short {
                params.push(("code_challenge", "too-short"));
            }
            let response = http()
                .get(authorize_url(&sim, &params))
                .send()
                .await
                .expect("authorize");
            assert_eq!(
                response.status(),
                302,
                "errors go back to a trusted callback"
            );
            let back = location(&response);
            assert_eq!(
                query_param(&back, "error").as_deref(),
                Some("invalid_request"),
                "{method}"
            );
            assert_eq!(query_param(&back, "state").as_deref(), Some("st4te"));
            assert!(query_param(&back, "code").is_none());
        }
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn full_code_flow_with_pkce() {
    within(async {
        let sim = start(auto()).await;
        let (token, client_id, secret) = sign_in(&sim).await;
        let access = token["access_token"].as_str().expect("access token");
        let (id, key) = access.split_once('-').expect("api key shape");
        assert_eq!((id.len(), key.len()), (10, 22));
        assert_eq!(token["token_type"], "Bearer");
        assert!(
            token["refresh_token"]
                .as_str()
                .expect("refresh")
                .starts_with("coder_")
        );
        let expires_in = token["expires_in"].as_i64().expect("expires_in");
        assert!(
            (86_000..=86_400).contains(&expires_in),
            "24 h by default, got {expires_in}"
        );
        assert!(token["expiry"].as_str().is_some());
        let me: Value = http()
            .get(sim.url().join("api/v2/users/me").expect("url"))
            .bearer_auth(access)
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["username"], "demo");
        // A code is single-use.
        let resource = resource(&sim).await;
        let (code, verifier) = authorize(&sim, &client_id, &resource).await;
        assert_eq!(
            exchange(&sim, &client_id, &secret, &code, &verifier, &resource)
                .await
                .status(),
            200
        );
        let again = exchange(&sim, &client_id, &secret, &code, &verifier, &resource).await;
        assert_eq!(again.status(), 400);
        let again: Value = again.json().await.expect("json");
        assert_eq!(again["error"], "invalid_grant");
        // A wrong verifier fails.
        let (code, _) = authorize(&sim, &client_id, &resource).await;
        let (other_verifier, _) = pkce();
        let wrong = exchange(&sim, &client_id, &secret, &code, &other_verifier, &resource).await;
        assert_eq!(wrong.status(), 400);
        let counters = sim.counters();
        assert_eq!((counters.authorizations, counters.token_grants), (3, 2));
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn consent_page_allow_and_cancel() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let (client_id, _) = sim.register_app("Consent <App>", &[CALLBACK], true);
        let resource = resource(&sim).await;
        for (action, expect_code) in [("allow", true), ("cancel", false)] {
            let (_, challenge) = pkce();
            let url = authorize_url(
                &sim,
                &standard_params(&client_id, CALLBACK, &challenge, &resource),
            );
            let page = http().get(url.clone()).send().await.expect("consent page");
            assert_eq!(page.status(), 200);
            let cookie = page
                .headers()
                .get("set-cookie")
                .expect("csrf cookie")
                .to_str()
                .expect("ascii")
                .to_owned();
            let cookie = cookie.split(';').next().expect("cookie pair").to_owned();
            let html = page.text().await.expect("html");
            assert!(
                html.contains("Consent &lt;App&gt;"),
                "app name shown, escaped"
            );
            assert!(html.contains("Allow") && html.contains("Cancel"));
            let csrf = html
                .split("name=\"csrf_token\" value=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .expect("csrf field")
                .to_owned();
            // Without the cookie the form is refused.
            let forged = http()
                .post(url.clone())
                .form(&[("csrf_token", csrf.as_str()), ("action", action)])
                .send()
                .await
                .expect("post");
            assert_eq!(forged.status(), 403);
            // A fresh page and its cookie, submitted together, work.
            let page = http().get(url.clone()).send().await.expect("consent page");
            let cookie2 = page
                .headers()
                .get("set-cookie")
                .expect("csrf cookie")
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair")
                .to_owned();
            let html = page.text().await.expect("html");
            let csrf2 = html
                .split("name=\"csrf_token\" value=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .expect("csrf")
                .to_owned();
            assert_ne!(cookie, cookie2);
            let response = http()
                .post(url)
                .header("Cookie", cookie2)
                .form(&[("csrf_token", csrf2.as_str()), ("action", action)])
                .send()
                .await
                .expect("post");
            assert_eq!(response.status(), 302);
            let back = location(&response);
            assert_eq!(query_param(&back, "state").as_deref(), Some("st4te"));
            if expect_code {
                assert!(
                    query_param(&back, "code")
                        .expect("code")
                        .starts_with("coder_")
                );
            } else {
                assert_eq!(
                    query_param(&back, "error").as_deref(),
                    Some("access_denied")
                );
            }
        }
        assert_eq!(sim.counters().authorizations, 1);
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn provider_switch_hides_routes() {
    within(async {
        let sim: Sim = start(SimConfig::default()).await;
        sim.faults().set_provider_enabled(false);
        for url in [
            sim.mcp_url(),
            sim.url()
                .join(".well-known/oauth-authorization-server")
                .expect("url"),
        ] {
            let response = http()
                .get(url)
                .header("Coder-Session-Token", sim.session_token())
                .send()
                .await
                .expect("get");
            assert_eq!(response.status(), 404);
            assert_eq!(
                response.json::<Value>().await.expect("json"),
                serde_json::json!({"message": "Route not found."})
            );
        }
        sim.faults().set_provider_enabled(true);
        let (status, _) = get_status_and_body(
            sim.url()
                .join(".well-known/oauth-authorization-server")
                .expect("url"),
        )
        .await;
        assert_eq!(status, 200);
        sim.shutdown().await;
    })
    .await;
}
