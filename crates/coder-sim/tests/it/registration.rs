//! Dynamic client registration (and its switch) and redirect matching.

use coder_sim::{RedirectMode, SimConfig};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn registration_disabled_is_absent_and_404() {
    within(async {
        let sim = start(SimConfig::default()).await;
        let register = sim.url().join("oauth2/register").expect("url");
        let body = json!({"redirect_uris": [CALLBACK], "client_name": "x"});
        let response = http()
            .post(register.clone())
            .json(&body)
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.json::<Value>().await.expect("json")["message"],
            "Route not found."
        );
        // Switched on at run time: discovery names it and it works.
        sim.faults().set_dcr_enabled(true);
        let asm: Value = http()
            .get(
                sim.url()
                    .join(".well-known/oauth-authorization-server")
                    .expect("url"),
            )
            .send()
            .await
            .expect("asm")
            .json()
            .await
            .expect("json");
        assert_eq!(asm["registration_endpoint"], register.as_str());
        assert_eq!(
            http()
                .post(register)
                .json(&body)
                .send()
                .await
                .expect("register")
                .status(),
            201
        );
        assert_eq!(sim.counters().registrations, 1);
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn dynamic_registration_and_rfc7592_management() {
    within(async {
        let sim = start(SimConfig::default().dcr(true).auto_approve(true)).await;
        let register = sim.url().join("oauth2/register").expect("url");
        let created = http()
            .post(register.clone())
            .json(&json!({"redirect_uris": [CALLBACK], "client_name": "Bridge", "extra_member": true}))
            .send().await.expect("register");
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.expect("json");
        let client_id = created["client_id"].as_str().expect("client_id");
        assert!(uuid::Uuid::parse_str(client_id).is_ok());
        let secret = created["client_secret"].as_str().expect("secret");
        let parts: Vec<&str> = secret.split('_').collect();
        assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("coder", 10, 40));
        assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(created["redirect_uris"], json!([CALLBACK]));
        let management = created["registration_client_uri"].as_str().expect("uri");
        assert_eq!(management, sim.url().join(&format!("oauth2/clients/{client_id}")).expect("url").as_str());
        let reg_token = created["registration_access_token"].as_str().expect("reg token");

        // The registered client can sign in.
        let resource = resource(&sim).await;
        let (code, verifier) = authorize(&sim, client_id, &resource).await;
        assert_eq!(exchange(&sim, client_id, secret, &code, &verifier, &resource).await.status(), 200);

        let read = http().get(management).bearer_auth(reg_token).send().await.expect("read");
        assert_eq!(read.status(), 200);
        assert_eq!(read.json::<Value>().await.expect("json")["client_name"], "Bridge");
        assert_eq!(http().get(management).send().await.expect("read").status(), 401);
        assert_eq!(http().get(management).bearer_auth("coder_wrong_token").send().await.expect("read").status(), 401);
        let updated = http()
            .put(management)
            .bearer_auth(reg_token)
            .json(&json!({"redirect_uris": ["http://127.0.0.1:9999/cb"], "client_name": "Renamed"}))
            .send().await.expect("update");
        assert_eq!(updated.status(), 200);
        assert_eq!(updated.json::<Value>().await.expect("json")["redirect_uris"], json!(["http://127.0.0.1:9999/cb"]));
        assert_eq!(http().delete(management).bearer_auth(reg_token).send().await.expect("delete").status(), 204);
        assert_eq!(http().get(management).bearer_auth(reg_token).send().await.expect("read").status(), 401);

        // Public clients get no secret.
        let public: Value = http()
            .post(register)
            .json(&json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}))
            .send().await.expect("register").json().await.expect("json");
        assert!(public.get("client_secret").is_none());
        assert_eq!(public["token_endpoint_auth_method"], "none");
        sim.shutdown().await;
    })
    .await;
}

async fn authorize_status(sim: &coder_sim::Sim, client_id: &str, redirect: &str) -> u16 {
    let (_, challenge) = pkce();
    let params = standard_params(client_id, redirect, &challenge, "");
    let params: Vec<_> = params
        .into_iter()
        .filter(|(k, _)| *k != "resource")
        .collect();
    http()
        .get(authorize_url(sim, &params))
        .send()
        .await
        .expect("authorize")
        .status()
        .as_u16()
}

#[tokio::test]
async fn redirect_matching_legacy() {
    within(async {
        let sim = start(
            SimConfig::default()
                .auto_approve(true)
                .redirect_mode(RedirectMode::Legacy),
        )
        .await;
        let (id, _) = sim.register_app(
            "Legacy",
            &["http://127.0.0.1:5000/cb", "http://127.0.0.1:6000/other"],
            true,
        );
        assert_eq!(
            authorize_status(&sim, &id, "http://127.0.0.1:5000/cb").await,
            302
        );
        assert_eq!(
            authorize_status(&sim, &id, "http://127.0.0.1:5000/cb/deeper").await,
            302,
            "path prefix"
        );
        assert_eq!(
            authorize_status(&sim, &id, "http://127.0.0.1:5001/cb").await,
            400,
            "port must match"
        );
        assert_eq!(
            authorize_status(&sim, &id, "http://127.0.0.1:6000/other").await,
            400,
            "only the first URI counts"
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn redirect_matching_loopback_any_port() {
    within(async {
        let sim = start(
            SimConfig::default()
                .auto_approve(true)
                .redirect_mode(RedirectMode::LoopbackAnyPort),
        )
        .await;
        let (id, _) = sim.register_app(
            "Newest",
            &["http://127.0.0.1:5000/cb", "https://app.example.com/cb"],
            true,
        );
        assert_eq!(
            authorize_status(&sim, &id, "http://127.0.0.1:5000/cb").await,
            302
        );
        assert_eq!(
            authorize_status(&sim, &id, "http://127.0.0.1:61234/cb").await,
            302,
            "any loopback port"
        );
        assert_eq!(
            authorize_status(&sim, &id, "http://127.0.0.1:5000/cb/deeper").await,
            400,
            "exact path"
        );
        assert_eq!(
            authorize_status(&sim, &id, "https://app.example.com/cb").await,
            302,
            "any registered URI"
        );
        assert_eq!(
            authorize_status(&sim, &id, "https://app.example.com:8443/cb").await,
            400,
            "non-loopback ports are exact"
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn older_deployments_always_issue_a_secret() {
    within(async {
        let sim = start(
            SimConfig::default()
                .dcr(true)
                .auto_approve(true)
                .public_clients(false),
        )
        .await;
        let asm: Value = http()
            .get(
                sim.url()
                    .join(".well-known/oauth-authorization-server")
                    .expect("url"),
            )
            .send()
            .await
            .expect("asm")
            .json()
            .await
            .expect("json");
        assert_eq!(
            asm["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        let created: Value = http()
            .post(sim.url().join("oauth2/register").expect("url"))
            .json(&json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        let client_id = created["client_id"].as_str().expect("id");
        let secret = created["client_secret"]
            .as_str()
            .expect("a secret although none was asked for");
        let resource = resource(&sim).await;
        let (code, verifier) = authorize(&sim, client_id, &resource).await;
        let without_secret = http()
            .post(sim.url().join("oauth2/tokens").expect("url"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
                ("client_id", client_id),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(without_secret.status(), 401);
        let (code, verifier) = authorize(&sim, client_id, &resource).await;
        assert_eq!(
            exchange(&sim, client_id, secret, &code, &verifier, &resource)
                .await
                .status(),
            200
        );
        sim.shutdown().await;
    })
    .await;
}
